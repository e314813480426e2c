// OpenAI's knowledge API, so that the openai SDK's code runs unchanged against keel:
// /v1/files (upload as multipart/form-data, list, retrieve, content, delete) and
// /v1/vector_stores (create, list, retrieve, delete; files add, list, retrieve, remove; search).
// Shapes follow the SDK's TypeScript types (openai/resources/files.d.ts,
// openai/resources/vector-stores/*.d.ts). The state is knowledge::VectorStores; every object
// is visible only to the API key that created it, as stored responses are.
#include <algorithm>

#include "api/json_util.h"
#include "core/text.h"
#include "http/download.h"
#include "http/multipart.h"
#include "knowledge/vector_stores.h"
#include "server/admin_query.h"
#include "server/app.h"
#include "server/auth.h"

namespace keel {
namespace {

constexpr std::string_view kJson = "application/json";

std::string owner_of(const bhttp::fields& fields) { return sha256_hex(presented_key(fields)); }

std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Error not_found(std::string_view what, const std::string& id) {
  Error error(ErrorCode::kNotFound,
              "No " + std::string(what) + " found with id '" + truncate_utf8(id, 128) + "'.");
  error.type_code = "not_found";
  return error;
}

Json file_json(const knowledge::UploadedFile& file) {
  return {{"id", file.id},
          {"object", "file"},
          {"bytes", file.bytes},
          {"created_at", file.created_at},
          {"filename", file.filename},
          {"purpose", file.purpose},
          {"status", "processed"},
          {"expires_at", nullptr},
          {"status_details", nullptr}};
}

Json store_json(const knowledge::VectorStoreRecord& store) {
  Json metadata = try_parse_json(store.metadata).value_or(Json::object());
  return {{"id", store.id},
          {"object", "vector_store"},
          {"created_at", store.created_at},
          {"name", store.name},
          {"usage_bytes", store.usage_bytes},
          {"file_counts",
           {{"in_progress", 0},
            {"completed", store.completed},
            {"failed", store.failed},
            {"cancelled", 0},
            {"total", store.completed + store.failed}}},
          {"status", "completed"},
          {"last_active_at", store.last_active_at},
          {"metadata", metadata.is_object() ? metadata : Json::object()},
          {"expires_after", nullptr},
          {"expires_at", nullptr}};
}

Json store_file_json(const knowledge::VectorStoreFileRecord& file, const KnowledgeConfig& config) {
  Json last_error = nullptr;
  if (file.status == "failed") last_error = {{"code", "invalid_file"}, {"message", file.error}};
  return {{"id", file.file_id},
          {"object", "vector_store.file"},
          {"usage_bytes", file.usage_bytes},
          {"created_at", file.created_at},
          {"vector_store_id", file.vector_store_id},
          {"status", file.status},
          {"last_error", last_error},
          {"attributes", Json::object()},
          {"chunking_strategy",
           {{"type", "static"},
            {"static",
             {{"max_chunk_size_tokens", config.chunk_tokens},
              {"chunk_overlap_tokens", config.overlap_tokens}}}}}};
}

Json list_json(Json data) {
  Json out = {{"object", "list"}, {"has_more", false}};
  out["first_id"] = data.empty() ? Json(nullptr) : data.front()["id"];
  out["last_id"] = data.empty() ? Json(nullptr) : data.back()["id"];
  out["data"] = std::move(data);
  return out;
}

std::string param_of(const RouteCall& call, size_t index) {
  if (index >= call.params.size()) return "";
  return percent_decode(call.params[index]).value_or(std::string());
}

// A request's JSON object body ("" is {}); a 400 otherwise.
Result<Json> json_body(const Request& request) {
  const std::string& body = request.message.body();
  if (body.empty()) return Json::object();
  auto json = try_parse_json(body);
  if (!json || !json->is_object()) return invalid("", "the request body must be a JSON object");
  return *json;
}

Error store_error(const Error& error) {
  if (error.code == ErrorCode::kNotFound || error.code == ErrorCode::kInvalidArgument) return error;
  return Error(ErrorCode::kInternal,
               "keel could not read or write its knowledge store: " + error.message);
}

// What a lookup (a Result of an optional, or of whether it found and deleted) answers when it
// failed or found nothing; nullopt when it found the object.
template <typename Found>
std::optional<Error> lookup_error(const Result<Found>& found, std::string_view kind,
                                  const std::string& id) {
  if (!found) return store_error(found.error());
  if (!*found) return not_found(kind, id);
  return std::nullopt;
}

}  // namespace

Task<void> App::files_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  if (stores == nullptr) {
    co_await send_error(call.response,
                        Error(ErrorCode::kNotFound, "file storage needs a `state: sqlite:PATH`"),
                        nullptr);
    co_return;
  }
  const std::string owner = owner_of(call.request.message);
  if (call.request.message.method() != bhttp::verb::post) {
    std::string purpose;
    const std::string_view target(call.request.message.target().data(),
                                  call.request.message.target().size());
    const size_t question = target.find('?');
    const std::string_view query_text =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    if (auto query = parse_query_string(query_text); query) {
      for (const auto& [key, value] : *query) {
        if (key == "purpose") purpose = value;
      }
    }
    auto files = stores->list_files(owner, purpose);
    if (!files) {
      co_await send_error(call.response, store_error(files.error()), nullptr);
      co_return;
    }
    Json data = Json::array();
    for (const auto& file : *files) data.push_back(file_json(file));
    co_await call.response.send(200, kJson, dump(list_json(std::move(data))));
    co_return;
  }
  auto boundary = multipart_boundary(call.request.header("content-type"));
  if (!boundary) {
    co_await send_error(call.response, boundary.error(), nullptr);
    co_return;
  }
  auto parts = parse_multipart(call.request.message.body(), *boundary);
  if (!parts) {
    co_await send_error(call.response, parts.error(), nullptr);
    co_return;
  }
  const MultipartPart* file = nullptr;
  std::string purpose;
  for (const auto& part : *parts) {
    if (part.name == "file" && file == nullptr) file = &part;
    if (part.name == "purpose") purpose = std::string(part.data);
  }
  if (file == nullptr) {
    co_await send_error(call.response, invalid("file", "Missing required parameter: 'file'."),
                        nullptr);
    co_return;
  }
  if (purpose.empty()) {
    co_await send_error(call.response, invalid("purpose", "Missing required parameter: 'purpose'."),
                        nullptr);
    co_return;
  }
  const std::string filename = file->filename.empty() ? "upload" : file->filename;
  auto added = stores->add_file(owner, filename, purpose, file->data);
  if (!added) {
    co_await send_error(call.response, store_error(added.error()), nullptr);
    co_return;
  }
  co_await call.response.send(200, kJson, dump(file_json(*added)));
}

Task<void> App::file_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  const std::string owner = owner_of(call.request.message);
  const std::string id = param_of(call, 0);
  if (stores == nullptr) {
    co_await send_error(call.response, not_found("file", id), nullptr);
    co_return;
  }
  if (call.request.message.method() == bhttp::verb::delete_) {
    auto deleted = stores->delete_file(owner, id);
    if (const std::optional<Error> error = lookup_error(deleted, "file", id)) {
      co_await send_error(call.response, *error, nullptr);
      co_return;
    }
    const std::string answer = dump(Json{{"id", id}, {"object", "file"}, {"deleted", true}});
    co_await call.response.send(200, kJson, answer);
    co_return;
  }
  auto found = stores->get_file(owner, id);
  if (const std::optional<Error> error = lookup_error(found, "file", id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  co_await call.response.send(200, kJson, dump(file_json(**found)));
}

Task<void> App::file_content_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  const std::string id = param_of(call, 0);
  auto content = stores ? stores->file_content(owner_of(call.request.message), id)
                        : Result<std::optional<std::string>>(std::optional<std::string>());
  if (const std::optional<Error> error = lookup_error(content, "file", id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  co_await call.response.send(200, "application/octet-stream", std::move(**content));
}

Task<void> App::vector_stores_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  const std::string why =
      stores ? stores->unavailable() : "vector stores need a `state: sqlite:PATH`";
  if (!why.empty()) {
    co_await send_error(call.response, Error(ErrorCode::kInvalidArgument, why), nullptr);
    co_return;
  }
  const std::string owner = owner_of(call.request.message);
  if (call.request.message.method() != bhttp::verb::post) {
    auto list = stores->list_stores(owner);
    if (!list) {
      co_await send_error(call.response, store_error(list.error()), nullptr);
      co_return;
    }
    Json data = Json::array();
    for (const auto& store : *list) data.push_back(store_json(store));
    co_await call.response.send(200, kJson, dump(list_json(std::move(data))));
    co_return;
  }
  auto body = json_body(call.request);
  if (!body) {
    co_await send_error(call.response, body.error(), nullptr);
    co_return;
  }
  std::string name;
  if (const Json* value = member(*body, "name"); value && !value->is_null()) {
    if (!value->is_string()) {
      co_await send_error(call.response, invalid("name", "'name' must be a string"), nullptr);
      co_return;
    }
    name = value->get<std::string>();
  }
  Json metadata = Json::object();
  if (const Json* value = member(*body, "metadata"); value && !value->is_null()) {
    if (!value->is_object()) {
      co_await send_error(call.response, invalid("metadata", "'metadata' must be an object"),
                          nullptr);
      co_return;
    }
    metadata = *value;
  }
  std::vector<std::string> file_ids;
  if (const Json* value = member(*body, "file_ids"); value && !value->is_null()) {
    if (!value->is_array() ||
        !std::all_of(value->begin(), value->end(), [](const Json& id) { return id.is_string(); })) {
      co_await send_error(call.response,
                          invalid("file_ids", "'file_ids' must be an array of strings"), nullptr);
      co_return;
    }
    for (const Json& id : *value) file_ids.push_back(id.get<std::string>());
  }
  for (const auto& file_id : file_ids) {
    auto file = stores->get_file(owner, file_id);
    if (const std::optional<Error> error = lookup_error(file, "file", file_id)) {
      co_await send_error(call.response, *error, nullptr);
      co_return;
    }
  }
  auto created = stores->create_store(owner, name, dump(metadata));
  if (!created) {
    co_await send_error(call.response, store_error(created.error()), nullptr);
    co_return;
  }
  for (const auto& file_id : file_ids) {
    auto added = co_await stores->add_file_to_store(owner, created->id, file_id,
                                                    call.response.client_gone());
    if (!added) {
      co_await send_error(call.response, store_error(added.error()), nullptr);
      co_return;
    }
  }
  auto store = stores->get_store(owner, created->id);
  if (const std::optional<Error> error = lookup_error(store, "vector store", created->id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  co_await call.response.send(200, kJson, dump(store_json(**store)));
}

Task<void> App::vector_store_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  const std::string owner = owner_of(call.request.message);
  const std::string id = param_of(call, 0);
  if (stores == nullptr) {
    co_await send_error(call.response, not_found("vector store", id), nullptr);
    co_return;
  }
  if (call.request.message.method() == bhttp::verb::delete_) {
    auto deleted = stores->delete_store(owner, id);
    if (const std::optional<Error> error = lookup_error(deleted, "vector store", id)) {
      co_await send_error(call.response, *error, nullptr);
      co_return;
    }
    const std::string answer =
        dump(Json{{"id", id}, {"object", "vector_store.deleted"}, {"deleted", true}});
    co_await call.response.send(200, kJson, answer);
    co_return;
  }
  auto found = stores->get_store(owner, id);
  if (const std::optional<Error> error = lookup_error(found, "vector store", id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  co_await call.response.send(200, kJson, dump(store_json(**found)));
}

Task<void> App::vector_store_files_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  const std::string owner = owner_of(call.request.message);
  const std::string id = param_of(call, 0);
  auto store = stores ? stores->get_store(owner, id)
                      : Result<std::optional<knowledge::VectorStoreRecord>>(std::nullopt);
  if (const std::optional<Error> error = lookup_error(store, "vector store", id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  if (call.request.message.method() != bhttp::verb::post) {
    auto files = stores->list_store_files(owner, id);
    if (!files) {
      co_await send_error(call.response, store_error(files.error()), nullptr);
      co_return;
    }
    Json data = Json::array();
    for (const auto& file : *files) data.push_back(store_file_json(file, config_.vector_stores));
    co_await call.response.send(200, kJson, dump(list_json(std::move(data))));
    co_return;
  }
  auto body = json_body(call.request);
  if (!body) {
    co_await send_error(call.response, body.error(), nullptr);
    co_return;
  }
  const Json* file_id = member(*body, "file_id");
  if (file_id == nullptr || !file_id->is_string() || file_id->get<std::string>().empty()) {
    co_await send_error(call.response, invalid("file_id", "Missing required parameter: 'file_id'."),
                        nullptr);
    co_return;
  }
  const std::string file = file_id->get<std::string>();
  const CancelPtr cancel = call.response.client_gone();
  auto added = co_await stores->add_file_to_store(owner, id, file, cancel);
  if (!added) {
    co_await send_error(call.response, store_error(added.error()), nullptr);
    co_return;
  }
  co_await call.response.send(200, kJson, dump(store_file_json(*added, config_.vector_stores)));
}

Task<void> App::vector_store_file_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  const std::string owner = owner_of(call.request.message);
  const std::string id = param_of(call, 0);
  const std::string file_id = param_of(call, 1);
  if (stores == nullptr) {
    co_await send_error(call.response, not_found("vector store", id), nullptr);
    co_return;
  }
  if (call.request.message.method() == bhttp::verb::delete_) {
    auto removed = stores->remove_store_file(owner, id, file_id);
    if (const std::optional<Error> error = lookup_error(removed, "file", file_id)) {
      co_await send_error(call.response, *error, nullptr);
      co_return;
    }
    const std::string answer =
        dump(Json{{"id", file_id}, {"object", "vector_store.file.deleted"}, {"deleted", true}});
    co_await call.response.send(200, kJson, answer);
    co_return;
  }
  auto found = stores->get_store_file(owner, id, file_id);
  if (const std::optional<Error> error = lookup_error(found, "file", file_id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  co_await call.response.send(200, kJson, dump(store_file_json(**found, config_.vector_stores)));
}

Task<void> App::vector_store_search_route(RouteCall& call) {
  auto* stores = vector_stores_.get();
  const std::string owner = owner_of(call.request.message);
  const std::string id = param_of(call, 0);
  auto body = json_body(call.request);
  if (!body) {
    co_await send_error(call.response, body.error(), nullptr);
    co_return;
  }
  std::string query;
  Json search_query = Json::array();
  if (const Json* value = member(*body, "query"); value && value->is_string()) {
    query = value->get<std::string>();
    search_query.push_back(query);
  } else if (value && value->is_array() && !value->empty() &&
             std::all_of(value->begin(), value->end(),
                         [](const Json& q) { return q.is_string(); })) {
    for (const Json& q : *value) {
      if (!query.empty()) query += ' ';
      query += q.get<std::string>();
      search_query.push_back(q);
    }
  } else {
    co_await send_error(call.response,
                        invalid("query", "'query' must be a string or an array of strings"),
                        nullptr);
    co_return;
  }
  int k = 10;
  if (const Json* value = member(*body, "max_num_results"); value && !value->is_null()) {
    if (!value->is_number_integer() || value->get<int64_t>() < 1 || value->get<int64_t>() > 50) {
      co_await send_error(
          call.response,
          invalid("max_num_results", "'max_num_results' must be an integer from 1 to 50"), nullptr);
      co_return;
    }
    k = static_cast<int>(value->get<int64_t>());
  }
  auto store = stores ? stores->get_store(owner, id)
                      : Result<std::optional<knowledge::VectorStoreRecord>>(std::nullopt);
  if (const std::optional<Error> error = lookup_error(store, "vector store", id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  auto found = co_await stores->search(owner, id, query, k, call.response.client_gone());
  if (!found) {
    co_await send_error(call.response, found.error(), nullptr);
    co_return;
  }
  Json data = Json::array();
  for (const auto& chunk : *found) {
    data.push_back(
        {{"file_id", chunk.passage.source},
         {"filename", chunk.filename},
         {"score", chunk.passage.score},
         {"attributes", Json::object()},
         {"content", Json::array({Json{{"type", "text"}, {"text", chunk.passage.text}}})}});
  }
  const std::string answer = dump(Json{{"object", "vector_store.search_results.page"},
                                       {"search_query", search_query},
                                       {"data", std::move(data)},
                                       {"has_more", false},
                                       {"next_page", nullptr}});
  co_await call.response.send(200, kJson, answer);
}

}  // namespace keel

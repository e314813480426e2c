// OpenAI's knowledge API, so that the openai SDK's code runs unchanged against keel:
// /v1/files (upload as multipart/form-data, list, retrieve, content, delete) and
// /v1/vector_stores (create, list, retrieve, delete; files add, list, retrieve, remove; search).
// Shapes follow the SDK's TypeScript types (openai/resources/files.d.ts,
// openai/resources/vector-stores/*.d.ts). The state is knowledge::VectorStores; every object
// is visible only to the API key that created it, as stored responses are.
#include <algorithm>
#include <map>

#include "api/attribute_filter.h"
#include "api/json_util.h"
#include "api/responses/responses.h"
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
using Headers = std::vector<std::pair<std::string, std::string>>;

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
           {{"in_progress", store.in_progress},
            {"completed", store.completed},
            {"failed", store.failed},
            {"cancelled", store.cancelled},
            {"total", store.completed + store.failed + store.in_progress + store.cancelled}}},
          {"status", store.in_progress > 0 ? "in_progress" : "completed"},
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
          {"attributes", try_parse_json(file.attributes).value_or(Json::object())},
          {"chunking_strategy",
           {{"type", "static"},
            {"static",
             {{"max_chunk_size_tokens", config.chunk_tokens},
              {"chunk_overlap_tokens", config.overlap_tokens}}}}}};
}

// OpenAI's /v1/files lists up to 10,000 files a page (and that many by default).
constexpr int64_t kMaxFilesPage = 10'000;

std::string_view query_of(const Request& request) {
  const std::string_view target(request.message.target().data(), request.message.target().size());
  const size_t question = target.find('?');
  return question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
}

// One page of `data` (newest first, as VectorStores lists) as OpenAI's list endpoints page:
// limit, order, after, before; first_id, last_id, has_more. /v1/files pages up to 10,000.
Result<Json> page_of(Json data, const Request& request, int64_t max_limit = 100) {
  std::reverse(data.begin(), data.end());
  return item_page(data, query_of(request), max_limit == 100 ? 20 : max_limit, max_limit);
}

// A vector store's files as list data: those with the status the query's `filter` names, or all.
Json store_files_json(const std::vector<knowledge::VectorStoreFileRecord>& files,
                      const KnowledgeConfig& config, const Request& request) {
  std::string status;
  if (auto query = parse_query_string(query_of(request)); query) {
    for (const auto& [key, value] : *query) {
      if (key == "filter") status = value;
    }
  }
  Json data = Json::array();
  for (const auto& file : files) {
    if (status.empty() || file.status == status) data.push_back(store_file_json(file, config));
  }
  return data;
}

// VectorStoreFileBatch: counts from the batch's files as the store holds them now; in_progress
// while any waits, then cancelled when its cancel stopped any, else completed.
Json batch_json(const knowledge::FileBatchRecord& batch,
                const std::vector<knowledge::VectorStoreFileRecord>& store_files) {
  std::map<std::string, int64_t> counts = {
      {"in_progress", 0}, {"completed", 0}, {"failed", 0}, {"cancelled", 0}};
  for (const auto& file : store_files) {
    if (std::find(batch.file_ids.begin(), batch.file_ids.end(), file.file_id) !=
        batch.file_ids.end()) {
      counts[file.status] += 1;
    }
  }
  const char* status = counts["in_progress"] > 0 ? "in_progress"
                       : counts["cancelled"] > 0 ? "cancelled"
                                                 : "completed";
  return {{"id", batch.id},
          {"object", "vector_store.files_batch"},
          {"created_at", batch.created_at},
          {"vector_store_id", batch.vector_store_id},
          {"status", status},
          {"file_counts",
           {{"in_progress", counts["in_progress"]},
            {"completed", counts["completed"]},
            {"failed", counts["failed"]},
            {"cancelled", counts["cancelled"]},
            {"total", static_cast<int64_t>(batch.file_ids.size())}}}};
}

// A request's `attributes` (at `param`) as JSON object text; absent or null is "{}".
Result<std::string> attributes_of(const Json& body, const std::string& param) {
  const Json* value = member(body, "attributes");
  if (value == nullptr) return std::string("{}");
  auto attributes = parse_attributes(*value, param);
  if (!attributes) return attributes.error();
  return attributes->dump();
}

// A file of a batch request and the attributes it gets (JSON object text).
struct BatchFile {
  std::string id;
  std::string attributes;
};

// The files of a batch request: `file_ids` (each with the request's `attributes`), or `files`
// (objects with a file_id and their own attributes each).
Result<std::vector<BatchFile>> batch_files(const Json& body) {
  std::vector<BatchFile> out;
  const Json* file_ids = member(body, "file_ids");
  const Json* files = member(body, "files");
  if (file_ids && !file_ids->is_null()) {
    if (!file_ids->is_array() || file_ids->empty() ||
        !std::all_of(file_ids->begin(), file_ids->end(),
                     [](const Json& id) { return id.is_string(); })) {
      return invalid("file_ids", "'file_ids' must be a non-empty array of strings");
    }
    auto attributes = attributes_of(body, "attributes");
    if (!attributes) return attributes.error();
    for (const Json& id : *file_ids) out.push_back({id.get<std::string>(), *attributes});
  } else if (files && files->is_array() && !files->empty()) {
    for (size_t i = 0; i < files->size(); ++i) {
      const Json* id = member((*files)[i], "file_id");
      if (!id || !id->is_string()) {
        return invalid(indexed("files", i) + ".file_id", "each file needs a 'file_id' string");
      }
      auto attributes = attributes_of((*files)[i], indexed("files", i) + ".attributes");
      if (!attributes) return attributes.error();
      out.push_back({id->get<std::string>(), *attributes});
    }
  } else {
    return invalid("file_ids", "Missing required parameter: 'file_ids'.");
  }
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

// Whether the route's path (before any query) is a file batch's: .../file_batches[/...].
// File batches share the route handlers of a store's files.
bool is_batch_path(const RouteCall& call) {
  const std::string_view target(call.request.message.target().data(),
                                call.request.message.target().size());
  return target.substr(0, target.find('?')).find("/file_batches") != std::string_view::npos;
}

// Indexes a batch's files one after another, after the answer went out; a file that the
// batch's cancel (or a removal) took out of "in_progress" meanwhile is skipped, and one claimed
// here is not cancelled (it stays "in_progress" until indexed).
Task<void> ingest_batch(std::shared_ptr<knowledge::VectorStores> stores, std::string owner,
                        std::string store_id, std::vector<BatchFile> files) {
  for (const BatchFile& file : files) {
    auto claimed = stores->claim_waiting_file(store_id, file.id);
    if (!claimed || !*claimed) continue;
    auto added = co_await stores->add_file_to_store(owner, store_id, file.id, file.attributes,
                                                    std::make_shared<CancelToken>());
    if (!added) (void)stores->fail_waiting_file(store_id, file.id, added.error().message);
    stores->release_file(store_id, file.id);
  }
}

// POST /v1/vector_stores/{id}/file_batches: the batch and its files are recorded (files
// "in_progress") and answered at once; the files are indexed in the background, so that
// `cancel` can stop those not reached yet. GETs answer `openai-poll-after-ms` so that the SDK's
// createAndPoll looks again soon.
Task<Result<Json>> create_file_batch(std::shared_ptr<knowledge::VectorStores> stores,
                                     const std::string& owner, const std::string& id,
                                     const Request& request) {
  auto store = stores ? stores->get_store(owner, id)
                      : Result<std::optional<knowledge::VectorStoreRecord>>(std::nullopt);
  if (std::optional<Error> error = lookup_error(store, "vector store", id)) co_return *error;
  if (std::string why = stores->unavailable(); !why.empty()) {
    co_return Error(ErrorCode::kInvalidArgument, why);
  }
  auto body = json_body(request);
  auto files = body ? batch_files(*body) : Result<std::vector<BatchFile>>(body.error());
  if (!files) co_return files.error();
  std::vector<std::pair<std::string, std::string>> recorded;
  for (const BatchFile& file : *files) {
    if (auto error = lookup_error(stores->get_file(owner, file.id), "file", file.id)) {
      co_return *error;
    }
    recorded.emplace_back(file.id, file.attributes);
  }
  auto batch = stores->add_batch(owner, id, recorded);
  if (!batch) co_return store_error(batch.error());
  asio::co_spawn(co_await asio::this_coro::executor,
                 ingest_batch(stores, owner, id, std::move(*files)), asio::detached);
  auto store_files = stores->list_store_files(owner, id);
  if (!store_files) co_return store_error(store_files.error());
  co_return batch_json(*batch, *store_files);
}

// GET /v1/vector_stores/{id}/file_batches/{batch_id}, POST .../cancel (the batch's files not
// indexed yet become "cancelled"; the one being indexed finishes) and GET .../files (the
// batch's files as the store holds them, paged; `filter` by status).
Result<Json> file_batch_reply(knowledge::VectorStores* stores, const std::string& owner,
                              const std::string& id, const std::string& batch_id,
                              const Request& request, const KnowledgeConfig& config) {
  const std::string_view target(request.message.target().data(), request.message.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (stores && path.ends_with("/cancel")) {
    if (auto error =
            lookup_error(stores->cancel_batch(owner, id, batch_id), "file batch", batch_id)) {
      return *error;
    }
  }
  auto batch = stores ? stores->get_batch(owner, id, batch_id)
                      : Result<std::optional<knowledge::FileBatchRecord>>(std::nullopt);
  if (std::optional<Error> error = lookup_error(batch, "file batch", batch_id)) return *error;
  auto files = stores->list_store_files(owner, id);
  if (!files) return store_error(files.error());
  if (!path.ends_with("/files")) return batch_json(**batch, *files);
  const std::vector<std::string>& in_batch = (*batch)->file_ids;
  std::erase_if(*files, [&](const auto& file) {
    return std::find(in_batch.begin(), in_batch.end(), file.file_id) == in_batch.end();
  });
  return page_of(store_files_json(*files, config, request), request);
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
    if (auto query = parse_query_string(query_of(call.request)); query) {
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
    auto page = page_of(std::move(data), call.request, kMaxFilesPage);
    if (!page) {
      co_await send_error(call.response, page.error(), nullptr);
      co_return;
    }
    co_await call.response.send(200, kJson, dump(*page));
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
    auto page = page_of(std::move(data), call.request);
    if (!page) {
      co_await send_error(call.response, page.error(), nullptr);
      co_return;
    }
    co_await call.response.send(200, kJson, dump(*page));
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
    auto added = co_await stores->add_file_to_store(owner, created->id, file_id, "{}",
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
  if (is_batch_path(call)) {
    auto batch = co_await create_file_batch(vector_stores_, owner, id, call.request);
    if (!batch) {
      co_await send_error(call.response, batch.error(), nullptr);
      co_return;
    }
    co_await call.response.send(200, kJson, dump(*batch));
    co_return;
  }
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
    auto page =
        page_of(store_files_json(*files, config_.vector_stores, call.request), call.request);
    if (!page) {
      co_await send_error(call.response, page.error(), nullptr);
      co_return;
    }
    co_await call.response.send(200, kJson, dump(*page));
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
  auto attributes = attributes_of(*body, "attributes");
  if (!attributes) {
    co_await send_error(call.response, attributes.error(), nullptr);
    co_return;
  }
  const CancelPtr cancel = call.response.client_gone();
  auto added = co_await stores->add_file_to_store(owner, id, file, *attributes, cancel);
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
  if (is_batch_path(call)) {
    auto reply = file_batch_reply(stores, owner, id, file_id, call.request, config_.vector_stores);
    if (!reply) {
      co_await send_error(call.response, reply.error(), nullptr);
      co_return;
    }
    // The openai SDK's poll() waits this long (else 5 s) before it looks at a batch again.
    Headers headers;
    if (reply->value("status", "") == "in_progress")
      headers.emplace_back("openai-poll-after-ms", "100");
    co_await call.response.send(200, kJson, dump(*reply), headers);
    co_return;
  }
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
  Result<std::optional<knowledge::VectorStoreFileRecord>> found =
      std::optional<knowledge::VectorStoreFileRecord>();
  if (call.request.message.method() == bhttp::verb::post) {
    // POST .../files/{file_id}: {"attributes": {...} | null} replaces the file's attributes.
    auto body = json_body(call.request);
    if (body && !body->contains("attributes")) {
      body = invalid("attributes", "Missing required parameter: 'attributes'.");
    }
    if (!body) {
      co_await send_error(call.response, body.error(), nullptr);
      co_return;
    }
    auto attributes = parse_attributes((*body)["attributes"], "attributes");  // null: none
    if (!attributes) {
      co_await send_error(call.response, attributes.error(), nullptr);
      co_return;
    }
    found = stores->update_store_file(owner, id, file_id, attributes->dump());
  } else {
    found = stores->get_store_file(owner, id, file_id);
  }
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
  std::optional<AttributeFilter> filter;
  if (const Json* value = member(*body, "filters")) {
    auto parsed = parse_attribute_filter(*value, "filters");
    if (!parsed) {
      co_await send_error(call.response, parsed.error(), nullptr);
      co_return;
    }
    filter = std::move(*parsed);
  }
  auto store = stores ? stores->get_store(owner, id)
                      : Result<std::optional<knowledge::VectorStoreRecord>>(std::nullopt);
  if (const std::optional<Error> error = lookup_error(store, "vector store", id)) {
    co_await send_error(call.response, *error, nullptr);
    co_return;
  }
  auto found = co_await stores->search(owner, id, query, k, filter ? &*filter : nullptr,
                                       call.response.client_gone());
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
         {"attributes", try_parse_json(chunk.attributes).value_or(Json::object())},
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

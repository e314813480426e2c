// OpenAI's Responses API front door (POST /v1/responses) and its stored state: GET/DELETE
// /v1/responses/{id}, GET /v1/responses/{id}/input_items and the Conversations API. The wire
// format is in api/responses/; this file is HTTP, the router and the store.
#include "api/responses/responses.h"

#include <algorithm>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "copilots/citations.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/text.h"
#include "http/download.h"
#include "http/sse.h"
#include "server/app.h"
#include "server/auth.h"
#include "server/file_search.h"
#include "server/stream_sink.h"
#include "tools/loop.h"

namespace keel {
namespace {

constexpr std::string_view kJson = "application/json";
using Headers = std::vector<std::pair<std::string, std::string>>;
// previous_response_id chains longer than this are cut at their oldest end.
constexpr int kMaxThreadDepth = 10'000;

std::string dump(const Json& json) { return json_text(json); }

// Who owns stored state: the SHA-256 of the API key the request presented, in hex (the key
// itself is never stored). Without configured keys every client shares the empty key's hash.
std::string owner_of(const bhttp::fields& fields) { return sha256_hex(presented_key(fields)); }

Error not_found(const std::string& what, const std::string& id, const std::string& param = {}) {
  Error error(ErrorCode::kNotFound, what + " with id '" + truncate_utf8(id, 128) + "' not found.");
  error.param = param;
  error.type_code = param.empty()                     ? "not_found"
                    : param == "previous_response_id" ? "previous_response_not_found"
                                                      : "not_found";
  return error;
}

Error store_failed(const Error& error) {
  KEEL_LOG(kWarn) << "store: " << error.message;
  return Error(ErrorCode::kInternal, "keel could not read or write its state store");
}

// The stored thread before `previous_id`: each response's input items, then its output, oldest
// first. A missing first link is a 404 naming it; a link further back that has expired or was
// deleted ends the thread there.
Result<Json> load_thread(Store& store, const std::string& owner, const std::string& previous_id) {
  std::vector<StoredResponse> chain;
  std::string next = previous_id;
  while (!next.empty() && chain.size() < kMaxThreadDepth) {
    auto found = store.get_response(next, owner);
    if (!found) return store_failed(found.error());
    if (!*found) {
      if (chain.empty()) return not_found("Previous response", next, "previous_response_id");
      break;
    }
    next = (*found)->previous_id;
    chain.push_back(std::move(**found));
  }
  Json items = Json::array();
  for (auto link = chain.rbegin(); link != chain.rend(); ++link) {
    const auto input = try_parse_json(link->input_items);
    if (input && input->is_array()) {
      for (const Json& item : *input) items.push_back(item);
    }
    const auto body = try_parse_json(link->body);
    if (body && body->is_object()) {
      if (const Json* output = member(*body, "output"); output && output->is_array()) {
        for (const Json& item : *output) items.push_back(item);
      }
    }
  }
  return items;
}

Result<Json> load_conversation_items(Store& store, const std::string& conversation_id) {
  auto stored = store.conversation_items(conversation_id);
  if (!stored) return store_failed(stored.error());
  Json items = Json::array();
  for (const StoredItem& item : *stored) {
    if (auto parsed = try_parse_json(item.body)) items.push_back(std::move(*parsed));
  }
  return items;
}

std::vector<StoredItem> to_stored(const Json& items) {
  std::vector<StoredItem> stored;
  for (const Json& item : items) stored.push_back({optional_string(item, "id"), dump(item)});
  return stored;
}

void append_events(const std::vector<ResponsesEvent>& events, std::string& out) {
  for (const auto& event : events) append_sse_frame(out, event.data, event.type);
}

// The client's side of a streamed response: the encoder's events as SSE, framed as the encoder
// writes them. An Error event (a failure after output began) becomes response.failed.
class ResponsesSseSink final : public StreamSink {
 public:
  ResponsesSseSink(ResponseWriter& writer, ResponsesStreamEncoder& encoder, std::string request_id)
      : StreamSink(writer, std::move(request_id), nullptr), encoder_(encoder) {}
  bool failed() const { return failed_; }
  // Events made outside the sink (FileSearch's), sent ahead of the next ones.
  std::vector<ResponsesEvent> pending;

 protected:
  void append_frames(const ChatEvent& event, std::string& out) override {
    send_pending(out);
    writing_into(out, [&] {
      if (event.kind == ChatEvent::Kind::kError) {
        encoder_.fail(event.error, encoded_);
        failed_ = true;
      } else {
        encoder_.encode(event, encoded_);
      }
    });
  }
  // response.completed (or .incomplete).
  std::string closing_frames() override {
    std::string frames;
    frames.reserve(4096);  // a short answer's closing events (items done, the response) in one
    send_pending(frames);
    writing_into(frames, [&] { encoder_.finish(encoded_); });
    return frames;
  }

 private:
  void send_pending(std::string& out) {
    append_events(pending, out);
    pending.clear();
  }
  // Each event framed in place in `out` (the encoder writes one line of JSON text per event).
  class Framer final : public ResponsesStreamEncoder::EventWriter {
   public:
    std::string* out = nullptr;
    std::string& open(std::string_view type) override {
      open_sse_frame(*out, type);
      return *out;
    }
    void close() override { close_sse_frame(*out); }
  };
  // `encode()`'s events framed into `out`.
  template <typename Encode>
  void writing_into(std::string& out, Encode&& encode) {
    framer_.out = &out;
    encoder_.write_to(&framer_);
    encode();
    encoder_.write_to(nullptr);
  }

  ResponsesStreamEncoder& encoder_;
  Framer framer_;
  std::vector<ResponsesEvent> encoded_;  // stays empty while the encoder writes to framer_
  bool failed_ = false;
};

// A response that is not streamed goes through the same encoder; its events are dropped.
class EncodingSink final : public BatchEventSink {
 public:
  explicit EncodingSink(ResponsesStreamEncoder& encoder) : encoder_(encoder) {}
  Task<bool> on_events(std::vector<ChatEvent>& events) override {
    for (const auto& event : events) {
      if (event.kind != ChatEvent::Kind::kError) encoder_.encode(event, scratch_);
    }
    scratch_.clear();
    co_return true;
  }

 private:
  ResponsesStreamEncoder& encoder_;
  std::vector<ResponsesEvent> scratch_;
};

// The answer over keel's file_search tool: the tool loop with the tool added for this request,
// the model's citations of its results turned into file_citation annotations.
Task<ChatOutcome> answer_with_file_search(Router& router, Toolbox* toolbox, const ChatRequest& chat,
                                          FileSearch& search, EventSink& sink, CancelPtr cancel,
                                          TraceContext trace) {
  static Toolbox no_toolsets{std::vector<ToolsetConfig>{}};
  const ModelConfig* model = router.model_config(chat.model);
  copilots::CitingSink citing(sink, search.passages());
  static const std::vector<std::string> kNoApproval;
  std::vector<OfferedTool> request_tools;  // (a braced list here trips g++ 12's coroutines)
  request_tools.push_back(search.offered());
  co_return co_await run_tool_loop(router, toolbox ? *toolbox : no_toolsets, chat, *model, citing,
                                   std::move(cancel), kNoApproval, trace, request_tools);
}

}  // namespace

Task<void> App::responses(Request& request, ResponseWriter& response, RequestRecord& record) {
  const std::string_view body = request.message.body();
  auto parsed = parse_responses_request(body);
  if (!parsed) {
    const auto json = try_parse_json(body);
    record.model = json && json->is_object() ? optional_string(*json, "model") : std::string();
    co_await send_error(response, parsed.error(), &record);
    co_return;
  }
  ResponsesRequest& req = *parsed;
  record.model = truncate_utf8(req.chat.model, 256);
  record.stream = req.chat.stream;
  // This request's router: a reload meanwhile does not change it.
  const std::shared_ptr<Router> router = current_router();
  if (!serves(*router, req.chat.model)) {
    Error error(ErrorCode::kNotFound, "model '" + record.model + "' does not exist");
    error.type_code = "model_not_found";
    error.param = "model";
    co_await send_error(response, error, &record);
    co_return;
  }
  // Hashed only when stored state is read or written (a SHA-256 per request otherwise).
  const bool stateful =
      req.store || !req.previous_response_id.empty() || !req.conversation_id.empty();
  const std::string owner = stateful ? owner_of(request.message) : std::string();
  Json history = Json::array();
  if (!req.previous_response_id.empty()) {
    auto thread = load_thread(*store_, owner, req.previous_response_id);
    if (!thread) {
      co_await send_error(response, thread.error(), &record);
      co_return;
    }
    history = std::move(*thread);
  } else if (!req.conversation_id.empty()) {
    auto conversation = store_->get_conversation(req.conversation_id, owner);
    Result<Json> items =
        conversation
            ? (*conversation
                   ? load_conversation_items(*store_, req.conversation_id)
                   : Result<Json>(not_found("Conversation", req.conversation_id, "conversation")))
            : Result<Json>(store_failed(conversation.error()));
    if (!items) {
      co_await send_error(response, items.error(), &record);
      co_return;
    }
    history = std::move(*items);
  }
  build_messages(req, history);
  if (req.chat.messages.empty()) {
    co_await send_error(response, invalid("input", "input is required"), &record);
    co_return;
  }

  const std::string id = new_id("resp_");
  ResponsesStreamEncoder encoder(ResponseText(req, id, unix_seconds(), "in_progress"),
                                 req.custom_tools, req.namespaced);
  std::optional<ResponsesSseSink> stream_sink;  // a response that is not streamed has none
  if (req.chat.stream) stream_sink.emplace(response, encoder, record.id);
  std::unique_ptr<FileSearch> file_search;
  if (req.file_search) {
    if (public_name(req.chat.model)) {
      co_await send_error(response,
                          invalid("tools", "the file_search tool needs a model; '" + record.model +
                                               "' answers with its own sources"),
                          &record);
      co_return;
    }
    file_search = std::make_unique<FileSearch>(vector_stores_.get(), owner, *req.file_search,
                                               req.file_search_spec, encoder,
                                               stream_sink ? &stream_sink->pending : nullptr);
    if (Status ok = file_search->check(); !ok) {
      co_await send_error(response, ok.error(), &record);
      co_return;
    }
  }
  // The router's answer, or the tool loop's when the request has a file_search tool.
  auto answer = [&](EventSink& sink) -> Task<ChatOutcome> {
    if (file_search) {
      co_return co_await answer_with_file_search(*router, toolbox_, req.chat, *file_search, sink,
                                                 response.client_gone(),
                                                 record.trace.root_context());
    }
    co_return co_await route_chat(*router, req.chat, sink, response.client_gone(), {},
                                  record.trace.root_context());
  };
  ChatOutcome outcome;
  if (req.chat.stream) {
    ResponsesSseSink& sink = *stream_sink;
    outcome = co_await answer(sink);
    if (outcome.status.ok()) {
      co_await sink.done();
    } else if (outcome.committed || response.started()) {
      if (!sink.failed() && outcome.status.error().code != ErrorCode::kCancelled) {
        // The router ended the stream without an Error event: the client still gets one.
        std::vector<ResponsesEvent> events;
        encoder.fail(outcome.status.error(), events);
        std::string frames;
        append_events(events, frames);
        co_await response.write(frames);
      }
      co_await response.end();
    }
  } else {
    encoder.quiet();  // the events would be dropped
    EncodingSink sink(encoder);
    outcome = co_await answer(sink);
    if (outcome.status.ok()) {
      std::vector<ResponsesEvent> events;
      encoder.finish(events);
      Headers headers{{"x-request-id", record.id}};
      co_await response.send(200, kJson, encoder.response_text(), headers);
    }
  }
  co_await settle(response, outcome, record, ApiFormat::kOpenAI);
  // A response the client saw (whole, or a stream that began) is stored as it ended.
  const bool seen = outcome.status.ok() || (req.chat.stream && encoder.begun());
  if (seen && !outcome.status.ok() && outcome.status.error().code == ErrorCode::kCancelled) {
    encoder.cancel();
  }
  if (req.store && seen) {
    StoredResponse stored;
    stored.id = id;
    stored.owner = owner;
    stored.created_ms = unix_millis();
    stored.previous_id = req.previous_response_id;
    stored.conversation_id = req.conversation_id;
    stored.input_items = dump(input_as_items(req));
    stored.body = encoder.response_text();
    if (auto status = store_->put_response(stored); !status) store_failed(status.error());
  }
  if (seen && !req.conversation_id.empty()) {
    std::vector<StoredItem> items = to_stored(input_as_items(req));
    for (auto& [item_id, text] : encoder.output_items()) {
      items.push_back({std::move(item_id), std::move(text)});
    }
    if (auto status = store_->append_conversation_items(req.conversation_id, items); !status) {
      store_failed(status.error());
    }
  }
  if (config_.log_content) {
    Json content = {{"request", try_parse_json(body).value_or(Json())},
                    {"response", encoder.response()}};
    record.content = dump(content);
  }
}

namespace {

std::string_view query_of(const Request& request) {
  const std::string_view target(request.message.target().data(), request.message.target().size());
  const size_t question = target.find('?');
  return question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
}

// One call on a stored-state route.
struct StateCall {
  Store& store;
  std::string owner;
  bool get = false;  // GET or HEAD
  bool post = false;
  bool del = false;
  std::string_view body;
  std::string_view query;
};

// What a stored-state route answers: a body or an error. (Its row in App::routes() takes only
// the methods it answers, so a wrong method never reaches it.)
struct StateReply {
  Json answer;
  std::optional<Error> error;
};

StateReply answered(Json answer) {
  StateReply reply;
  reply.answer = std::move(answer);
  return reply;
}
StateReply refused(Error error) {
  StateReply reply;
  reply.error = std::move(error);
  return reply;
}

// A request body that must be an object when present (empty: {}).
Result<Json> body_object(std::string_view text) {
  if (text.empty()) return Json::object();
  auto parsed = parse_json(text, ErrorCode::kInvalidArgument, "request body");
  if (!parsed) return parsed.error();
  if (!parsed->is_object()) return wrong_type("body", "an object", *parsed);
  return parsed;
}

Result<Json> metadata_of(const Json& body) {
  const Json* metadata = member(body, "metadata");
  if (!metadata) return Json::object();
  if (!metadata->is_object()) return wrong_type("metadata", "an object", *metadata);
  return *metadata;
}

// GET/DELETE /v1/responses/{id}; GET /v1/responses/{id}/input_items (`items`).
StateReply stored_response(const StateCall& call, const std::string& id, bool items) {
  if (call.del) {
    auto deleted = call.store.delete_response(id, call.owner);
    if (!deleted) return refused(store_failed(deleted.error()));
    if (!*deleted) return refused(not_found("Response", id));
    return answered({{"id", id}, {"object", "response"}, {"deleted", true}});
  }
  auto found = call.store.get_response(id, call.owner);
  if (!found) return refused(store_failed(found.error()));
  if (!*found) return refused(not_found("Response", id));
  if (!items) return answered(try_parse_json((*found)->body).value_or(Json::object()));
  auto page = item_page(try_parse_json((*found)->input_items).value_or(Json::array()), call.query);
  return page ? answered(std::move(*page)) : refused(page.error());
}

// POST /v1/conversations {metadata, items}.
StateReply new_conversation(const StateCall& call) {
  auto body = body_object(call.body);
  if (!body) return refused(body.error());
  auto metadata = metadata_of(*body);
  if (!metadata) return refused(metadata.error());
  Result<Json> items = Json::array();
  if (const Json* given = member(*body, "items")) items = parse_input_items(*given, "items");
  if (!items) return refused(items.error());
  StoredConversation conversation{new_id("conv_"), call.owner, unix_millis(), dump(*metadata)};
  if (auto status = call.store.put_conversation(conversation); !status) {
    return refused(store_failed(status.error()));
  }
  if (auto status = call.store.append_conversation_items(conversation.id, to_stored(*items));
      !status) {
    return refused(store_failed(status.error()));
  }
  return answered(conversation_object(conversation.id, conversation.created_ms / 1000, *metadata));
}

// GET/POST/DELETE /v1/conversations/{id} (POST replaces the metadata).
StateReply conversation_resource(const StateCall& call, const StoredConversation& conversation) {
  const int64_t created_at = conversation.created_ms / 1000;
  if (call.get) {
    return answered(conversation_object(conversation.id, created_at,
                                        try_parse_json(conversation.metadata).value_or(Json())));
  }
  if (call.del) {
    auto deleted = call.store.delete_conversation(conversation.id, call.owner);
    if (!deleted) return refused(store_failed(deleted.error()));
    return answered(
        {{"id", conversation.id}, {"object", "conversation.deleted"}, {"deleted", true}});
  }
  auto body = body_object(call.body);
  auto metadata = body ? metadata_of(*body) : Result<Json>(body.error());
  if (!metadata) return refused(metadata.error());
  StoredConversation changed = conversation;
  changed.metadata = dump(*metadata);
  if (auto status = call.store.put_conversation(changed); !status) {
    return refused(store_failed(status.error()));
  }
  return answered(conversation_object(conversation.id, created_at, *metadata));
}

// GET (a page) / POST (append) /v1/conversations/{id}/items.
StateReply conversation_items_of(const StateCall& call, const StoredConversation& conversation) {
  if (call.get) {
    auto items = load_conversation_items(call.store, conversation.id);
    auto page = items ? item_page(*items, call.query) : items;
    return page ? answered(std::move(*page)) : refused(page.error());
  }
  auto body = body_object(call.body);
  if (!body) return refused(body.error());
  const Json* given = member(*body, "items");
  if (!given) return refused(invalid("items", "items is required"));
  auto items = parse_input_items(*given, "items");
  if (!items) return refused(items.error());
  if (auto status = call.store.append_conversation_items(conversation.id, to_stored(*items));
      !status) {
    return refused(store_failed(status.error()));
  }
  Json list = {{"object", "list"}, {"data", *items}};
  list["first_id"] = items->empty() ? Json() : items->front()["id"];
  list["last_id"] = items->empty() ? Json() : items->back()["id"];
  list["has_more"] = false;
  return answered(std::move(list));
}

// GET/DELETE /v1/conversations/{id}/items/{item_id} (DELETE answers the conversation).
StateReply one_conversation_item(const StateCall& call, const StoredConversation& conversation,
                                 const std::string& item_id) {
  auto items = load_conversation_items(call.store, conversation.id);
  if (!items) return refused(items.error());
  const auto item = std::find_if(items->begin(), items->end(), [&](const Json& candidate) {
    return optional_string(candidate, "id") == item_id;
  });
  if (item == items->end()) return refused(not_found("Item", item_id));
  if (call.get) return answered(*item);
  auto deleted = call.store.delete_conversation_item(conversation.id, item_id);
  if (!deleted) return refused(store_failed(deleted.error()));
  return answered(conversation_object(conversation.id, conversation.created_ms / 1000,
                                      try_parse_json(conversation.metadata).value_or(Json())));
}

// The stored-state rows of App::routes().
enum StateRoute : int {
  kResponse,           // GET/DELETE /v1/responses/{id}
  kResponseItems,      // GET /v1/responses/{id}/input_items
  kConversations,      // POST /v1/conversations
  kConversation,       // GET/POST/DELETE /v1/conversations/{id}
  kConversationItems,  // GET/POST /v1/conversations/{id}/items
  kConversationItem,   // GET/DELETE /v1/conversations/{id}/items/{item_id}
};

// `ids`: the row's path parameters, percent-decoded.
StateReply state_reply(int which, const StateCall& call, const std::vector<std::string>& ids) {
  switch (which) {
    case kResponse:
      return stored_response(call, ids.at(0), false);
    case kResponseItems:
      return stored_response(call, ids.at(0), true);
    case kConversations:
      return new_conversation(call);
    default:
      break;
  }
  auto found = call.store.get_conversation(ids.at(0), call.owner);
  if (!found) return refused(store_failed(found.error()));
  if (!*found) return refused(not_found("Conversation", ids.at(0)));
  if (which == kConversation) return conversation_resource(call, **found);
  if (which == kConversationItems) return conversation_items_of(call, **found);
  return one_conversation_item(call, **found, ids.at(1));
}

}  // namespace

Task<void> App::create_response(RouteCall& call) {
  co_await responses(call.request, call.response, call.record);
}
Task<void> App::get_or_delete_response(RouteCall& call) { co_await state_route(call, kResponse); }
Task<void> App::response_input_items(RouteCall& call) {
  co_await state_route(call, kResponseItems);
}
Task<void> App::create_conversation(RouteCall& call) { co_await state_route(call, kConversations); }
Task<void> App::conversation(RouteCall& call) { co_await state_route(call, kConversation); }
Task<void> App::conversation_items(RouteCall& call) {
  co_await state_route(call, kConversationItems);
}
Task<void> App::conversation_item(RouteCall& call) {
  co_await state_route(call, kConversationItem);
}

Task<void> App::state_route(RouteCall& route, int which) {
  Request& request = route.request;
  const auto method = request.message.method();
  const StateCall call{*store_,
                       owner_of(request.message),
                       method == bhttp::verb::get || method == bhttp::verb::head,
                       method == bhttp::verb::post,
                       method == bhttp::verb::delete_,
                       request.message.body(),
                       query_of(request)};
  std::vector<std::string> ids;
  for (std::string_view param : route.params) {
    ids.push_back(percent_decode(param).value_or(std::string()));
  }
  StateReply reply = state_reply(which, call, ids);
  if (reply.error) {
    co_await send_error(route.response, *reply.error, nullptr);
    co_return;
  }
  co_await route.response.send(200, kJson, dump(reply.answer));
}

}  // namespace keel

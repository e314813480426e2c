// OpenAI's Responses API wire format <-> native types. Pure functions, no I/O. Wire reference:
// ../shared/specs/openai-openapi.yaml (CreateResponse, Response, ResponseStreamEvent, the item
// schemas) and the openai npm SDK's types. One file per concern: request.cpp (the client's
// request and its items -> ChatRequest), response.cpp (the response object, items, lists,
// errors), stream.cpp (ChatEvents -> the response.* event stream and the final response).
//
//   auto req = parse_responses_request(body);        // 400 with param on bad input
//   build_messages(*req, history);                   // stored items (previous_response_id)
//   ResponsesStreamEncoder enc(ResponseText(*req, id, created, "in_progress"),
//                              req->custom_tools);
//   enc.begin(events);
//   for (const ChatEvent& e : stream) enc.encode(e, events);  // events: SSE name + JSON text
//   enc.finish(events);
//   send(enc.response_text());                       // the final response object
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/attribute_filter.h"
#include "api/chat.h"

namespace keel {

// --- the client's request ---------------------------------------------------------------------

// The `file_search` tool (FileSearchTool in the openai SDK): keel searches its own vector
// stores with the model's query (server/file_search.cpp) and the output holds a
// file_search_call item.
struct FileSearchOptions {
  std::vector<std::string> vector_store_ids;
  int max_num_results = 10;  // 1..50
  // ranking_options.score_threshold: results scoring below it are left out. keel's scores are
  // the fused reciprocal-rank scores of /v1/vector_stores/{id}/search.
  double score_threshold = 0;
  bool include_results = false;  // include: ["file_search_call.results"]
  std::optional<AttributeFilter> filters;  // files whose attributes match (api/attribute_filter.h)
};

struct ResponsesRequest {
  // Model, tools, tool_choice, sampling, text.format, stream. Messages are filled by
  // build_messages (instructions, then the stored history, then input_items).
  ChatRequest chat;
  // This turn's input as items, in their normalised wire form, each with an id (kept when the
  // client gave one, else made: msg_..., fc_..., fco_..., rs_...). An `input` string (one user
  // message, the commonest request) is kept in input_text instead, and made an item only when
  // it is needed (input_as_items): a request that stores nothing never builds it.
  Json input_items = Json::array();
  std::optional<std::string> input_text;
  std::string instructions;          // "" when absent
  std::string previous_response_id;  // "" when absent
  std::string conversation_id;       // "" when absent
  bool store = true;
  // Echoed on the response object as given (null when absent): tools, tool_choice, text,
  // reasoning, metadata, max_output_tokens, parallel_tool_calls, temperature, top_p, user,
  // truncation, prompt_cache_key, include, ... (response_object() writes them).
  Json echo = Json::object();
  // Tools of type "custom": offered to the model as functions taking {"input": string}; their
  // calls go back as custom_tool_call items.
  std::set<std::string> custom_tools;
  // Tools of a `namespace` tool: offered as functions named "<namespace>__<name>"; their calls
  // go back with `name` and `namespace` apart. Qualified name -> {namespace, name}.
  std::map<std::string, std::pair<std::string, std::string>> namespaced;
  // A `file_search` tool (at most one, as OpenAI allows); the model is offered a function of
  // that name (kFileSearchTool) that keel runs.
  std::optional<FileSearchOptions> file_search;
  ToolSpec file_search_spec;  // the function offered for it
};

// The function name the model sees for the file_search tool.
inline constexpr const char* kFileSearchTool = "file_search";

// The name a model sees for `name` in `namespace_name` ("" when none).
std::string qualified_tool_name(const std::string& namespace_name, const std::string& name);

// Validates types and required fields. Errors are kInvalidArgument with `param` set; an item or
// tool type keel cannot serve is a 400 naming the type.
Result<ResponsesRequest> parse_responses_request(std::string_view body);
// Its two paths, which give the same request (tests and the fuzz target check it): the fast
// scan (JsonScanner, no Json tree of the body) into `out` (default-constructed), for bodies of
// the usual shapes, false for anything else or anything in doubt (`out` then holds a part of
// the body: discard it); and the full parse, the reference, which gives the errors.
// parse_responses_request tries the first, then the second.
bool scan_responses_request(std::string_view body, ResponsesRequest& out);
Result<ResponsesRequest> parse_responses_request_parsed(std::string_view body);
// Everything a parsed request holds, as JSON text, for comparing the two paths: ids that keel
// made for input items (msg_ and 24 hex digits, ...) stand as their prefix and "*" ("msg_*").
std::string describe_request(const ResponsesRequest& req);

// A list of input items (an `input` array, or a conversation's `items`) checked and normalised
// as parse_responses_request does, ids made where missing. `param` names the list in errors.
Result<Json> parse_input_items(const Json& items, const std::string& param);

// Native messages for `items` (normalised items, oldest first: stored history and this turn's
// input, or a response's output), appended to `out`. function_call items join the assistant
// turn before them; reasoning items become the reasoning of the assistant turn after them
// (reasoning_from_item).
void items_to_messages(const Json& items, std::vector<Message>& out);

// req.chat.messages = instructions (system) + history + this turn's input (input_text or
// input_items).
void build_messages(ResponsesRequest& req, const Json& history);

// This turn's input items (for the store): input_items, with the user message of input_text
// made (its id new) the first time it is asked for.
const Json& input_as_items(ResponsesRequest& req);

// --- reasoning items -----------------------------------------------------------------------------

// A reasoning part's encrypted_content. OpenAI's own goes as it came; another vendor's is keel's
// envelope, "keel1." + base64 of {"vendor", "text", "signature", "redacted"}, so that a client
// that sends its items back (store: false, as Codex CLI does) returns the vendor's reasoning
// byte for byte. "" when the part has nothing opaque.
std::string reasoning_encrypted_content(const ReasoningPart& part);
// A reasoning item (from a client or stored) -> the part: keel's envelope restored; anything
// else is OpenAI's (encrypted_content as the signature, the summary texts joined as its text).
ReasoningPart reasoning_from_item(const Json& item);

// --- the response object ----------------------------------------------------------------------

// The response object with `status` and an empty output, the request's settings echoed, as a
// Json (the server writes it as text: ResponseText below; tests and fuzz compare the two).
Json response_object(const ResponsesRequest& req, const std::string& id, int64_t created_at,
                     const std::string& status);
// ResponseUsage for `usage`, as JSON text.
std::string usage_text(const Usage& usage);
// A citation as a file_citation annotation on an output_text whose text begins `text_base`
// code points into the answer (stream.cpp).
Json file_citation_to_wire(const Citation& citation, int64_t text_base);
// A failure as the response's `error` ({code, message}), code from OpenAI's ResponseErrorCode
// (rate_limit_exceeded, server_error, ...) or context_length_exceeded where the upstream said so.
Json response_error(const Error& error);
// {"object":"list","data":...,"first_id","last_id","has_more"} for a page of `items` (oldest
// first), as OpenAI's list endpoints page: `order` asc or desc (default desc), the items after
// the one with id `after` or the page just before the one with id `before`, at most `limit`
// (1..max_limit, default default_limit). With `before`, has_more says whether there are more
// items before the page.
Result<Json> item_page(const Json& items, std::string_view query, int64_t default_limit = 20,
                       int64_t max_limit = 100);
// ConversationResource.
Json conversation_object(const std::string& id, int64_t created_at, const Json& metadata);

// --- the stream -------------------------------------------------------------------------------

struct ResponsesEvent {
  std::string type;  // "response.created", ...: the SSE event name and the data's "type"
  std::string data;  // the event as JSON text: "type", "sequence_number", then its members
  Json json() const;  // `data` parsed (for tests and checks)
};

// The response object as text around the members that a turn changes (the slots), so that no
// Json DOM is built per request: what the request fixed is written once. Slots the object did not
// have are added at its end, in slot order, once they have a value: where Json's operator[] added
// them, since the encoder sets them in that order.
class ResponseText {
 public:
  enum Slot { kOutput, kStatus, kError, kIncompleteDetails, kUsage, kCompletedAt, kSlots };
  ResponseText() = default;
  // Any object, its members in order (tests build small ones).
  explicit ResponseText(const Json& response);
  // response_object(req, id, created_at, status), byte for byte what json_text writes of it.
  ResponseText(const ResponsesRequest& req, const std::string& id, int64_t created_at,
               const std::string& status);
  // A slot's value as JSON text; "" leaves the member out.
  void set(Slot slot, std::string json_text) { values_[slot] = std::move(json_text); }
  // The object with `output` (the output array's JSON text) in the output slot. The object's
  // own output (ResponseText(const Json&)) is not kept: the encoder's items replace it.
  void append_to(std::string& out, std::string_view output) const;

 private:
  // The object's fixed text, without its closing brace, in one string: an allocation per piece
  // cost more than writing it.
  struct Piece {
    size_t end = 0;  // where the text before the slot's value (its key included) ends in text_
    Slot slot = kOutput;
  };
  void place(Slot slot);  // the slot's value goes at text_'s end
  std::string text_ = "{";
  Piece pieces_[kSlots];  // each slot at most once
  int piece_count_ = 0;
  std::string values_[kSlots];
  bool placed_[kSlots] = {};
};

// Native events -> Responses stream events in OpenAI's order, with sequence numbers, ids stable
// from response.created to response.completed. It also writes the final response object, so
// that a request that did not stream gets the very same output. Events and the object are
// written as text directly (as OpenAIStreamEncoder does for chat), not through a Json DOM.
class ResponsesStreamEncoder {
 public:
  // `response`: ResponseText(req, id, created_at, "in_progress").
  ResponsesStreamEncoder(
      ResponseText response, std::set<std::string> custom_tools,
      std::map<std::string, std::pair<std::string, std::string>> namespaced = {});
  // `response`: response_object(..., "in_progress") or any object with an `output` array.
  ResponsesStreamEncoder(const Json& response, std::set<std::string> custom_tools,
                         std::map<std::string, std::pair<std::string, std::string>> namespaced = {})
      : ResponsesStreamEncoder(ResponseText(response), std::move(custom_tools),
                               std::move(namespaced)) {}
  // response.created, response.in_progress.
  void begin(std::vector<ResponsesEvent>& out);
  // Error events are not handled here: call fail().
  void encode(const ChatEvent& event, std::vector<ResponsesEvent>& out);
  // Closes open items; response.completed (or response.incomplete at max_output_tokens).
  void finish(std::vector<ResponsesEvent>& out);
  // Closes open items; response.failed with the error.
  void fail(const Error& error, std::vector<ResponsesEvent>& out);
  // A file_search_call item `id` with `queries`: begin() adds it (output_item.added,
  // file_search_call.in_progress, .searching), closing what was open; end() completes it
  // (file_search_call.completed, output_item.done) with `results` (a JSON array, or null when
  // the client did not ask for them) and `status` (completed | failed). Searches of one round
  // may overlap: each item has its own place in the output from begin() on.
  void file_search_begin(const std::string& id, const Json& queries,
                         std::vector<ResponsesEvent>& out);
  void file_search_end(const std::string& id, Json results, const char* status,
                       std::vector<ResponsesEvent>& out);
  // The client went away: open items end incomplete, the response `cancelled`; no events (there
  // is nobody to send them to), only the response object, for the store.
  void cancel();
  // No events from now on, only the response object: for a response that is not streamed,
  // which would drop them (three copies of the response object among them).
  void quiet() { quiet_ = true; }
  // Where write_to sends events: open(type) gives the text to append an event's data to (one
  // line of JSON text), close() ends the event.
  class EventWriter {
   public:
    virtual ~EventWriter() = default;
    virtual std::string& open(std::string_view type) = 0;
    virtual void close() = 0;
  };
  // While `writer` is set, events are written through it instead of into the calls' lists,
  // which stay empty: the server frames them straight into its stream, without a list of events
  // to copy each from. The writer is the caller's; nullptr ends it (closing the last event).
  void write_to(EventWriter* writer);
  // The response object as last sent (final after finish/fail/cancel), as JSON text.
  std::string response_text() const;
  // The same parsed; the reference holds until the response changes.
  const Json& response() const;
  // The output items done so far: {id, JSON text} each, in output order (for the store).
  std::vector<std::pair<std::string, std::string>> output_items() const;
  bool begun() const { return begun_; }

 private:
  enum class ItemType { kMessage, kFunctionCall, kCustomToolCall, kReasoning };
  struct OpenItem {
    size_t output_index = 0;
    ItemType type = ItemType::kMessage;
    std::string id;
    std::string id_text;       // id as a JSON string, written once for every event on the item
    int reasoning_index = -1;  // a reasoning item: its native index; -1 for other items
    ReasoningPart reasoning;   // a reasoning item's opaque part (text grows in `text`)
    std::string text;          // a message's text, a call's arguments, a reasoning summary
    int tool_index = -1;       // a call's index among the turn's calls; -1 for a message
    std::string call_id;       // a call's
    std::string name;          // a call's, without its namespace
    std::string namespace_name;        // a call's namespace; "" when none
    int64_t text_base = 0;             // code points of the answer's text before this message's
    Json annotations;                  // file_citation annotations on its text; null: none yet
  };
  struct DoneItem {
    std::string id;
    std::string text;  // the item as JSON text
    Json item;         // a file_search_call item (changed by file_search_end); else null
  };
  std::string* emit(std::vector<ResponsesEvent>& out, std::string_view type);
  // An event on item `id_text` (the item's id as a JSON string).
  std::string* emit_for(std::vector<ResponsesEvent>& out, std::string_view type,
                        std::string_view id_text, size_t output_index);
  void flush();  // write_to: closes the event being written
  void item_text(std::string& out, const OpenItem& open, const char* status, bool done,
                 std::string_view value) const;
  std::string output_text() const;  // the output array
  void open_item(OpenItem item, std::vector<ResponsesEvent>& out);
  OpenItem& reasoning_item(int reasoning_index, std::vector<ResponsesEvent>& out);
  void close_items(const char* status, std::vector<ResponsesEvent>& out);
  void end(const char* type, std::vector<ResponsesEvent>& out);
  void response_event(std::vector<ResponsesEvent>& out, std::string_view type);
  void set_status(const char* status);

  ResponseText response_;
  std::set<std::string> custom_tools_;
  std::map<std::string, std::pair<std::string, std::string>> namespaced_;
  int64_t sequence_ = 0;
  int64_t text_points_ = 0;  // code points of all text so far (citations count in it)
  bool begun_ = false;
  bool quiet_ = false;
  EventWriter* writer_ = nullptr;  // write_to's
  bool writing_ = false;           // an event is open in writer_
  std::vector<OpenItem> open_;    // items added and not yet done, in output order
  std::vector<DoneItem> output_;  // the response's output
  FinishReason finish_ = FinishReason::kNone;
  Usage usage_;
  mutable std::string parsed_text_;  // what parsed_ was parsed from
  mutable Json parsed_;
};

}  // namespace keel

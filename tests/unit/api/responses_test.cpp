// The Responses API wire format (src/api/responses/): golden cases in tests/golden/responses/
// (see its section of tests/golden/README.md) drive the request translation and the stream
// encoder; every response object and stream event is checked against OpenAI's published
// schemas when ../shared/specs/openai-openapi.yaml is present; bad input gets OpenAI's errors.
#include "api/responses/responses.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "golden_util.h"
#include "openapi_schema.h"

namespace keel {
namespace {

namespace fs = std::filesystem;
using namespace golden_util;

const fs::path kDir = golden_dir("responses");
constexpr int64_t kCreated = 1700000000;

// keel's generated ids (msg_..., fc_..., 24 hex digits) and clock readings -> fixed stand-ins,
// numbered in order of appearance, so that a golden can be compared.
class Normaliser {
 public:
  Json operator()(Json value) {
    walk(value);
    return value;
  }

 private:
  void walk(Json& value) {
    if (value.is_object()) {
      for (auto& [key, member] : value.items()) {
        if (key == "completed_at" && member.is_number()) member = 0;
        walk(member);
      }
    } else if (value.is_array()) {
      for (auto& item : value) walk(item);
    } else if (value.is_string()) {
      static const std::regex kGenerated("^(msg|fc|ctc|call|rs)_[0-9a-f]{24}$");
      const std::string& text = value.get_ref<const std::string&>();
      if (std::regex_match(text, kGenerated)) {
        auto [it, fresh] = ids_.emplace(text, "<" + text.substr(0, text.find('_')) + ":" +
                                                  std::to_string(ids_.size() + 1) + ">");
        value = it->second;
      }
    }
  }
  std::map<std::string, std::string> ids_;
};

ResponsesRequest parse_ok(const std::string& body) {
  auto parsed = parse_responses_request(body);
  EXPECT_TRUE(parsed.ok()) << (parsed ? "" : parsed.error().message);
  return parsed ? std::move(*parsed) : ResponsesRequest();
}

// The schema a stream event follows, by its type.
std::string event_schema(const std::string& type) {
  static const std::map<std::string, std::string> kSchemas = {
      {"response.created", "ResponseCreatedEvent"},
      {"response.in_progress", "ResponseInProgressEvent"},
      {"response.completed", "ResponseCompletedEvent"},
      {"response.incomplete", "ResponseIncompleteEvent"},
      {"response.failed", "ResponseFailedEvent"},
      {"response.output_item.added", "ResponseOutputItemAddedEvent"},
      {"response.output_item.done", "ResponseOutputItemDoneEvent"},
      {"response.content_part.added", "ResponseContentPartAddedEvent"},
      {"response.content_part.done", "ResponseContentPartDoneEvent"},
      {"response.output_text.delta", "ResponseTextDeltaEvent"},
      {"response.output_text.done", "ResponseTextDoneEvent"},
      {"response.function_call_arguments.delta", "ResponseFunctionCallArgumentsDeltaEvent"},
      {"response.function_call_arguments.done", "ResponseFunctionCallArgumentsDoneEvent"},
      {"response.custom_tool_call_input.delta", "ResponseCustomToolCallInputDeltaEvent"},
      {"response.custom_tool_call_input.done", "ResponseCustomToolCallInputDoneEvent"},
      {"response.reasoning_summary_part.added", "ResponseReasoningSummaryPartAddedEvent"},
      {"response.reasoning_summary_part.done", "ResponseReasoningSummaryPartDoneEvent"},
      {"response.reasoning_summary_text.delta", "ResponseReasoningSummaryTextDeltaEvent"},
      {"response.reasoning_summary_text.done", "ResponseReasoningSummaryTextDoneEvent"},
  };
  auto it = kSchemas.find(type);
  return it == kSchemas.end() ? std::string() : it->second;
}

// Request cases: <case>.request.json (+ <case>.history.json, stored items before it) ->
// <case>.upstream.json, what an OpenAI-compatible upstream gets.
TEST(ResponsesGolden, RequestsToUpstream) {
  const auto names = cases_with(kDir, "request.json");
  ASSERT_GE(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    ResponsesRequest req = parse_ok(read_text(kDir / (name + ".request.json")));
    const fs::path history_path = kDir / (name + ".history.json");
    Json history = fs::exists(history_path) ? read_json(history_path) : Json::array();
    auto items = parse_input_items(history, "history");
    ASSERT_TRUE(items.ok());
    build_messages(req, *items);
    const Json upstream = chat_request_to_wire(req.chat, "upstream-model");
    const fs::path expected = kDir / (name + ".upstream.json");
    if (std::getenv("KEEL_GOLDEN_WRITE")) std::ofstream(expected) << upstream.dump(2) << "\n";
    EXPECT_EQ(by_value(upstream), by_value(read_json(expected)));
    if (const auto* schemas = openai_schemas()) {
      EXPECT_SCHEMA(schemas, response_object(req, "resp_1", kCreated, "in_progress"), "Response");
    }
  }
}

// Stream cases: <case>.request.json and <case>.events.jsonl (native events, as the providers
// make them) -> <case>.stream.jsonl (the Responses events, ids and clock normalised). The
// response a non-streamed request gets is the last event's response.
// The events of a stream case, as the encoder writes them; `quiet` for a request that does not
// stream (no events, the final response only).
std::vector<ResponsesEvent> encode_case(const std::string& name, ResponsesStreamEncoder& encoder) {
  std::vector<ResponsesEvent> events;
  encoder.begin(events);
  for (const Json& line : read_jsonl(kDir / (name + ".events.jsonl"))) {
    if (const Json* error = member(line, "error")) {
      encoder.fail(Error(ErrorCode::kUnavailable, optional_string(*error, "message")), events);
      return events;
    }
    encoder.encode(event_from_json(line), events);
  }
  encoder.finish(events);
  return events;
}

TEST(ResponsesGolden, EventsToStream) {
  const auto names = cases_with(kDir, "events.jsonl");
  ASSERT_GE(names.size(), 4u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    ResponsesRequest req = parse_ok(read_text(kDir / (name + ".request.json")));
    ResponsesStreamEncoder encoder(ResponseText(req, "resp_golden", kCreated, "in_progress"),
                                   req.custom_tools);
    const std::vector<ResponsesEvent> events = encode_case(name, encoder);
    Normaliser normalise;
    Json stream = Json::array();
    std::vector<std::string> lines;
    for (size_t i = 0; i < events.size(); ++i) {
      const Json data = events[i].json();
      // Written as json_text writes the same value (no DOM behind it any more).
      EXPECT_EQ(events[i].data, json_text(data));
      EXPECT_EQ(data["sequence_number"], i);
      EXPECT_EQ(data["type"], events[i].type);
      if (const auto* schemas = openai_schemas()) {
        const std::string schema = event_schema(events[i].type);
        ASSERT_FALSE(schema.empty()) << events[i].type;
        EXPECT_SCHEMA(schemas, data, schema);
      }
      stream.push_back(normalise(data));
      lines.push_back(stream.back().dump());
    }
    EXPECT_EQ(events.back().json()["response"], encoder.response());
    EXPECT_EQ(encoder.response_text(), json_text(encoder.response()));
    const fs::path expected = kDir / (name + ".stream.jsonl");
    if (std::getenv("KEEL_GOLDEN_WRITE")) {
      std::ofstream out(expected);
      for (const std::string& line : lines) out << line << "\n";
    }
    EXPECT_EQ(by_value(stream), by_value(Json(read_jsonl(expected))));
    // Byte for byte, members in order: the goldens were written from Json objects built member
    // by member, as the encoder built them before it wrote text.
    std::istringstream golden(read_text(expected));
    std::string line;
    for (size_t i = 0; std::getline(golden, line); ++i) {
      ASSERT_LT(i, lines.size());
      EXPECT_EQ(lines[i], line) << "event " << i;
    }

    // A request that does not stream gets the very same response.
    ResponsesStreamEncoder quiet(ResponseText(req, "resp_golden", kCreated, "in_progress"),
                                 req.custom_tools);
    quiet.quiet();
    EXPECT_TRUE(encode_case(name, quiet).empty());
    Normaliser normalise_quiet;
    EXPECT_EQ(normalise_quiet(quiet.response()).dump(), stream.back()["response"].dump());
  }
}

// The response object as text (ResponseText) is what json_text writes of response_object, byte
// for byte, for the golden requests and for requests that echo every optional member.
TEST(ResponsesGolden, ResponseTextIsTheObjectsDump) {
  std::vector<std::string> bodies;
  for (const auto& name : cases_with(kDir, "request.json")) {
    bodies.push_back(read_text(kDir / (name + ".request.json")));
  }
  bodies.push_back(R"({"model":"m","input":"x","store":false,"user":"u","metadata":{"k":"v"},)"
                   R"("prompt_cache_key":"p","safety_identifier":"s","conversation":"conv_1",)"
                   R"("instructions":"say \"hi\"\n","temperature":0.25,"top_p":0.5,)"
                   R"("text":{"format":{"type":"json_object"}},"parallel_tool_calls":false,)"
                   R"("max_output_tokens":7,"max_tool_calls":2,"truncation":"auto",)"
                   R"("service_tier":"flex","top_logprobs":3,"reasoning":{"effort":"low"}})");
  bodies.push_back(R"({"model":"m\u00e9","input":"x","previous_response_id":"resp_0",)"
                   R"("text":{"verbosity":"low"},"temperature":1,"metadata":null,"user":null})");
  bodies.push_back(
      R"({"model":"m","input":"x","text":{"format":{"type":"text"},)"
      R"("verbosity":"high"},"tool_choice":"none","include":["reasoning.encrypted_content"]})");
  for (const std::string& body : bodies) {
    SCOPED_TRACE(body);
    ResponsesRequest req = parse_ok(body);
    for (const char* status : {"in_progress", "completed"}) {
      std::string text;
      ResponseText(req, "resp_1", kCreated, status).append_to(text, "[]");
      EXPECT_EQ(text, json_text(response_object(req, "resp_1", kCreated, status)));
    }
  }
  // Any object: its members in order, the slots in their places or added at the end.
  const Json given = Json::parse(R"({"id":"r","output":[],"x":[1,{"y":null}],"status":"s"})");
  ResponseText text(given);
  std::string out;
  text.append_to(out, "[]");
  EXPECT_EQ(out, json_text(given));
  text.set(ResponseText::kError, R"({"code":"server_error"})");
  text.set(ResponseText::kCompletedAt, "5");
  out.clear();
  text.append_to(out, "[1]");
  EXPECT_EQ(
      out,
      R"({"id":"r","output":[1],"x":[1,{"y":null}],"status":"s","error":{"code":"server_error"},"completed_at":5})");
}

Error parse_error(const std::string& body) {
  auto parsed = parse_responses_request(body);
  EXPECT_FALSE(parsed.ok()) << body;
  return parsed ? Error() : parsed.error();
}

TEST(ResponsesRequest, BadInputNamesWhatIsWrong) {
  Error error = parse_error(R"({"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]})");
  EXPECT_EQ(error.param, "input[0].type");
  EXPECT_NE(error.message.find("web_search_call"), std::string::npos);

  error = parse_error(R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})");
  EXPECT_EQ(error.param, "tools[0].type");
  EXPECT_NE(error.message.find("web_search"), std::string::npos);

  error = parse_error(
      R"({"model":"m","input":"x","previous_response_id":"resp_1","conversation":"conv_1"})");
  EXPECT_EQ(error.param, "previous_response_id");

  EXPECT_EQ(parse_error(R"({"input":"x"})").param, "model");
  EXPECT_EQ(parse_error(R"({"model":"m","input":[{"role":"tool","content":"x"}]})").param,
            "input[0].role");
  EXPECT_EQ(parse_error(R"({"model":"m","input":[{"type":"function_call","name":"f"}]})").param,
            "input[0].call_id");
  EXPECT_EQ(parse_error(R"({"model":"m","input":"x","max_output_tokens":0})").param,
            "max_output_tokens");
  EXPECT_EQ(parse_error(R"({"model":"m","input":"x","background":true})").param, "background");
  EXPECT_EQ(
      parse_error(
          R"({"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]})")
          .param,
      "input[0].content[0].file_id");
  EXPECT_EQ(http_status_for(parse_error("[1]").code), 400);
}

TEST(ResponsesRequest, ItemsKeepTheirIdsAndGetNewOnes) {
  ResponsesRequest req =
      parse_ok(R"({"model":"m","input":[{"id":"msg_given","role":"user","content":"a"},)"
               R"({"type":"function_call","call_id":"c1","name":"f","arguments":"{}"}]})");
  ASSERT_EQ(req.input_items.size(), 2u);
  EXPECT_EQ(req.input_items[0]["id"], "msg_given");
  EXPECT_EQ(req.input_items[0]["content"][0]["type"], "input_text");
  EXPECT_TRUE(str(req.input_items[1]["id"]).starts_with("fc_"));
  // Normalised items are a fixed point.
  auto again = parse_input_items(req.input_items, "input");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, req.input_items);
}

TEST(ResponsesRequest, ConversationAsStringOrObject) {
  EXPECT_EQ(parse_ok(R"({"model":"m","input":"x","conversation":"conv_1"})").conversation_id,
            "conv_1");
  EXPECT_EQ(parse_ok(R"({"model":"m","input":"x","conversation":{"id":"conv_2"}})").conversation_id,
            "conv_2");
  EXPECT_TRUE(parse_ok(R"({"model":"m","input":"x"})").store);
  EXPECT_FALSE(parse_ok(R"({"model":"m","input":"x","store":false})").store);
}

// Codex CLI groups tools in `namespace` tools: offered as "<namespace>__<name>" functions, their
// calls go back with name and namespace apart, and come in again the same way.
TEST(ResponsesRequest, NamespaceToolsRoundTrip) {
  ResponsesRequest req = parse_ok(
      R"({"model":"m","input":[{"type":"function_call","call_id":"c1","namespace":"crm",)"
      R"("name":"find","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"ok"}],)"
      R"("tools":[{"type":"namespace","name":"crm","description":"CRM","tools":[)"
      R"({"type":"function","name":"find","parameters":{"type":"object"}},)"
      R"({"type":"custom","name":"note"}]}]})");
  ASSERT_EQ(req.chat.tools.size(), 2u);
  EXPECT_EQ(req.chat.tools[0].name, "crm__find");
  EXPECT_EQ(req.chat.tools[1].name, "crm__note");
  EXPECT_TRUE(req.custom_tools.count("crm__note"));
  build_messages(req, Json::array());
  ASSERT_EQ(req.chat.messages.size(), 2u);
  EXPECT_EQ(req.chat.messages[0].tool_calls[0].name, "crm__find");

  ResponsesStreamEncoder encoder(response_object(req, "resp_1", kCreated, "in_progress"),
                                 req.custom_tools, req.namespaced);
  std::vector<ResponsesEvent> events;
  encoder.encode(ChatEvent::tool_call_start(0, "c2", "crm__find"), events);
  encoder.encode(ChatEvent::tool_args_delta(0, "{}"), events);
  encoder.finish(events);
  const Json& call = encoder.response()["output"][0];
  EXPECT_EQ(call["name"], "find");
  EXPECT_EQ(call["namespace"], "crm");
  if (const auto* schemas = openai_schemas()) EXPECT_SCHEMA(schemas, call, "FunctionToolCall");

  const Error error = parse_error(
      R"({"model":"m","input":"x","tools":[{"type":"namespace","name":"n","tools":[{"type":"web_search"}]}]})");
  EXPECT_EQ(error.param, "tools[0].tools[0].type");
}

TEST(ResponsesErrors, CodesAsOpenAINamesThem) {
  EXPECT_EQ(response_error(Error(ErrorCode::kResourceExhausted, "slow down"))["code"],
            "rate_limit_exceeded");
  EXPECT_EQ(response_error(Error(ErrorCode::kUnavailable, "down"))["code"], "server_error");
  Error context(ErrorCode::kInvalidArgument, "too long");
  context.type_code = "context_length_exceeded";
  EXPECT_EQ(response_error(context)["code"], "context_length_exceeded");
  EXPECT_EQ(response_error(Error(ErrorCode::kInvalidArgument, "bad"))["code"], "invalid_prompt");
}

TEST(ResponsesLists, PagesInEitherOrder) {
  Json items = Json::array();
  for (int i = 1; i <= 5; ++i) {
    Json text = {{"type", "input_text"}, {"text", "x"}};
    items.push_back({{"id", "it_" + std::to_string(i)},
                     {"type", "message"},
                     {"role", "user"},
                     {"content", Json::array({text})},
                     {"status", "completed"}});
  }
  auto page = item_page(items, "");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ((*page)["first_id"], "it_5");  // desc by default
  EXPECT_EQ((*page)["has_more"], false);
  page = item_page(items, "order=asc&limit=2&after=it_1");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ((*page)["data"].size(), 2u);
  EXPECT_EQ((*page)["first_id"], "it_2");
  EXPECT_EQ((*page)["last_id"], "it_3");
  EXPECT_EQ((*page)["has_more"], true);
  EXPECT_FALSE(item_page(items, "limit=0").ok());
  EXPECT_FALSE(item_page(items, "order=sideways").ok());
  EXPECT_FALSE(item_page(items, "after=nope").ok());
  if (const auto* schemas = openai_schemas()) {
    EXPECT_SCHEMA(schemas, *item_page(items, "limit=3"), "ConversationItemList");
    EXPECT_SCHEMA(schemas, conversation_object("conv_1", kCreated, Json::object()),
                  "ConversationResource");
  }
}

}  // namespace
}  // namespace keel

namespace keel {
namespace {

TEST(ResponsesFileSearch, ToolParsedAndItemStreamedAsOpenAIDoes) {
  ResponsesRequest req =
      parse_ok(R"({"model":"m","input":"x","include":["file_search_call.results"],"tools":[)"
               R"({"type":"file_search","vector_store_ids":["vs_1","vs_2"],"max_num_results":3,)"
               R"("ranking_options":{"ranker":"auto","score_threshold":0.01}}]})");
  ASSERT_TRUE(req.file_search.has_value());
  EXPECT_EQ(req.file_search->vector_store_ids, (std::vector<std::string>{"vs_1", "vs_2"}));
  EXPECT_EQ(req.file_search->max_num_results, 3);
  EXPECT_DOUBLE_EQ(req.file_search->score_threshold, 0.01);
  EXPECT_TRUE(req.file_search->include_results);
  EXPECT_EQ(req.file_search_spec.name, kFileSearchTool);
  EXPECT_TRUE(req.chat.tools.empty());  // keel's to run, not the client's

  ResponsesStreamEncoder encoder(response_object(req, "resp_1", kCreated, "in_progress"),
                                 req.custom_tools, req.namespaced);
  std::vector<ResponsesEvent> events;
  encoder.encode(ChatEvent::start(), events);
  encoder.file_search_begin("fs_1", Json::array({"restart"}), events);
  Json results = Json::array({{{"file_id", "file-1"},
                               {"filename", "a.md"},
                               {"score", 0.03},
                               {"text", "restarts"},
                               {"attributes", Json::object()}}});
  encoder.file_search_end("fs_1", results, "completed", events);
  encoder.encode(ChatEvent::text_delta("It restarts [1]."), events);
  Citation citation;
  citation.text_start = 12;
  citation.text_end = 15;
  citation.chunk_id = "file-1";  // a vector store's passage: its file's id
  citation.source = "a.md";
  encoder.encode(ChatEvent::cited(citation), events);
  encoder.finish(events);
  std::vector<std::string> types;
  for (const auto& event : events) types.push_back(event.type);
  const std::vector<std::string> expected = {"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",
                                             "response.file_search_call.in_progress",
                                             "response.file_search_call.searching",
                                             "response.file_search_call.completed",
                                             "response.output_item.done",
                                             "response.output_item.added",
                                             "response.content_part.added",
                                             "response.output_text.delta",
                                             "response.output_text.annotation.added",
                                             "response.output_text.done",
                                             "response.content_part.done",
                                             "response.output_item.done",
                                             "response.completed"};
  EXPECT_EQ(types, expected);
  const Json& output = encoder.response()["output"];
  ASSERT_EQ(output.size(), 2u);
  EXPECT_EQ(output[0]["status"], "completed");
  EXPECT_EQ(output[0]["results"], results);
  EXPECT_EQ(events[5].json()["output_index"], 0);
  EXPECT_EQ(events[7].json()["output_index"], 1);
  const Json annotation = output[1]["content"][0]["annotations"][0];
  EXPECT_EQ(
      annotation,
      Json::parse(R"({"type":"file_citation","file_id":"file-1","filename":"a.md","index":12})"));
  if (const auto* schemas = openai_schemas()) {
    EXPECT_SCHEMA(schemas, output[0], "FileSearchToolCall");
    EXPECT_SCHEMA(schemas, events[3].json(), "ResponseFileSearchCallInProgressEvent");
    EXPECT_SCHEMA(schemas, events[4].json(), "ResponseFileSearchCallSearchingEvent");
    EXPECT_SCHEMA(schemas, events[5].json(), "ResponseFileSearchCallCompletedEvent");
    EXPECT_SCHEMA(schemas, encoder.response(), "Response");
  }

  EXPECT_EQ(parse_error(R"({"model":"m","input":"x","tools":[{"type":"file_search"}]})").param,
            "tools[0].vector_store_ids");
  EXPECT_EQ(parse_error(R"({"model":"m","input":"x","tools":[{"type":"file_search",)"
                        R"("vector_store_ids":["vs_1"],"filters":{"type":"eq"}}]})")
                .param,
            "tools[0].filters.key");
  EXPECT_EQ(parse_error(R"({"model":"m","input":"x","tools":[{"type":"file_search",)"
                        R"("vector_store_ids":["vs_1"],"max_num_results":0}]})")
                .param,
            "tools[0].max_num_results");
}

TEST(ResponsesPage, BeforeCursorAndLimits) {
  Json items = Json::array();
  for (int i = 1; i <= 5; ++i) items.push_back({{"id", "it_" + std::to_string(i)}});
  auto page = item_page(items, "order=asc&limit=2&before=it_5");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ((*page)["first_id"], "it_3");
  EXPECT_EQ((*page)["last_id"], "it_4");
  EXPECT_EQ((*page)["has_more"], true);            // it_1 and it_2 come before
  page = item_page(items, "limit=2&before=it_3");  // desc: it_5, it_4 come before it_3
  ASSERT_TRUE(page.ok());
  EXPECT_EQ((*page)["first_id"], "it_5");
  EXPECT_EQ((*page)["has_more"], false);
  EXPECT_FALSE(item_page(items, "before=nope").ok());
  EXPECT_TRUE(item_page(items, "limit=500", 20, 10'000).ok());
  EXPECT_FALSE(item_page(items, "limit=500").ok());
}

}  // namespace
}  // namespace keel

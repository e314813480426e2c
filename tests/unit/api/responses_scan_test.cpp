// The fast scan of Responses request bodies (scan_responses_request, no Json tree of the body)
// against the full parse (parse_responses_request_parsed), the reference: on the goldens, on odd
// bodies and on mutated ones, whatever the scan reads must be the request the full parse gives,
// and parse_responses_request must give the full parse's request or error.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "api/json_util.h"
#include "api/responses/responses.h"
#include "golden_util.h"

namespace keel {
namespace {

const std::filesystem::path kDir = golden_util::golden_dir("responses");

std::string describe(const Result<ResponsesRequest>& request) {
  if (!request.ok()) {
    return "error " + std::to_string(static_cast<int>(request.error().code)) + " " +
           request.error().param + ": " + request.error().message;
  }
  return describe_request(*request);
}

// Both paths agree on `body`; true when the scan read it itself.
bool expect_same_request(const std::string& body) {
  const auto full = parse_responses_request_parsed(body);
  EXPECT_EQ(describe(parse_responses_request(body)), describe(full)) << body;
  if (full.ok()) {
    // Normalised items are a fixed point (and so what a client sends back is kept as it is).
    ResponsesRequest request = *full;
    const Json& items = input_as_items(request);
    auto again = parse_input_items(items, "input");
    EXPECT_TRUE(again.ok()) << body;
    if (again.ok()) {
      EXPECT_EQ(json_text(*again), json_text(items)) << body;
    }
  }
  ResponsesRequest scanned;
  if (!scan_responses_request(body, scanned)) return false;
  EXPECT_TRUE(full.ok()) << body;
  if (full.ok()) {
    EXPECT_EQ(describe_request(scanned), describe_request(*full)) << body;
  }
  return true;
}

TEST(ResponsesRequestScan, GoldenRequestsGiveTheSameRequest) {
  const auto names = golden_util::cases_with(kDir, "request.json");
  ASSERT_GE(names.size(), 5u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    // Every golden is of a shape the scan reads (items it does not know are parsed on their own).
    EXPECT_TRUE(expect_same_request(golden_util::read_text(kDir / (name + ".request.json"))));
  }
}

// Bodies the scan reads, and bodies it must hand over (or that the full path refuses).
TEST(ResponsesRequestScan, OddRequestsGiveTheSameRequest) {
  const char* read[] = {
      R"({"model":"bench","input":"hi","store":false})",
      R"({"model":"bench-stream","input":"hi","stream":true,"store":false})",
      R"( { "input" : "h\u00e9llo \"x\"\n" , "model" : "m" } )",
      R"({"model":"m"})",
      R"({"model":"","input":""})",
      R"({"model":"m","input":[]})",
      R"({"model":"m","instructions":"Be brief.","input":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"system","content":"c"},{"role":"developer","content":"d"}]})",
      R"({"model":"m","input":[{"type":"message","id":"msg_given","role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b","annotations":[]}]}]})",
      R"({"model":"m","input":[{"type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"a","annotations":[],"logprobs":[]}]}]})",
      R"({"model":"m","input":[{"role":"user","id":"","content":[]}]})",
      R"({"model":"m","input":[{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"ok"}]})",
      R"({"model":"m","input":[{"type":"function_call","id":"fc_1","call_id":"c1","namespace":"crm","name":"find","arguments":"{}","status":"completed"}]})",
      R"({"model":"m","input":[{"type":"custom_tool_call","call_id":"c1","name":"patch","input":"x"},{"type":"custom_tool_call_output","call_id":"c1","output":"done"}]})",
      // items the scan does not read itself, each parsed on its own
      R"({"model":"m","input":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"t"}],"encrypted_content":"e"},{"role":"user","content":"a"}]})",
      R"({"model":"m","input":[{"type":"function_call_output","call_id":"c1","output":[{"type":"input_text","text":"x"}]}]})",
      R"({"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]})",
      R"({"model":"m","input":[{"role":"assistant","content":[{"type":"output_text","text":"a","annotations":[{"type":"url_citation"}]}]}]})",
      R"({"model":"m","input":[{"role":"user","content":"a","extra":1.5}]})",
      // settings, each parsed on its own
      R"({"model":"m","input":"x","temperature":0.5,"top_p":1,"max_output_tokens":64,"parallel_tool_calls":false,"user":"u","prompt_cache_key":"k","metadata":{"a":"b"},"include":["reasoning.encrypted_content"],"truncation":"auto","service_tier":"auto","safety_identifier":"s"})",
      R"({"model":"m","input":"x","tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"number","minimum":0.5}}},"strict":true}],"tool_choice":{"type":"function","name":"f"}})",
      R"({"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"},"strict":true},"verbosity":"low"},"reasoning":{"effort":"low","summary":"auto"}})",
      R"({"model":"m","input":"x","tools":[{"type":"custom","name":"c"},{"type":"namespace","name":"n","tools":[{"type":"function","name":"g"}]}],"tool_choice":"required"})",
      R"({"model":"m","input":"x","temperature":null,"metadata":null,"background":false})",
      R"({"model":"m","input":"x","conversation":"conv_1"})",
      R"({"model":"m","input":"x","conversation":{"id":"conv_2"},"store":true})",
      R"({"model":"m","input":"x","previous_response_id":"resp_1","unknown":{"a":[1,true,null]}})",
  };
  const char* handed_over[] = {
      R"({"model":"m","input":"a","input":"b"})",
      R"({"model":"m","model":"n","input":"x"})",
      R"({"model":"m","input":"x","temperature":0.5,"temperature":1})",
      R"({"model":"m","input":null})",
      R"({"model":"m","input":"x","stream":null})",
      R"({"model":"m","input":"x","unknown":1.5})",
      R"({"model":"m","input":"x","conversation":null})",
      R"({"input":"x"})",
      R"({"model":7,"input":"x"})",
      R"({"model":"m","input":7})",
      R"({"model":"m","input":[7]})",
      R"({"model":"m","input":[{"role":"tool","content":"x"}]})",
      R"({"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]})",
      R"({"model":"m","input":[{"type":"function_call","name":"f"}]})",
      R"({"model":"m","input":"x","tools":[{"type":"web_search"}]})",
      R"({"model":"m","input":"x","max_output_tokens":0})",
      R"({"model":"m","input":"x","temperature":3})",
      R"({"model":"m","input":"x","temperature":1e400})",
      R"({"model":"m","input":"x","background":true})",
      R"({"model":"m","input":"x","previous_response_id":"resp_1","conversation":"conv_1"})",
      R"({"model":"m","input":"x","stream":"yes"})",
      R"({"model":"m","input":"\ud800"})",
      "{\"model\":\"m\",\"input\":\"bad \xc3\x28\"}",
      "\xef\xbb\xbf{\"model\":\"m\",\"input\":\"bom\"}",
      R"({"model":"m","input":"x"} trailing)",
      R"({"model":"m","input":"x",})",
      R"([{"model":"m"}])",
      "",
  };
  for (const char* body : read) EXPECT_TRUE(expect_same_request(body)) << body;
  for (const char* body : handed_over) EXPECT_FALSE(expect_same_request(body)) << body;
}

TEST(ResponsesRequestScan, MutatedRequestsGiveTheSameRequest) {
  const std::string seeds[] = {
      R"({"model":"bench","input":"h\u00e9llo \"x\"","stream":true,"store":false,"instructions":"Be brief.","max_output_tokens":64})",
      R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"}]},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"ok"}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":"auto","parallel_tool_calls":false,"temperature":0.5})",
  };
  for (const auto& seed : seeds) EXPECT_TRUE(expect_same_request(seed)) << seed;
  std::mt19937 rng(4711);
  const char specials[] = "{}[]\",:0123456789-+.eE\\ntrufalsnu\xff\xc3\xa9 ";
  for (const auto& seed : seeds) {
    for (int round = 0; round < 4000; ++round) {
      expect_same_request(golden_util::mutate(seed, rng, {specials, sizeof specials - 1}, 3, 6));
      if (HasFailure()) return;
    }
  }
  // The fuzz target's seeds too (items and tools of every kind).
  const auto corpus = std::filesystem::path(KEEL_SOURCE_DIR) / "fuzz/corpus/responses_request";
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    const std::string seed = golden_util::read_text(entry.path());
    for (int round = 0; round < 300; ++round) {
      expect_same_request(golden_util::mutate(seed, rng, {specials, sizeof specials - 1}, 3, 6));
      if (HasFailure()) return;
    }
  }
}

// The normalised items, byte for byte, by either path (ids made by keel aside).
TEST(ResponsesRequestScan, NormalisedItemsAsTheWireHasThem) {
  const std::string body =
      R"({"model":"m","input":[{"role":"assistant","content":"a"},{"role":"user","content":"b"},)"
      R"({"type":"function_call","call_id":"c","name":"f","arguments":"{}"}]})";
  const std::string expected =
      R"([{"id":"msg_*","type":"message","role":"assistant","content":[{"type":"output_text",)"
      R"("text":"a","annotations":[]}],"status":"completed"},{"id":"msg_*","type":"message",)"
      R"("role":"user","content":[{"type":"input_text","text":"b"}],"status":"completed"},)"
      R"({"id":"fc_*","type":"function_call","status":"completed","call_id":"c","name":"f",)"
      R"("arguments":"{}"}])";
  ResponsesRequest scanned;
  ASSERT_TRUE(scan_responses_request(body, scanned));
  auto full = parse_responses_request_parsed(body);
  ASSERT_TRUE(full.ok());
  for (const ResponsesRequest* request : {&scanned, &*full}) {
    const Json described = Json::parse(describe_request(*request));
    EXPECT_EQ(json_text(described["input_items"]), expected);
  }
}

// An input string becomes a user message directly; its item, made for the store, gives the same.
TEST(ResponsesRequestScan, InputStringIsItsItemsMessage) {
  auto request = parse_responses_request(R"({"model":"m","input":"h\u00e9llo","store":true})");
  ASSERT_TRUE(request.ok());
  ASSERT_TRUE(request->input_text.has_value());
  EXPECT_TRUE(request->input_items.empty());
  build_messages(*request, Json::array());
  ASSERT_EQ(request->chat.messages.size(), 1u);
  const Json& items = input_as_items(*request);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_TRUE(str(items[0]["id"]).starts_with("msg_"));
  EXPECT_EQ(json_text(items[0]),
            json_text(Json::parse(R"({"id":"x","type":"message","role":"user","content":)"
                                  R"([{"type":"input_text","text":"h\u00e9llo"}],)"
                                  R"("status":"completed"})"))
                .replace(7, 1, str(items[0]["id"])));
  EXPECT_EQ(&input_as_items(*request), &items);  // made once
  EXPECT_EQ(str(input_as_items(*request)[0]["id"]), str(items[0]["id"]));
  std::vector<Message> from_items;
  items_to_messages(items, from_items);
  ASSERT_EQ(from_items.size(), 1u);
  const Message& direct = request->chat.messages[0];
  EXPECT_EQ(direct.role, from_items[0].role);
  EXPECT_EQ(direct.text(), from_items[0].text());
  EXPECT_EQ(direct.content_is_string, from_items[0].content_is_string);
  EXPECT_EQ(direct.content.size(), from_items[0].content.size());
}

}  // namespace
}  // namespace keel

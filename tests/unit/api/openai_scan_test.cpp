// The fast paths for OpenAI bodies and chunks (JsonScanner, no Json tree) against the full
// parse: on golden, odd and mutated inputs both must give the same events and errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "api/json_scan.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "golden_util.h"

namespace keel {
namespace {

// Every field of an event, so that a difference anywhere shows.
std::string describe(const ChatEvent& e) {
  std::ostringstream out;
  out << static_cast<int>(e.kind) << '|' << e.text << '|' << e.tool_index << '|' << e.tool_id
      << '|' << e.tool_name << '|' << static_cast<int>(e.finish) << '|' << e.usage.prompt_tokens
      << ',' << e.usage.completion_tokens << ',' << e.usage.total_tokens << ','
      << (e.usage.cached_tokens ? std::to_string(*e.usage.cached_tokens) : "-") << ','
      << e.usage.present << '|' << static_cast<int>(e.error.code) << ':' << e.error.message << '|'
      << e.id << '|' << e.model;
  return out.str();
}

std::string describe(const std::vector<ChatEvent>& events) {
  std::string out;
  for (const auto& e : events) out += describe(e) + "\n";
  return out;
}

// A stream of chunks through a fast and a full decoder: the same events and statuses.
void expect_same_stream(const std::vector<std::string>& chunks) {
  OpenAIStreamDecoder fast;
  OpenAIStreamDecoder full(/*fast_path=*/false);
  std::vector<ChatEvent> fast_events, full_events;
  for (const auto& chunk : chunks) {
    Status fast_status = fast.decode(chunk, fast_events);
    Status full_status = full.decode(chunk, full_events);
    ASSERT_EQ(fast_status.ok(), full_status.ok()) << chunk;
    if (!fast_status.ok()) {
      EXPECT_EQ(fast_status.error().message, full_status.error().message) << chunk;
      EXPECT_EQ(fast_status.error().code, full_status.error().code) << chunk;
    }
    ASSERT_EQ(describe(fast_events), describe(full_events)) << chunk;
  }
  fast.finish(fast_events);
  full.finish(full_events);
  EXPECT_EQ(describe(fast_events), describe(full_events));
}

void expect_same_body(const std::string& body) {
  auto fast = chat_response_from_wire(body);
  auto full = chat_response_from_wire_parsed(body);
  ASSERT_EQ(fast.ok(), full.ok()) << body;
  if (!fast.ok()) {
    EXPECT_EQ(fast.error().message, full.error().message) << body;
    return;
  }
  EXPECT_EQ(describe(*fast), describe(*full)) << body;
}

const std::filesystem::path kGolden = golden_util::golden_dir("openai");

// Odd but valid (or nearly valid) chunks: each takes the fast path or falls back, never differs.
const char* const kOddChunks[] = {
    R"({"id":"a","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
    R"({"choices":[{"delta":{"content":"no index"}}]})",
    R"({"choices":[{"index":null,"delta":{"content":"null index"}}]})",
    R"({"choices":[{"index":1,"delta":{"content":"second"}},{"index":0,"delta":{"content":"first"}}]})",
    R"({"choices":[{"index":"0","delta":{"content":"string index"}}]})",
    R"({"choices":[{"index":0.0,"delta":{"content":"float index"}}]})",
    R"({"choices":[{"index":-0,"delta":{"content":"minus zero"}}]})",
    R"({"choices":[{"index":0,"delta":null,"finish_reason":"length"}]})",
    R"({"choices":[{"index":0,"delta":{},"finish_reason":"weird"}]})",
    R"({"choices":[{"index":0,"delta":{},"finish_reason":7}]})",
    R"({"choices":[{"index":0,"delta":{"content":null,"tool_calls":null}}]})",
    R"({"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"parts"}]}}]})",
    R"({"choices":[{"index":0,"delta":{"content":5}}]})",
    R"({"choices":[{"index":0,"delta":"text"}]})",
    R"({"choices":[{"index":0,"delta":{"content":"a","content":"b"}}]})",
    R"({"choices":[{"index":0,"delta":{"content":"dup"}}],"choices":[]})",
    R"({"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2}})",
    R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":1}}})",
    R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":null,"total_tokens":null,"prompt_tokens_details":null}})",
    R"({"choices":[],"usage":{"prompt_tokens":-3,"completion_tokens":99999999999999999}})",
    R"({"choices":[],"usage":{"prompt_tokens":1.5}})",
    R"({"choices":[],"usage":{"prompt_tokens":"1"}})",
    R"({"choices":[],"usage":{"prompt_tokens_details":{"cached_tokens":"x"}}})",
    R"({"choices":[],"usage":{"prompt_tokens_details":7}})",
    R"({"choices":[],"usage":7})",
    R"({"choices":[],"usage":null})",
    R"({"choices":[{"index":0,"delta":{"content":"running"}}],"usage":{"prompt_tokens":1}})",
    R"({"choices":null,"error":{"message":"boom"}})",
    R"({"error":{"message":"boom"}})",
    R"({"object":"error","message":"vllm boom"})",
    R"({"choices":"x"})",
    R"({"choices":[1]})",
    R"([])",
    R"("just a string")",
    R"({"choices":[{"index":0,"delta":{"content":"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \u0000"}}]})",
    R"({"choices":[{"index":0,"delta":{"content":"lone \ud83d"}}]})",
    R"({"choices":[{"index":0,"delta":{"content":"lone \ude00"}}]})",
    R"({"choices":[{"index":0,"delta":{"content":"bad \x"}}]})",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"bad utf8 \xc3\x28\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"overlong \xc0\xaf\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"surrogate \xed\xa0\x80\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"raw\ttab\"}}]}",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"nul\0in\"}}]}",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}],"created":1e400})",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}],"created":01})",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}],"created":-})",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}],"extra":[1,{"a":[true,false,null]}]})",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}],"extra":nul})",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}],"extra":[1,]})",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}],})",
    R"({"choices":[{"index":0,"delta":{"content":"x"}}]} trailing)",
    " \t\r\n{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ws\"}}]} \n",
    "\xef\xbb\xbf{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"bom\"}}]}",
    R"({"ch\u006fices":[{"index":0,"delta":{"\u0063ontent":"escaped keys"}}]})",
    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\",\"r\xc3\xb4le\":1}}]}",
    R"({"id":7,"model":null,"choices":[{"index":0,"delta":{"content":"odd id"}}]})",
    R"({"id":"a","id":"b","choices":[{"index":0,"delta":{"content":"dup id"}}]})",
    R"({"choices":[{"index":0,"delta":{"content":"x","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}}]})",
    "",
    "{",
};

TEST(JsonScanner, StringsMatchNlohmann) {
  const std::string cases[] = {
      R"("plain")", R"("")", R"("esc \" \\ \/ \b \f \n \r \t")", R"("\u0041\u00e9\u20ac")",
      R"("\ud83d\ude00")", R"("\uD83D\uDE00")", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
  };
  for (const auto& text : cases) {
    JsonScanner scan(text);
    std::string value;
    ASSERT_TRUE(scan.string(value) && scan.end()) << text;
    EXPECT_EQ(value, Json::parse(text).get<std::string>()) << text;
  }
}

TEST(JsonScanner, RefusesWhatTheParserRefusesAndLeavesFloatsToIt) {
  const std::string refused[] = {
      R"("\ud83d")", R"("\ude00")", R"("\x")", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"", "\"a\tb\"", R"("unterminated)", "01", "-", "1.5", "1e3",
      "1234567890123456789", "[1,]", "{\"a\":1,}", "nul", "tru", "{\"a\" 1}",
  };
  for (const auto& text : refused) {
    JsonScanner scan(text);
    EXPECT_FALSE(scan.skip() && scan.end()) << text;
  }
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  JsonScanner nested(deep);   // the scanner holds a view: the text must outlive it
  EXPECT_FALSE(nested.skip());   // deeper than the scanner goes: the full parser decides
  JsonScanner ok(R"({"a":[1,-2,true,false,null,{"b":"c"}],"d":{}})");
  EXPECT_TRUE(ok.skip() && ok.end());
}

// raw(): a value's text, floats included (the parse of the text checks their range), syntax
// still checked.
TEST(JsonScanner, RawGivesTheValuesText) {
  const std::string texts[] = {"1.5",    "-0.25e-3",
                               "1E400",  "12345678901234567890",
                               R"("s")", R"({"a":[1.5,{"b":null}],"c":"d"})",
                               "[]",     "true"};
  for (const auto& text : texts) {
    const std::string spaced = " " + text + " ";  // the scanner views its text
    JsonScanner scan(spaced);
    std::string_view raw;
    EXPECT_TRUE(scan.raw(raw) && scan.end()) << text;
    EXPECT_EQ(raw, text);
  }
  const std::string body = R"({"t": 0.5 ,"u":[1e3]})";
  JsonScanner scan(body);
  std::vector<std::string> values;
  ASSERT_TRUE(scan.object([&](std::string_view) {
    std::string_view raw;
    if (!scan.raw(raw)) return false;
    values.emplace_back(raw);
    return true;
  }) && scan.end());
  EXPECT_EQ(values, (std::vector<std::string>{"0.5", "[1e3]"}));
  for (const std::string text : {"01", "1.", ".5", "1e", "-", "1.5.5", "[1.5,]", "{\"a\":1e}"}) {
    JsonScanner bad(text);
    std::string_view raw;
    EXPECT_FALSE(bad.raw(raw) && bad.end()) << text;
  }
}

// The golden files named *.KIND, read; at least `minimum` of them.
std::vector<std::string> golden_texts(const std::string& kind, size_t minimum) {
  std::vector<std::string> texts;
  for (const auto& name : golden_util::cases_with(kGolden, kind)) {
    texts.push_back(golden_util::read_text(kGolden / (name + "." + kind)));
  }
  EXPECT_GE(texts.size(), minimum) << kind;
  return texts;
}

TEST(OpenAIFastPath, GoldenStreamsGiveTheSameEvents) {
  for (const auto& text : golden_texts("sse", 4)) {
    expect_same_stream(golden_util::sse_payloads(text));
  }
}

TEST(OpenAIFastPath, GoldenBodiesGiveTheSameEvents) {
  for (const auto& text : golden_texts("upstream_response.json", 4)) expect_same_body(text);
}

TEST(OpenAIFastPath, OddChunksGiveTheSameEvents) {
  for (const char* chunk : kOddChunks) {
    std::string text(chunk);
    expect_same_stream({text});
    // After a start, and after a finish: the decoder's state must evolve the same way.
    expect_same_stream({R"({"choices":[{"index":0,"delta":{"content":"a"}}]})", text});
    expect_same_stream(
        {R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})", text, text});
  }
  // The bodies: each chunk with "delta" renamed to "message" is a chat.completion.
  for (const char* chunk : kOddChunks) {
    std::string body(chunk);
    for (size_t at = body.find("\"delta\""); at != std::string::npos;
         at = body.find("\"delta\"", at)) {
      body.replace(at, 7, "\"message\"");
    }
    expect_same_body(body);
  }
}

TEST(OpenAIFastPath, MutatedChunksGiveTheSameEvents) {
  const std::string seeds[] = {
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"h\u00e9llo \"x\""},"logprobs":null,"finish_reason":null}]})",
      R"({"id":"c","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":2}}})",
      R"({"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello","refusal":null},"finish_reason":"length"}],"usage":{"prompt_tokens":8,"completion_tokens":6,"total_tokens":14}})",
  };
  std::mt19937 rng(4242);
  const char specials[] = "{}[]\",:0123456789-+.eE\\ntrufalsnu\xff\xc3\xa9 ";
  for (const auto& seed : seeds) {
    for (int round = 0; round < 4000; ++round) {
      std::string input = golden_util::mutate(seed, rng, {specials, sizeof specials - 1}, 3, 6);
      expect_same_stream({input});
      expect_same_body(input);
      if (HasFatalFailure()) return;
    }
  }
}

// Later chunks that repeat the first chunk's members before "choices" byte for byte are read
// from "choices" on; with the rest odd, mutated, or repeating a key of the prefix, the events
// and errors must still be those of the full parse.
TEST(OpenAIFastPath, ChunksRepeatingTheFirstOnesPrefixGiveTheSameEvents) {
  const std::string prefix =
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",)";
  const std::string first = prefix + R"("choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})";
  const std::string rests[] = {
      R"("choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]})",
      R"("choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})",
      R"("id":"other","model":"n","choices":[{"index":0,"delta":{"content":"repeats id"}}]})",
      R"("choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}})",
      R"("error":{"message":"boom"}})",
      R"("choices":[{"index":0,"delta":{"content":"a"}}],"choices":[]})",
      R"("choices":[{"index":0,"delta":{"content":"unterminated"}}])",
      R"("choices":[{"index":0,"delta":{"content":"trailing"}}]} x)",
  };
  for (const auto& rest : rests) {
    expect_same_stream({first, prefix + rest});
    expect_same_stream({first, prefix + rest, prefix + rests[0]});
  }
  // The prefix is taken only when no usage member comes before "choices".
  const std::string usage_first = R"({"id":"u","usage":null,)";
  expect_same_stream({usage_first + rests[0], usage_first + rests[1]});
  std::mt19937 rng(777);
  const char specials[] = "{}[]\",:0123456789-+.eE\\ntrufalsnu\xff\xc3\xa9 ";
  for (const auto& rest : rests) {
    for (int round = 0; round < 1500; ++round) {
      std::string mutated = golden_util::mutate(rest, rng, {specials, sizeof specials - 1}, 3, 6);
      expect_same_stream({first, prefix + mutated, prefix + rests[0]});
      if (HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace keel

namespace keel {
namespace {

TEST(OpenAIResponseToWireText, IsTheDumpOfTheJson) {
  const std::string texts[] = {"", "Hello", "quote \" backslash \\ slash /", "ctl \b\f\n\r\t\x01\x1f\x7f",
                               "utf8 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "bad \xc3\x28 utf8",
                               "overlong \xc0\xaf"};
  const FinishReason finishes[] = {FinishReason::kNone, FinishReason::kStop, FinishReason::kLength,
                                   FinishReason::kToolCalls, FinishReason::kContentFilter,
                                   FinishReason::kError};
  int checked = 0;
  for (const auto& text : texts) {
    for (FinishReason finish : finishes) {
      for (int variant = 0; variant < 4; ++variant) {
        ChatResponse resp;
        resp.id = variant == 3 ? "chatcmpl-\xff" : "chatcmpl-abc";
        resp.model = variant == 2 ? "m\"odel\n" : "gpt-4o";
        resp.created = variant == 1 ? -5 : 1764167000;
        if (!text.empty() || variant != 0) set_string_content(resp.message, text);
        resp.finish = finish;
        resp.usage.prompt_tokens = 8 + variant;
        resp.usage.completion_tokens = 6;
        resp.usage.total_tokens = 14 + variant;
        if (variant % 2 == 1) resp.usage.cached_tokens = variant;
        if (variant == 2 && finish == FinishReason::kToolCalls) {
          ToolCall call;
          call.id = "call_1";
          call.name = "f";
          call.arguments = R"({"a":1})";
          resp.message.tool_calls.push_back(call);
        }
        EXPECT_EQ(chat_response_to_wire_text(resp),
                  chat_response_to_wire(resp).dump(-1, ' ', false, Json::error_handler_t::replace))
            << text;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace keel

// ---- client requests: parse_chat_request's fast path against parse_chat_request_parsed ------

namespace keel {
namespace {

// Everything a parsed request carries, so that a difference anywhere shows.
std::string describe(const Result<ChatRequest>& request) {
  if (!request.ok()) {
    return "error " + std::to_string(static_cast<int>(request.error().code)) + " " +
           request.error().param + ": " + request.error().message;
  }
  const ChatRequest& r = *request;
  std::ostringstream out;
  out << r.model << '|' << r.stream << r.include_usage << '|' << r.user << '|'
      << r.passthrough.dump() << '|' << chat_request_to_wire(r, "upstream").dump();
  for (const auto& m : r.messages) {
    out << '|' << static_cast<int>(m.role) << ':' << m.name << ':' << m.content_is_string << ':'
        << m.content.size() << ':' << m.text();
  }
  return out.str();
}

void expect_same_request(const std::string& body) {
  auto request = parse_chat_request(body);
  EXPECT_EQ(describe(request), describe(parse_chat_request_parsed(body))) << body;
  if (request.ok()) {
    for (const char* model : {"upstream", "caf\xc3\xa9 \"m\"", "bad \xff"}) {
      EXPECT_EQ(chat_request_to_wire_text(*request, model),
                chat_request_to_wire(*request, model).dump(-1, ' ', false,
                                                           Json::error_handler_t::replace))
          << body;
    }
  }
}

TEST(OpenAIRequestFastPath, GoldenRequestsGiveTheSameRequest) {
  for (const auto& text : golden_texts("request.json", 5)) expect_same_request(text);
}

// Bodies the fast path reads, bodies it must hand over, and bodies the full path refuses.
TEST(OpenAIRequestFastPath, OddRequestsGiveTheSameRequest) {
  const char* bodies[] = {
      R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
      R"( { "messages" : [ {"content":"hi","role":"user","name":"ann"} ] , "model":"m" } )",
      R"({"model":"m","messages":[{"role":"system","content":""},{"role":"developer","content":"d"},{"role":"user","content":"h\u00e9llo \"x\"\n"},{"role":"assistant","content":"a"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"max_completion_tokens":3,"user":"u"})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false,"stream_options":{},"max_completion_tokens":7})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"max_completion_tokens":9})",
      // handed over: each needs the full path (or is refused there)
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1})",
      R"({"model":"m","messages":[{"role":"tool","content":"1","tool_call_id":"a"}]})",
      R"({"model":"m","messages":[{"role":"tool","content":"1"}]})",
      R"({"model":"m","messages":[{"role":"function","content":"1"}]})",
      R"({"model":"m","messages":[{"role":"robot","content":"1"}]})",
      R"({"model":"m","messages":[{"role":"user"}]})",
      R"({"model":"m","messages":[{"role":"assistant","content":null}]})",
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]})",
      R"({"model":"m","messages":[{"role":"user","content":"a","content":"b"}]})",
      R"({"model":"m","model":"n","messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"","messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"m","messages":[]})",
      R"({"model":"m"})",
      R"({"messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":-3})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":1e3})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":12345678901234567890})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":null})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":"yes"})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":1}})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stream_options":{"other":true}})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"user":null})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"n":1,"extra":{"a":[1]}})",
      R"({"model":"m","messages":[{"role":"user","content":"hi","name":null}]})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}]} x)",
      R"({"model":"m","messages":[{"role":"user","content":"\ud800"}]})",
      R"({"model":"m","messages":[{"role":"user","content":"bad \xc3\x28"}]})",
      R"([{"model":"m"}])",
      R"({"model":7,"messages":[{"role":"user","content":"hi"}]})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a","\u0001"],"max_tokens":3})",
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"x","stream":true})",
  };
  for (const char* body : bodies) expect_same_request(body);
  // The first five are of the usual shape: the fast path reads them itself.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(scan_chat_request(bodies[i]).has_value()) << bodies[i];
  for (int i = 5; i < static_cast<int>(std::size(bodies)); ++i) {
    EXPECT_FALSE(scan_chat_request(bodies[i]).has_value()) << bodies[i];
  }
}

TEST(OpenAIRequestFastPath, MutatedRequestsGiveTheSameRequest) {
  const std::string seeds[] = {
      R"({"model":"bench","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"h\u00e9llo \"x\"","name":"ann"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":64,"user":"u1"})",
      R"({"model":"m","messages":[{"role":"assistant","content":"a"},{"role":"user","content":"b"}],"max_completion_tokens":12,"stream":false})",
  };
  for (const auto& seed : seeds) EXPECT_TRUE(scan_chat_request(seed).has_value()) << seed;
  std::mt19937 rng(777);
  const char specials[] = "{}[]\",:0123456789-+.eE\\ntrufalsnu\xff\xc3\xa9 ";
  for (const auto& seed : seeds) {
    for (int round = 0; round < 6000; ++round) {
      expect_same_request(golden_util::mutate(seed, rng, {specials, sizeof specials - 1}, 3, 6));
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace keel

// Client request bodies at the Anthropic front door (POST /v1/messages, and as count_tokens
// bodies): parse_messages_request
// over arbitrary bytes, then what the router does with the native request for each upstream
// kind (chat_request_to_wire for OpenAI-compatible ones, chat_request_to_anthropic,
// chat_request_to_gemini), dumped as the providers dump them.
//
// Invariants beyond "no crash, no UB, no leak":
//  - a rejected request is a 400 whose Anthropic-shaped error body is valid UTF-8;
//  - an accepted one has a model and max_tokens >= 1 (Anthropic requires both);
//  - a translation an upstream kind cannot express is a 400, never another status;
//  - the Anthropic body keel builds from an accepted request is itself accepted by the front
//    door, and translating it again gives the same body (to_anthropic is a fixed point);
//  - the OpenAI body keel builds is accepted by the OpenAI front door's parser (images in tool
//    results included: they move to a user message);
//  - everything keel serialises is valid UTF-8 (dump_checked).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "api/anthropic/anthropic.h"
#include "api/gemini/gemini.h"
#include "api/openai_chat/openai_chat.h"
#include "fuzz_check.h"

namespace {

void check_client_error(const keel::Error& error) {
  FUZZ_CHECK(keel::http_status_for(error.code) == 400, "client input gave a non-400 error");
  std::string body = dump_checked(keel::anthropic_error_to_wire(error, "req_fuzz"));
  FUZZ_CHECK(!body.empty(), "empty error body");
}

void toward_anthropic(const keel::ChatRequest& request) {
  auto wire = keel::chat_request_to_anthropic(request, "upstream-model");
  if (!wire) {
    check_client_error(wire.error());
    return;
  }
  std::string body = dump_checked(*wire);
  auto again = keel::parse_messages_request(body);
  if (!again) {
    std::fprintf(stderr, "re-parse of our own Anthropic body failed: %s\n%s\n",
                 again.error().message.c_str(), body.c_str());
  }
  FUZZ_CHECK(again.ok(), "an Anthropic body built by keel is not a valid Messages request");
  auto wire_again = keel::chat_request_to_anthropic(*again, "upstream-model");
  FUZZ_CHECK(wire_again.ok(), "a re-parsed request cannot be sent to Anthropic");
  std::string body_again = dump_checked(*wire_again);
  if (body_again != body) {
    std::fprintf(stderr, "first:  %s\nsecond: %s\n", body.c_str(), body_again.c_str());
  }
  FUZZ_CHECK(body_again == body, "chat_request_to_anthropic(parse(x)) is not a fixed point");
}

void toward_openai(const keel::ChatRequest& request) {
  std::string body = dump_checked(keel::chat_request_to_wire(request, "upstream-model"));
  auto again = keel::parse_chat_request(body);
  if (!again) {
    std::fprintf(stderr, "parse of our own OpenAI body failed: %s\n%s\n",
                 again.error().message.c_str(), body.c_str());
  }
  FUZZ_CHECK(again.ok(), "an OpenAI body built by keel is not a valid chat request");
}

void toward_gemini(const keel::ChatRequest& request) {
  auto wire = keel::chat_request_to_gemini(request);
  if (!wire) {
    check_client_error(wire.error());
    return;
  }
  dump_checked(*wire);
}

}  // namespace

// The same bytes as a count_tokens body: errors are 400s; an accepted one's count bodies for
// Anthropic and Gemini are valid UTF-8, and Anthropic's holds no field count_tokens refuses.
void as_count_request(std::string_view input) {
  auto request = keel::parse_count_tokens_request(input);
  if (!request) {
    check_client_error(request.error());
    return;
  }
  if (auto wire = keel::chat_request_to_anthropic_count(*request, "upstream-model")) {
    dump_checked(*wire);
    for (const auto& [key, value] : wire->items()) {
      FUZZ_CHECK(key == "model" || key == "messages" || key == "system" || key == "tools" ||
                     key == "tool_choice" || key == "thinking" || key == "output_config",
                 "a count_tokens body with a field MessageCountTokensParams does not have");
    }
  } else {
    check_client_error(wire.error());
  }
  if (auto wire = keel::chat_request_to_gemini_count(*request, "upstream-model")) {
    dump_checked(*wire);
  } else {
    check_client_error(wire.error());
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  as_count_request(input);
  auto request = keel::parse_messages_request(input);
  if (!request) {
    check_client_error(request.error());
    return 0;
  }
  FUZZ_CHECK(!request->model.empty(), "an accepted request without a model");
  FUZZ_CHECK(request->sampling.max_tokens && *request->sampling.max_tokens >= 1,
             "an accepted request without max_tokens >= 1");
  toward_anthropic(*request);
  toward_openai(*request);
  toward_gemini(*request);
  return 0;
}

// Client request bodies at the legacy text completions front door (POST /v1/completions):
// parse_completion_request over arbitrary bytes, then what the router does with the native
// request for each upstream kind (chat_request_to_wire for OpenAI-compatible ones,
// chat_request_to_anthropic, chat_request_to_gemini) and what the front door writes back
// (completion_response_to_wire, CompletionStreamEncoder).
//
// Invariants beyond "no crash, no UB, no leak":
//  - a rejected request is a 400 whose error body is valid UTF-8;
//  - an accepted one is one user message holding the prompt, raw_prompt set, a model and
//    max_tokens >= 1 (16 when the body gives none);
//  - a translation an upstream kind cannot express is a 400, never another status;
//  - the OpenAI chat body keel builds is accepted by the chat front door's parser;
//  - everything keel serialises is valid UTF-8 (dump_checked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/anthropic/anthropic.h"
#include "api/gemini/gemini.h"
#include "api/openai_chat/openai_chat.h"
#include "fuzz_check.h"

namespace {

void check_client_error(const keel::Error& error) {
  FUZZ_CHECK(keel::http_status_for(error.code) == 400, "client input gave a non-400 error");
  std::string body = dump_checked(keel::error_to_wire(error));
  FUZZ_CHECK(!body.empty(), "empty error body");
}

void check_translation(const keel::Result<keel::Json>& wire) {
  if (!wire) {
    check_client_error(wire.error());
    return;
  }
  FUZZ_CHECK(!dump_checked(*wire).empty(), "empty upstream body");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto request = keel::parse_completion_request(input);
  if (!request) {
    check_client_error(request.error());
    return 0;
  }
  FUZZ_CHECK(!request->model.empty(), "accepted without a model");
  FUZZ_CHECK(request->raw_prompt, "a completion request not marked raw_prompt");
  FUZZ_CHECK(request->messages.size() == 1 && request->messages[0].role == keel::Role::kUser,
             "a completion request is not one user message");
  FUZZ_CHECK(request->sampling.max_tokens && *request->sampling.max_tokens >= 1,
             "a completion request without max_tokens");

  std::string body = dump_checked(keel::chat_request_to_wire(*request, "upstream-model"));
  auto chat = keel::parse_chat_request(body);
  FUZZ_CHECK(chat.ok(), "the OpenAI body built from a completion is not a valid chat request");
  check_translation(keel::chat_request_to_anthropic(*request, "upstream-model"));
  check_translation(keel::chat_request_to_gemini(*request));

  // The answer, whole and streamed, with the prompt as its text.
  keel::ChatResponse whole;
  whole.id = "cmpl-fuzz";
  whole.model = request->model;
  whole.message.role = keel::Role::kAssistant;
  whole.message.content = request->messages[0].content;
  whole.finish = keel::FinishReason::kLength;
  dump_checked(keel::completion_response_to_wire(whole));
  keel::CompletionStreamEncoder encoder("cmpl-fuzz", request->model, 0, request->include_usage);
  std::vector<keel::Json> chunks;
  encoder.encode(keel::ChatEvent::start(), chunks);
  encoder.encode(keel::ChatEvent::text_delta(request->messages[0].text()), chunks);
  encoder.encode(keel::ChatEvent::finished(keel::FinishReason::kStop), chunks);
  encoder.encode(keel::ChatEvent::usage_event(keel::Usage{}), chunks);
  for (const auto& chunk : chunks) {
    FUZZ_CHECK(chunk["object"] == "text_completion", "a chunk that is not a text_completion");
    dump_checked(chunk);
  }
  return 0;
}

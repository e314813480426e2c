// Responses API request bodies (POST /v1/responses): parse_responses_request over arbitrary
// bytes, then everything the server does with the result: the thread's messages (the input
// items also standing in for a stored history, as previous_response_id loads them), the
// upstream bodies for an OpenAI-compatible, Anthropic and Gemini target, the response object,
// and a turn streamed through ResponsesStreamEncoder (text, then a call of each declared tool
// with the input's first bytes as its arguments).
//
// Invariants beyond "no crash, no UB, no leak":
//  - the fast scan (scan_responses_request), whenever it reads a body, gives the request the
//    full parse gives (describe_request; ids keel makes for items aside);
//  - a rejected request is a 400 whose error body is valid UTF-8;
//  - normalised input items are a fixed point: parse_input_items(items) == items;
//  - an input string gives the messages its item would (input_as_items);
//  - stream events are numbered 0, 1, 2, ..., every item added is done once, in order, and the
//    final response's output is the done items;
//  - a reasoning item keel writes reads back as the same reasoning (reasoning_from_item);
//  - everything keel serialises is valid UTF-8 (dump_checked);
//  - the events and the response object, written as text without a Json DOM, are what json_text
//    writes of the same values (ResponseText against response_object's dump, too).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/anthropic/anthropic.h"
#include "api/gemini/gemini.h"
#include "api/openai_chat/openai_chat.h"
#include "api/responses/responses.h"
#include "fuzz_check.h"

namespace {

void check_stream(const keel::ResponsesRequest& request) {
  keel::ResponsesStreamEncoder encoder(keel::ResponseText(request, "resp_1", 1, "in_progress"),
                                       request.custom_tools);
  std::vector<keel::ResponsesEvent> events;
  encoder.begin(events);
  encoder.encode(keel::ChatEvent::start("up", "m"), events);
  // Reasoning first, as vendors send it, its opaque part from the request's own bytes.
  encoder.encode(keel::ChatEvent::reasoning_delta(0, "thinking"), events);
  encoder.encode(
      keel::ChatEvent::reasoning_signature(0, request.instructions, keel::kVendorAnthropic),
      events);
  encoder.encode(keel::ChatEvent::text_delta(std::string("hi")), events);
  int index = 0;
  for (const auto& tool : request.chat.tools) {
    encoder.encode(
        keel::ChatEvent::tool_call_start(index, "call_" + std::to_string(index), tool.name),
        events);
    encoder.encode(keel::ChatEvent::tool_args_delta(index, "{\"input\":\"x\"}"), events);
    ++index;
  }
  encoder.encode(keel::ChatEvent::finished(keel::FinishReason::kStop), events);
  encoder.finish(events);
  std::vector<std::string> added;
  std::vector<std::string> done;
  for (size_t i = 0; i < events.size(); ++i) {
    const keel::Json data = events[i].json();
    FUZZ_CHECK(keel::json_text(data) == events[i].data, "an event's text is not its value's dump");
    FUZZ_CHECK(data["sequence_number"] == i, "sequence numbers are not 0, 1, 2, ...");
    FUZZ_CHECK(data["type"] == events[i].type, "event type and data type differ");
    if (events[i].type == "response.output_item.added") added.push_back(data["item"]["id"]);
    if (events[i].type == "response.output_item.done") done.push_back(data["item"]["id"]);
    dump_checked(data);
  }
  FUZZ_CHECK(added == done, "items added and done differ");
  FUZZ_CHECK(events.back().type == "response.completed", "the stream does not end completed");
  FUZZ_CHECK(encoder.response()["output"].size() == done.size(), "final output lost items");
  FUZZ_CHECK(keel::json_text(encoder.response()) == encoder.response_text(),
             "the response's text is not its value's dump");
  const keel::ReasoningPart part = keel::reasoning_from_item(encoder.response()["output"][0]);
  FUZZ_CHECK(part.text == "thinking", "a reasoning item lost its text");
  FUZZ_CHECK(request.instructions.empty() || part.signature == request.instructions,
             "a reasoning item lost its signature");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto request = keel::parse_responses_request(input);
  auto full = keel::parse_responses_request_parsed(input);
  FUZZ_CHECK(request.ok() == full.ok(), "fast and full parses disagree on validity");
  keel::ResponsesRequest scanned;
  if (keel::scan_responses_request(input, scanned)) {
    FUZZ_CHECK(full.ok(), "the fast scan reads a body the full parse refuses");
    FUZZ_CHECK(keel::describe_request(scanned) == keel::describe_request(*full),
               "fast and full parses give different requests");
  }
  if (!request) {
    FUZZ_CHECK(request.error().message == full.error().message,
               "fast and full parses give different errors");
    FUZZ_CHECK(keel::http_status_for(request.error().code) == 400,
               "client input gave a non-400 error");
    dump_checked(keel::error_to_wire(request.error()));
    return 0;
  }
  // The messages of an input string, made directly, are those of its item.
  keel::build_messages(*request, keel::Json::array());
  const std::vector<keel::Message> direct = request->chat.messages;
  const keel::Json& input_items = keel::input_as_items(*request);
  if (request->input_text) {
    std::vector<keel::Message> from_items;
    keel::items_to_messages(input_items, from_items);
    FUZZ_CHECK(direct.size() == (request->instructions.empty() ? 0u : 1u) + from_items.size() &&
                   direct.back().text() == from_items.back().text() &&
                   direct.back().role == from_items.back().role &&
                   direct.back().content_is_string == from_items.back().content_is_string &&
                   direct.back().content.size() == from_items.back().content.size(),
               "an input string's message is not its item's");
  }
  const std::string items = dump_checked(input_items);
  auto again = keel::parse_input_items(input_items, "input");
  FUZZ_CHECK(again.ok(), "normalised items are refused");
  FUZZ_CHECK(dump_checked(*again) == items, "normalised items are not a fixed point");

  keel::build_messages(*request, request->input_items);
  dump_checked(keel::chat_request_to_wire(request->chat, "upstream-model"));
  if (!request->chat.messages.empty()) {
    // Translations to other vendors may refuse what they cannot express; they must not crash.
    (void)keel::chat_request_to_anthropic(request->chat, "claude");
    (void)keel::chat_request_to_gemini(request->chat);
  }
  const std::string object =
      dump_checked(keel::response_object(*request, "resp_1", 1, "in_progress"));
  std::string text;
  keel::ResponseText(*request, "resp_1", 1, "in_progress").append_to(text, "[]");
  FUZZ_CHECK(text == object, "ResponseText differs from response_object");
  check_stream(*request);
  auto page = keel::item_page(request->input_items, "order=asc&limit=2");
  FUZZ_CHECK(page.ok(), "a page of stored items failed");
  return 0;
}

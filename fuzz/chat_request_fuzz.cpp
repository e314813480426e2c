// Client request bodies: parse_chat_request / parse_embed_request over arbitrary bytes, then
// everything the server does with the result (the upstream body, its dump, the error body).
//
// Invariants beyond "no crash, no UB, no leak":
//  - whatever parses turns into an upstream body that serialises, and that body, fed back as
//    a client request, parses again to the same upstream body (to_wire is a fixed point:
//    openai_chat/upstream_request.cpp lists the normalisations a round trip may make, all
//    idempotent);
//  - a rejected request is a 400 whose error body is valid UTF-8 (it goes to the client);
//  - everything keel serialises is valid UTF-8 (dump_checked).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/openai_chat/openai_chat.h"
#include "fuzz_check.h"

namespace {

void check_error_body(const keel::Error& error) {
  FUZZ_CHECK(keel::http_status_for(error.code) == 400, "client input gave a non-400 error");
  std::string body = dump_checked(keel::error_to_wire(error));
  FUZZ_CHECK(!body.empty(), "empty error body");
}

void fuzz_chat(std::string_view input) {
  auto request = keel::parse_chat_request(input);
  // The fast path (usual shapes, no Json tree) and the full parse agree on everything.
  auto full = keel::parse_chat_request_parsed(input);
  FUZZ_CHECK(request.ok() == full.ok(), "fast and full request parses disagree on validity");
  if (!request) {
    FUZZ_CHECK(request.error().message == full.error().message,
               "fast and full request parses give different errors");
    check_error_body(request.error());
    return;
  }
  keel::Json wire = keel::chat_request_to_wire(*request, "upstream-model");
  std::string body = dump_checked(wire);
  FUZZ_CHECK(keel::chat_request_to_wire_text(*request, "upstream-model") == body,
             "chat_request_to_wire_text differs from the dump of chat_request_to_wire");
  FUZZ_CHECK(dump_checked(keel::chat_request_to_wire(*full, "upstream-model")) == body &&
                 request->stream == full->stream && request->include_usage == full->include_usage,
             "fast and full request parses give different requests");
  FUZZ_CHECK(wire.is_object() && wire["model"] == "upstream-model", "wire body lost its model");
  FUZZ_CHECK(wire["messages"].is_array() && wire["messages"].size() == request->messages.size(),
             "wire body lost messages");

  auto again = keel::parse_chat_request(body);
  if (!again) {
    std::fprintf(stderr, "re-parse of our own upstream body failed: %s\n%s\n",
                 again.error().message.c_str(), body.c_str());
  }
  FUZZ_CHECK(again.ok(), "an upstream body built by keel is not a valid request");
  std::string body_again = dump_checked(keel::chat_request_to_wire(*again, "upstream-model"));
  if (body_again != body) {
    std::fprintf(stderr, "first:  %s\nsecond: %s\n", body.c_str(), body_again.c_str());
  }
  FUZZ_CHECK(body_again == body, "chat_request_to_wire(parse(x)) is not a fixed point");
}

void fuzz_embed(std::string_view input) {
  auto request = keel::parse_embed_request(input);
  if (!request) {
    check_error_body(request.error());
    return;
  }
  FUZZ_CHECK(!request->model.empty(), "embed request without a model");
  std::string body = dump_checked(keel::embed_request_to_wire(*request, "upstream-model"));
  FUZZ_CHECK(!body.empty(), "empty embed body");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_chat(input);
  fuzz_embed(input);
  return 0;
}

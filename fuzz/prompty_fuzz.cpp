// The .prompty reader over arbitrary bytes, as `keel serve` and `keel config check` read a
// prompt file (PromptSet::load): parse_prompty (front matter fence, YAML, dialect, inputs,
// model parameters, ${env:...} / ${file:...} references), then check_inputs with the file's
// own `sample` and with nothing, agent_json, and split_messages over the body as rendered text
// in both dialects' modes. The fuzz build has no llama.cpp (KEEL_LOCAL=OFF), so Jinja rendering
// itself (llama.cpp's code) is not driven here; with the local engine, render_prompty is.
//
// Invariants beyond "no crash, no UB, no leak":
//  - every error is kInvalidArgument and its message starts with "<path>:<line>: ";
//  - an accepted file's inputs have unique non-empty names, and each default has its type;
//  - check_inputs fills every input with a default, and its errors name the file;
//  - split_messages gives only known roles, and its contents hold no leading or trailing
//    newline; what keel builds from the file dumps as valid UTF-8 when the file was UTF-8.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_check.h"
#include "prompts/prompty.h"

namespace {

// A folder that does not exist: ${file:...} fails to open, never reads this machine's files.
constexpr const char* kPath = "/nonexistent-keel-fuzz/fuzz.prompty";

bool valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::ordered_json(text).dump();
    return true;
  } catch (const nlohmann::ordered_json::type_error&) {
    return false;
  }
}

void check_error(const keel::Error& error) {
  FUZZ_CHECK(error.code == keel::ErrorCode::kInvalidArgument ||
                 error.code == keel::ErrorCode::kUnavailable,
             "a prompt file's error with an unexpected code");
  const std::string prefix = std::string(kPath) + ":";
  FUZZ_CHECK(error.message.rfind(prefix, 0) == 0, "an error that does not name the file");
}

void check_messages(const std::string& body, bool classic, bool utf8) {
  auto messages = keel::split_messages(body, classic, kPath, 2);
  if (!messages) {
    check_error(messages.error());
    return;
  }
  static const std::set<std::string> kRoles = {"system",    "user",     "assistant",
                                               "developer", "function", "tool"};
  for (const auto& message : *messages) {
    FUZZ_CHECK(kRoles.count(message.role) == 1, "a message with an unknown role");
    if (!message.text.empty()) {
      FUZZ_CHECK(message.text.front() != '\n' && message.text.back() != '\n',
                 "message content not trimmed of newlines");
    }
  }
  auto chat = keel::to_chat_messages(*messages, kPath);
  FUZZ_CHECK(chat.ok(), "split messages keel cannot send");
  if (utf8) {
    for (const auto& message : *messages) {
      dump_checked(nlohmann::ordered_json{
          {"role", message.role}, {"content", message.text}, {"metadata", message.metadata}});
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool utf8 = valid_utf8(text);
  keel::PromptyLoadOptions options;
  options.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "KEEL_FUZZ_SET") return std::string("set-value");
    return std::nullopt;
  };
  auto prompt = keel::parse_prompty(text, kPath, options);
  if (!prompt) {
    check_error(prompt.error());
    return 0;
  }
  std::set<std::string> names;
  for (const auto& input : prompt->inputs) {
    FUZZ_CHECK(!input.name.empty(), "an input without a name");
    FUZZ_CHECK(names.insert(input.name).second, "a repeated input");
  }
  if (utf8) dump_checked(prompt->agent_json());
  for (const nlohmann::ordered_json& given :
       {prompt->front_matter.value("sample", nlohmann::ordered_json::object()),
        nlohmann::ordered_json::object()}) {
    auto checked = keel::check_inputs(*prompt, given);
    if (!checked) {
      check_error(checked.error());
      continue;
    }
    for (const auto& input : prompt->inputs) {
      if (input.default_value) {
        FUZZ_CHECK(checked->contains(input.name), "an input with a default left unfilled");
      }
    }
    // With the local engine this renders; without it, it is refused naming the file.
    if (auto rendered = keel::render_prompty(*prompt, *checked); !rendered) {
      check_error(rendered.error());
    }
  }
  check_messages(prompt->body, prompt->dialect == keel::PromptyDialect::kClassic, utf8);
  return 0;
}

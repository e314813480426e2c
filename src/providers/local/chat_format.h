// How a chat request becomes a prompt for a local model, and how the model's text becomes native
// events again. With a chat template (GGUF metadata), llama.cpp's common chat code renders the
// messages and tools, makes the grammar for tool calls and response_format, and parses the
// output back into content and tool calls. Without one, the prompt is a plain transcript, and a
// forced tool call (tool_choice required or named) is one bare JSON object held to the tools'
// schemas by a grammar; with tool_choice auto such a model answers in text.
//
//   ChatFormat format(model, "local", "qwen2.5-0.5b");
//   auto prepared = format.prepare(request);        // 400-class errors for what it cannot serve
//   OutputParser parser(prepared->parse_output, prepared->parser);
//   for (auto& event : parser.feed(piece, /*final=*/false)) ...
//
// Threads: prepare() may be called from any thread (the template is guarded); an OutputParser
// belongs to one request.
#pragma once

#include <chat.h>
#include <llama.h>
#include <sampling.h>

#include <mutex>
#include <string>
#include <vector>

#include "api/chat.h"
#include "core/result.h"

namespace keel::local {

// What a ChatRequest becomes before it reaches the engine.
struct Prepared {
  std::string prompt;
  common_params_sampling sampling;
  std::vector<std::string> stops;
  std::vector<std::string> preserved;
  // The prompt came from the model's chat template: it is tokenized with its special tokens
  // (user text in a plain transcript is not).
  bool templated = false;
  // The output goes through llama.cpp's parser (a chat template's, or the generic one of a
  // forced call without a template).
  bool parse_output = false;
  common_chat_parser_params parser;
  int max_tokens = -1;
};

class ChatFormat {
 public:
  // Reads the model's chat template; a template llama.cpp cannot parse is logged and replaced
  // by the plain transcript.
  ChatFormat(const llama_model* model, std::string provider_name, std::string model_name);

  bool has_template() const { return templates_ != nullptr; }
  Result<Prepared> prepare(const ChatRequest& request) const;

 private:
  Status apply_template(const ChatRequest& request, const std::string& schema,
                        Prepared& out) const;

  std::string provider_name_;
  std::string model_name_;
  int32_t n_vocab_ = 0;  // token ids of logit_bias are below it
  common_chat_templates_ptr templates_;
  mutable std::mutex templates_mutex_;  // io threads share the template (jinja state)
};

// Turns the generated text into native events. With a chat template, llama.cpp's chat parser
// splits it into content and tool calls; it is re-run over the whole text as it grows (as
// llama-server does), and only what extends what was already sent is sent.
class OutputParser {
 public:
  OutputParser(bool parse, common_chat_parser_params params)
      : parse_(parse), params_(std::move(params)) {}

  std::vector<ChatEvent> feed(const std::string& text, bool final);
  bool has_tool_calls() const { return !calls_.empty(); }

 private:
  struct SentCall {
    std::string id;
    size_t args_sent = 0;
  };
  bool parse_;
  common_chat_parser_params params_;
  std::string raw_;
  std::string sent_content_;
  std::vector<SentCall> calls_;
};

// An invalid-request error naming the request field at fault.
Error bad_request(std::string message, std::string param = {});

}  // namespace keel::local

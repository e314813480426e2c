// `keel prompt run NAME --input k=v ...` (DESIGN.md "Commands"): runs a configured prompt in
// this process, through the same router as `keel serve` (failover, retries and the variant of
// each attempt's target), and prints the answer as it streams; `--json` prints the whole
// chat.completion with each attempt's target and variant.
#include <cstdio>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/ids.h"
#include "http/client.h"
#include "prompts/prompt_set.h"
#include "providers/provider.h"
#include "router/router.h"

namespace keel::cli {

namespace {

// Prints text as it comes (or only folds it, for --json).
class PrintingSink final : public EventSink {
 public:
  explicit PrintingSink(bool print) : print_(print) {}
  Task<bool> on_event(ChatEvent event) override {
    if (print_ && event.kind == ChatEvent::Kind::kTextDelta) {
      std::fwrite(event.text.data(), 1, event.text.size(), stdout);
      std::fflush(stdout);
    }
    aggregator_.add(event);
    co_return true;
  }
  ChatAggregator& aggregator() { return aggregator_; }

 private:
  bool print_;
  ChatAggregator aggregator_;
};

// `k=v` as the input's declared type: a string input takes the text as it is; any other type
// is JSON ("3", "true", '["a"]'); an undeclared type takes JSON when it parses, else the text.
Result<std::pair<std::string, Json>> parse_input(const Prompty& prompty, const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Error(ErrorCode::kInvalidArgument, "--input " + arg + ": expected NAME=VALUE");
  }
  std::string name = arg.substr(0, eq);
  std::string text = arg.substr(eq + 1);
  InputType type = InputType::kAny;
  for (const auto& input : prompty.inputs) {
    if (input.name == name) type = input.type;
  }
  if (type == InputType::kString) return std::pair{name, Json(text)};
  auto json = try_parse_json(text);
  if (json) return std::pair{name, *json};
  if (type == InputType::kAny) return std::pair{name, Json(text)};
  return Error(ErrorCode::kInvalidArgument,
               "--input " + name + ": not JSON, and the input is not a string");
}

}  // namespace

Result<std::unique_ptr<Router>> make_router(const Config& config) {
  std::map<std::string, std::unique_ptr<Provider>> providers;
  for (const auto& provider_config : config.providers) {
    auto provider = make_provider(provider_config);
    if (!provider) return provider.error();
    providers.emplace(provider_config.name, std::move(provider.value()));
  }
  return std::make_unique<Router>(config, std::move(providers));
}

int prompt(const std::vector<std::string>& args) {
  if (args.size() < 2 || args[0] != "run" || args[1].starts_with("--")) {
    std::fputs("usage: keel prompt run NAME [--input k=v ...] [--config FILE] [--json]\n", stderr);
    return 2;
  }
  const std::string name = args[1];
  auto config = load_config(args);
  if (!config) {
    std::fprintf(stderr, "keel: %s\n", config.error().message.c_str());
    return 1;
  }
  auto prompts = PromptSet::load(*config);
  if (!prompts) {
    std::fprintf(stderr, "keel: %s\n", prompts.error().message.c_str());
    return 1;
  }
  const LoadedPrompt* prompt = (*prompts)->find(name);
  if (prompt == nullptr) {
    std::fprintf(stderr, "keel: prompt '%s' does not exist in %s\n", name.c_str(),
                 config->source.c_str());
    return 1;
  }
  bool json_output = false;
  Json inputs = Json::object();
  for (size_t i = 2; i < args.size(); ++i) {
    if (args[i] == "--json") {
      json_output = true;
    } else if (args[i] == "--input" && i + 1 < args.size()) {
      auto input = parse_input(prompt->default_variant().prompty, args[++i]);
      if (!input) {
        std::fprintf(stderr, "keel: %s\n", input.error().message.c_str());
        return 2;
      }
      inputs[input->first] = std::move(input->second);
    } else if (args[i] == "--config" && i + 1 < args.size()) {
      ++i;
    } else {
      std::fprintf(stderr, "keel prompt run: unknown argument '%s'\n", args[i].c_str());
      return 2;
    }
  }
  auto request = prompt->request(inputs, !json_output);
  if (!request) {
    std::fprintf(stderr, "keel: %s\n", request.error().message.c_str());
    return 1;
  }
  auto made = make_router(*config);
  if (!made) {
    std::fprintf(stderr, "keel: %s\n", made.error().message.c_str());
    return 1;
  }
  Router& router = **made;
  std::fprintf(stderr, "prompt %s on model %s\n", name.c_str(), prompt->model().c_str());
  PrintingSink sink(!json_output);
  ChatOutcome outcome;
  asio::io_context context;
  auto run = [&]() -> Task<void> {
    outcome = co_await router.chat(*request, sink, std::make_shared<CancelToken>(),
                                   prompt->shaper(inputs, *request));
  };
  asio::co_spawn(context, run(), asio::detached);
  context.run();
  http_pool_clear();
  for (const auto& attempt : outcome.attempts) {
    std::fprintf(stderr, "attempt: %s/%s variant %s: %d%s%s\n", attempt.provider.c_str(),
                 attempt.target_model.c_str(),
                 attempt.variant.empty() ? "-" : attempt.variant.c_str(), attempt.status,
                 attempt.error_message.empty() ? "" : " ", attempt.error_message.c_str());
  }
  if (!outcome.status.ok()) {
    if (!json_output) std::fputc('\n', stdout);
    std::fprintf(stderr, "keel: %s\n", outcome.status.error().message.c_str());
    return 1;
  }
  if (json_output) {
    ChatResponse& whole = sink.aggregator().response();
    whole.id = new_id("chatcmpl-");
    whole.model = prompt->model();
    whole.created = unix_seconds();
    Json out = chat_response_to_wire(whole);
    Json attempts = Json::array();
    for (const auto& attempt : outcome.attempts) {
      attempts.push_back({{"provider", attempt.provider},
                          {"model", attempt.target_model},
                          {"variant", attempt.variant},
                          {"status", attempt.status}});
    }
    out["attempts"] = std::move(attempts);
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::fputc('\n', stdout);
  }
  return 0;
}

}  // namespace keel::cli

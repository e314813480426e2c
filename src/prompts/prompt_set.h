// The `prompts:` of a config (DESIGN.md), loaded once: each prompt's default .prompty file and
// its variants, and the router's RequestShaper that renders the variant for each attempt's
// target, so that a failover from an OpenAI target to an Anthropic one also switches prompts.
//
//   auto prompts = PromptSet::load(config);           // reads and checks every file
//   const LoadedPrompt* p = prompts->find("summarize");
//   auto base = p->request(Json{{"text", "..."}});    // inputs checked, default variant rendered
//   router.chat(*base, sink, cancel, p->shaper(inputs, *base));
//
// Immutable once loaded; shared between io threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "prompts/prompty.h"
#include "router/router.h"

namespace keel {

struct PromptVariant {
  std::string key;   // "" for the default; else as written under `variants:`
  std::string file;  // as written in the config
  Prompty prompty;
};

class LoadedPrompt {
 public:
  const std::string& name() const { return name_; }
  const std::string& model() const { return model_; }  // the public model it runs on
  const PromptVariant& default_variant() const { return variants_.front(); }

  // The variant for `target`: the provider's name, then its kind, then the first model-name
  // glob (in config order) that matches the upstream model; else the default.
  const PromptVariant& pick(const std::string& provider, ProviderKind kind,
                            const std::string& upstream_model) const;

  // A chat request for the default variant: inputs checked and rendered (errors are
  // kInvalidArgument naming the file and line), the file's sampling, `stream` as given.
  Result<ChatRequest> request(const Json& inputs, bool stream) const;
  // The same for one variant; `base` gives what is not the prompt's (stream, usage).
  Result<ChatRequest> request_for(const PromptVariant& variant, const Json& inputs,
                                  const ChatRequest& base) const;
  // The router's callback: each attempt gets its target's variant, rendered with `inputs`;
  // the attempt's record names the variant's file.
  RequestShaper shaper(Json inputs, ChatRequest base) const;

 private:
  friend class PromptSet;
  std::string name_;
  std::string model_;
  std::vector<PromptVariant> variants_;  // the default first
};

class PromptSet {
 public:
  // Every prompts[] entry's files, relative paths from the config file's folder. Errors name
  // the config line or the prompt file and line. Without the Jinja engine (a keel built
  // without llama.cpp) a config with prompts is refused here, saying so.
  static Result<std::shared_ptr<const PromptSet>> load(const Config& config);

  const LoadedPrompt* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, LoadedPrompt> prompts_;
};

}  // namespace keel

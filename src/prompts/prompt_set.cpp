#include "prompts/prompt_set.h"

#include <fnmatch.h>

#include <filesystem>

#include "prompts/jinja.h"

namespace keel {

namespace {

namespace fs = std::filesystem;

Error config_error(const Config& config, const PromptConfig& prompt, const std::string& reason) {
  return Error(ErrorCode::kInvalidArgument, config.source + ":" + std::to_string(prompt.line) +
                                                ": prompts: " + prompt.name + ": " + reason);
}

std::string resolve(const Config& config, const std::string& file) {
  if (fs::path(file).is_absolute() || config.source.empty() || config.source[0] == '<') {
    return file;
  }
  return (fs::path(config.source).parent_path() / file).lexically_normal().string();
}

Result<PromptVariant> load_variant(const Config& config, const std::string& key,
                                   const std::string& file) {
  auto prompty = load_prompty(resolve(config, file));
  if (!prompty) return prompty.error();
  // Parsed once here, so that a request only renders it (prompts/jinja.h CompiledTemplate).
  if (Status status = prepare_template(*prompty); !status) return status.error();
  return PromptVariant{key, file, std::move(*prompty)};
}

bool is_kind_name(const std::string& key, ProviderKind kind) {
  return key == provider_kind_name(kind);
}

}  // namespace

const PromptVariant& LoadedPrompt::pick(const std::string& provider, ProviderKind kind,
                                        const std::string& upstream_model) const {
  for (size_t i = 1; i < variants_.size(); ++i) {
    if (variants_[i].key == provider) return variants_[i];
  }
  for (size_t i = 1; i < variants_.size(); ++i) {
    if (is_kind_name(variants_[i].key, kind)) return variants_[i];
  }
  for (size_t i = 1; i < variants_.size(); ++i) {
    if (fnmatch(variants_[i].key.c_str(), upstream_model.c_str(), 0) == 0) return variants_[i];
  }
  return variants_.front();
}

Result<ChatRequest> LoadedPrompt::request_for(const PromptVariant& variant, const Json& inputs,
                                              const ChatRequest& base) const {
  const Prompty& prompty = variant.prompty;
  auto checked = check_inputs(prompty, inputs);
  if (!checked) return checked.error();
  auto rendered = render_prompty(prompty, *checked);
  if (!rendered) return rendered.error();
  auto messages = to_chat_messages(*rendered, prompty.path);
  if (!messages) return messages.error();
  if (messages->empty()) {
    return Error(ErrorCode::kInvalidArgument, prompty.path + ": the prompt renders no messages");
  }
  ChatRequest request;
  request.model = model_;
  request.messages = std::move(*messages);
  request.sampling = prompty.sampling;
  request.response_format = prompty.response_format;
  request.stream = base.stream;
  request.include_usage = base.include_usage;
  return request;
}

Result<ChatRequest> LoadedPrompt::request(const Json& inputs, bool stream) const {
  ChatRequest base;
  base.stream = stream;
  base.include_usage = stream;
  return request_for(default_variant(), inputs, base);
}

RequestShaper LoadedPrompt::shaper(Json inputs, ChatRequest base) const {
  return [this, inputs = std::move(inputs), base = std::move(base)](
             const AttemptTarget& target, std::string& variant) -> Result<ChatRequest> {
    const PromptVariant& chosen = pick(target.provider, target.kind, target.model);
    variant = chosen.file;
    return request_for(chosen, inputs, base);
  };
}

Result<std::shared_ptr<const PromptSet>> PromptSet::load(const Config& config) {
  auto set = std::make_shared<PromptSet>();
  for (const auto& entry : config.prompts) {
    if (!jinja_available()) {
      return config_error(config, entry,
                          "prompts need the Jinja engine of llama.cpp, and this keel was built "
                          "without the local engine (KEEL_LOCAL=OFF or no llama.cpp build)");
    }
    LoadedPrompt prompt;
    prompt.name_ = entry.name;
    auto main = load_variant(config, "", entry.file);
    if (!main) return main.error();
    prompt.variants_.push_back(std::move(*main));
    for (const auto& [key, file] : entry.variants) {
      auto variant = load_variant(config, key, file);
      if (!variant) return variant.error();
      prompt.variants_.push_back(std::move(*variant));
    }
    prompt.model_ = entry.model;
    if (prompt.model_.empty()) {
      const std::string id = prompt.default_variant().prompty.model_id();
      if (id.empty() || config.find_model(id) == nullptr) {
        return config_error(
            config, entry,
            "no model: set `model:` to a public model" +
                (id.empty() ? std::string()
                            : " (the file names '" + id + "', which is not a public model here)"));
      }
      prompt.model_ = id;
    }
    set->prompts_.emplace(entry.name, std::move(prompt));
  }
  return std::shared_ptr<const PromptSet>(std::move(set));
}

const LoadedPrompt* PromptSet::find(const std::string& name) const {
  auto it = prompts_.find(name);
  return it == prompts_.end() ? nullptr : &it->second;
}

std::vector<std::string> PromptSet::names() const {
  std::vector<std::string> names;
  for (const auto& [name, prompt] : prompts_) names.push_back(name);
  return names;
}

}  // namespace keel

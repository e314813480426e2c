// Provider kinds `openai` — OpenAI itself and any OpenAI-compatible server (vLLM, Ollama,
// llama-server, Groq, Mistral, ...); base_url includes /v1, as the OpenAI SDK's baseURL does —
// and `azure` (Azure OpenAI: the same wire format at
// {base_url}/openai/deployments/{deployment}/...?api-version=..., key in the api-key header).
#pragma once

#include "http/client.h"
#include "providers/provider.h"

namespace keel {

class OpenAIProvider final : public Provider {
 public:
  static Result<std::unique_ptr<Provider>> create(const ProviderConfig& config);

  const std::string& name() const override { return config_.name; }
  ProviderKind kind() const override { return config_.kind; }
  Capabilities capabilities() const override;
  Task<void> chat(const ChatRequest& request, const std::string& upstream_model, EventSink& sink,
                  CancelPtr cancel) override;
  Task<Result<Embeddings>> embed(const EmbedRequest& request, const std::string& upstream_model,
                                 CancelPtr cancel) override;

 private:
  OpenAIProvider(ProviderConfig config, Url base);
  ClientRequest make_request(std::string_view path, std::string body, bool stream,
                             const std::string& upstream_model) const;

  ProviderConfig config_;
  Url base_;
  // Built once (the request path builds them for every request otherwise): the chat URL and
  // the authorization header's value, for kind openai.
  Url chat_url_;
  std::string bearer_;
};

}  // namespace keel

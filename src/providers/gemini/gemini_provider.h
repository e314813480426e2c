// Provider kind `gemini`: the Gemini API (ai.google.dev "Generate content" and "Embeddings"):
// POST {base_url}/v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse and
// :batchEmbedContents, key in the x-goog-api-key header.
#pragma once

#include "http/client.h"
#include "providers/provider.h"

namespace keel {

class GeminiProvider final : public Provider {
 public:
  static Result<std::unique_ptr<Provider>> create(const ProviderConfig& config);

  const std::string& name() const override { return config_.name; }
  ProviderKind kind() const override { return ProviderKind::kGemini; }
  Capabilities capabilities() const override;
  Task<void> chat(const ChatRequest& request, const std::string& upstream_model, EventSink& sink,
                  CancelPtr cancel) override;
  Task<Result<Embeddings>> embed(const EmbedRequest& request, const std::string& upstream_model,
                                 CancelPtr cancel) override;
  Task<Result<int64_t>> count_tokens(const ChatRequest& request, const std::string& upstream_model,
                                     CancelPtr cancel) override;

 private:
  GeminiProvider(ProviderConfig config, Url base) : config_(std::move(config)), base_(base) {}
  ClientRequest make_request(const std::string& model, std::string_view method, std::string body,
                             bool stream) const;

  ProviderConfig config_;
  Url base_;
};

}  // namespace keel

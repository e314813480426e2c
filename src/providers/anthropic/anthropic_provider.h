// Provider kind `anthropic`: the Messages API (POST {base_url}/v1/messages, x-api-key and
// anthropic-version headers; docs.anthropic.com "Messages" and "Streaming Messages"), and
// token counting (POST {base_url}/v1/messages/count_tokens).
#pragma once

#include "http/client.h"
#include "providers/provider.h"

namespace keel {

class AnthropicProvider final : public Provider {
 public:
  static Result<std::unique_ptr<Provider>> create(const ProviderConfig& config);

  const std::string& name() const override { return config_.name; }
  ProviderKind kind() const override { return ProviderKind::kAnthropic; }
  Capabilities capabilities() const override;
  Task<void> chat(const ChatRequest& request, const std::string& upstream_model, EventSink& sink,
                  CancelPtr cancel) override;
  Task<Result<Embeddings>> embed(const EmbedRequest& request, const std::string& upstream_model,
                                 CancelPtr cancel) override;
  Task<Result<int64_t>> count_tokens(const ChatRequest& request, const std::string& upstream_model,
                                     CancelPtr cancel) override;

 private:
  AnthropicProvider(ProviderConfig config, Url url, Url count_url)
      : config_(std::move(config)), url_(std::move(url)), count_url_(std::move(count_url)) {}
  ClientRequest make_request(const Url& url, const Json& body, bool stream) const;
  ProviderConfig config_;
  Url url_;
  Url count_url_;
};

}  // namespace keel

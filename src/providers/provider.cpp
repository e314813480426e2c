#include "providers/provider.h"

#include <ctime>

#include "core/clock.h"
#include "providers/anthropic/anthropic_provider.h"
#include "providers/gemini/gemini_provider.h"
#ifdef KEEL_HAS_LLAMA
#include "providers/local/local_provider.h"
#endif
#include "providers/openai/openai_provider.h"

namespace keel {

Capabilities local_capabilities() {
  return Capabilities{.streaming = true,
                      .tools = true,
                      .parallel_tools = true,
                      .images = false,
                      .json_schema = true,
                      .json_object = Capabilities::JsonMode::kNative,
                      .embeddings = true,
                      .count_tokens = true};
}

Task<Result<int64_t>> Provider::count_tokens(const ChatRequest&, const std::string&, CancelPtr) {
  co_return Error(ErrorCode::kInvalidArgument,
                  std::string("provider kind ") + provider_kind_name(kind()) +
                      " cannot count tokens (its API has no token-counting endpoint)");
}

Task<Result<EmbedTokenCounts>> Provider::count_embed_tokens(const std::vector<std::string>&,
                                                            const std::string& upstream_model,
                                                            CancelPtr) {
  EmbedTokenCounts counts;
  counts.max_tokens = known_embed_input_limit(kind(), upstream_model);
  co_return counts;
}

int64_t known_embed_input_limit(ProviderKind kind, std::string_view upstream_model) {
  // Azure's target model is a deployment, often named after the model it serves.
  if (kind == ProviderKind::kOpenAI || kind == ProviderKind::kAzure) {
    // https://platform.openai.com/docs/api-reference/embeddings/create: "The input must not
    // exceed the max input tokens for the model (8192 tokens for all embedding models)".
    if (upstream_model.starts_with("text-embedding-")) return 8192;
  } else if (kind == ProviderKind::kGemini) {
    // https://ai.google.dev/gemini-api/docs/models: input token limit 2,048.
    if (upstream_model.starts_with("models/")) upstream_model.remove_prefix(7);
    if (upstream_model.starts_with("gemini-embedding-") ||
        upstream_model.starts_with("text-embedding-") || upstream_model == "embedding-001") {
      return 2048;
    }
  }
  return 0;
}

Result<std::unique_ptr<Provider>> make_provider(const ProviderConfig& config) {
  switch (config.kind) {
    case ProviderKind::kOpenAI:
    case ProviderKind::kAzure:
      return OpenAIProvider::create(config);
    case ProviderKind::kAnthropic:
      return AnthropicProvider::create(config);
    case ProviderKind::kGemini:
      return GeminiProvider::create(config);
    case ProviderKind::kLocal:
#ifdef KEEL_HAS_LLAMA
      return make_local_provider(config);
#else
      break;
#endif
  }
  return Error(ErrorCode::kInvalidArgument,
               "provider '" + config.name + "': kind '" + provider_kind_name(config.kind) +
                   "': this build of keel has no local engine (it was built without llama.cpp: "
                   "with -DKEEL_LOCAL=OFF, or before scripts/llama.sh had built it); use a "
                   "hosted kind, or rebuild keel with the local engine (make build)");
}

std::optional<long> parse_retry_after(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  bool digits = true;
  for (char c : value) digits = digits && ((c >= '0' && c <= '9') || c == '.');
  if (digits) {
    try {
      double seconds = std::stod(std::string(value));
      if (seconds < 0 || seconds > 86400) return std::nullopt;
      return static_cast<long>(seconds * 1000);
    } catch (...) {
      return std::nullopt;
    }
  }
  // HTTP-date (RFC 9110 IMF-fixdate): "Wed, 21 Oct 2015 07:28:00 GMT".
  std::tm tm{};
  std::string text(value);
  if (!strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
  long delta = static_cast<long>(timegm(&tm)) * 1000 - unix_millis();
  return delta < 0 ? 0 : delta;
}

Error upstream_http_error(int status, std::string_view message, std::string_view retry_after,
                          std::string_view retry_after_ms) {
  std::string text = "upstream returned " + std::to_string(status);
  if (!message.empty()) text += ": " + std::string(message);
  ErrorCode code = ErrorCode::kBadGateway;
  if (status == 400 || status == 413 || status == 422) code = ErrorCode::kInvalidArgument;
  else if (status == 408) code = ErrorCode::kDeadlineExceeded;
  else if (status == 429) code = ErrorCode::kResourceExhausted;
  else if (status == 409 || status >= 500) code = ErrorCode::kUnavailable;
  Error error(code, text);
  error.upstream_status = status;
  if (auto ms = parse_retry_after(retry_after)) error.retry_after_ms = ms;
  if (!retry_after_ms.empty()) {
    // OpenAI also sends retry-after-ms, finer than Retry-After.
    if (auto seconds = parse_retry_after(retry_after_ms)) error.retry_after_ms = *seconds / 1000;
  }
  return error;
}

}  // namespace keel

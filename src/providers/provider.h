// The provider interface: one instance per configured provider; turns a native chat request
// into a native stream of events (api/chat.h). The router sees only this interface.
//
//   auto provider = make_provider(config);            // checked once at start-up
//   co_await provider.value()->chat(req, "gpt-4o-mini", sink, cancel);
//
// Contract: chat() runs on the calling io thread and emits, in order, Start,
// (TextDelta | ToolCallStart | ToolArgsDelta)*, Finish, Usage — or an Error event at any point
// — into `sink`, then returns. It returns early, emitting nothing more, when sink.on_event()
// returns false or `cancel` fires (then the upstream request is abandoned at once). It never
// throws.
#pragma once

#include <memory>
#include <string>

#include "api/chat.h"
#include "core/cancel.h"
#include "core/config.h"
#include "http/asio.h"

namespace keel {

struct Capabilities {
  bool streaming = false;
  bool tools = false;
  bool parallel_tools = false;
  bool images = false;
  bool json_schema = false;
  // response_format json_object: the vendor's own switch (or the local engine's grammar), or
  // emulated where a vendor has none (Anthropic: a forced tool whose input is the answer).
  enum class JsonMode { kNone, kNative, kEmulated };
  JsonMode json_object = JsonMode::kNone;
  bool embeddings = false;
  bool count_tokens = false;   // an exact prompt token count (POST /v1/messages/count_tokens)
  // Document (file) content parts; the router skips a target without it for a request that
  // carries one (docs/dev.md "Documents").
  bool documents = false;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Returns false when the consumer is gone: stop producing.
  virtual Task<bool> on_event(ChatEvent event) = 0;
  // Several events in order (what one upstream read decoded), moved from; stops at the first
  // refusal. Sinks that can take them at once override it: each on_event is a coroutine
  // (a frame, a suspension) per event per layer.
  virtual Task<bool> on_events(std::vector<ChatEvent>& events) {
    for (auto& event : events) {
      if (!co_await on_event(std::move(event))) co_return false;
    }
    co_return true;
  }
};

// A sink that works in batches: on_event is a batch of one.
class BatchEventSink : public EventSink {
 public:
  Task<bool> on_event(ChatEvent event) final {
    std::vector<ChatEvent> one;
    one.push_back(std::move(event));
    co_return co_await on_events(one);
  }
  Task<bool> on_events(std::vector<ChatEvent>& events) override = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual const std::string& name() const = 0;
  virtual ProviderKind kind() const = 0;
  virtual Capabilities capabilities() const = 0;
  virtual Task<void> chat(const ChatRequest& request, const std::string& upstream_model,
                          EventSink& sink, CancelPtr cancel) = 0;
  virtual Task<Result<Embeddings>> embed(const EmbedRequest& request,
                                         const std::string& upstream_model, CancelPtr cancel) = 0;
  // The prompt's token count as `upstream_model` would see it (its messages, system prompt and
  // tools). Only asked of providers whose capabilities say count_tokens; the default refuses.
  virtual Task<Result<int64_t>> count_tokens(const ChatRequest& request,
                                             const std::string& upstream_model,
                                             CancelPtr cancel);
  // How `upstream_model` measures embeddings inputs: the most tokens one input may hold and,
  // where this provider has the model's tokenizer (local), each input's exact count. The
  // default counts nothing and knows the limits vendors document (known_embed_input_limit).
  // Asked only of providers whose capabilities say embeddings; never calls the upstream.
  virtual Task<Result<EmbedTokenCounts>> count_embed_tokens(const std::vector<std::string>& inputs,
                                                            const std::string& upstream_model,
                                                            CancelPtr cancel);
};

// The most tokens one input may hold for a vendor's embedding model, as the vendor documents it
// (OpenAI's text-embedding-* 8192, Gemini's embedding models 2048); 0 for a model not known.
int64_t known_embed_input_limit(ProviderKind kind, std::string_view upstream_model);

// What kind `local` can do. It is the same whether or not this binary has the local engine, so
// `keel capabilities` (and the README matrix) do not depend on the build; tools need a model
// whose chat template supports them.
Capabilities local_capabilities();

// Builds the provider a config entry describes. Kinds not built into this binary give
// kInvalidArgument naming the kind.
Result<std::unique_ptr<Provider>> make_provider(const ProviderConfig& config);

// An upstream's non-2xx answer as keel's error: 400/413/422 -> kInvalidArgument (the request
// itself is at fault), 408 -> kDeadlineExceeded, 429 -> kResourceExhausted with Retry-After,
// 409 and 5xx -> kUnavailable, other 4xx (bad key, unknown deployment) -> kBadGateway.
// `retry_after` / `retry_after_ms` are the raw header values (may be empty).
Error upstream_http_error(int status, std::string_view message, std::string_view retry_after,
                          std::string_view retry_after_ms);

// Parses Retry-After (delta-seconds or an HTTP-date) into milliseconds from now.
std::optional<long> parse_retry_after(std::string_view value);

}  // namespace keel

#include "providers/openai/openai_provider.h"

#include "api/openai_chat/openai_chat.h"
#include "core/text.h"
#include "providers/upstream.h"

namespace keel {

namespace {
const VendorWire kOpenAIWire{upstream_error_message, chat_response_from_wire};
}  // namespace

Result<std::unique_ptr<Provider>> OpenAIProvider::create(const ProviderConfig& config) {
  auto url = provider_base_url(config, "https://api.openai.com/v1");
  if (!url) return url.error();
  return std::unique_ptr<Provider>(new OpenAIProvider(config, *url));
}

OpenAIProvider::OpenAIProvider(ProviderConfig config, Url base)
    : config_(std::move(config)), base_(std::move(base)) {
  chat_url_ = base_.with_path("/chat/completions");
  if (!config_.api_key.empty()) bearer_ = "Bearer " + config_.api_key;
}

namespace {
// OpenAI's own API and Azure's take file parts; another OpenAI-compatible server only when its
// config says so (`documents: true`), as most (vLLM, llama-server, Ollama) refuse them.
bool takes_documents(const ProviderConfig& config) {
  if (config.documents) return *config.documents;
  return config.kind == ProviderKind::kAzure || config.base_url.empty() ||
         config.base_url.find("://api.openai.com") != std::string::npos;
}
}  // namespace

Capabilities OpenAIProvider::capabilities() const {
  return Capabilities{.streaming = true,
                      .tools = true,
                      .parallel_tools = true,
                      .images = true,
                      .json_schema = true,
                      .json_object = Capabilities::JsonMode::kNative,
                      .embeddings = true,
                      .documents = takes_documents(config_)};
}

ClientRequest OpenAIProvider::make_request(std::string_view path, std::string body, bool stream,
                                           const std::string& upstream_model) const {
  ClientRequest request;
  request.method = "POST";
  request.headers.reserve(3 + config_.headers.size());
  request.connect_timeout_ms = config_.connect_timeout_ms;
  request.headers.emplace_back("content-type", "application/json");
  request.headers.emplace_back("accept", stream ? "text/event-stream" : "application/json");
  if (config_.kind == ProviderKind::kAzure) {
    // Azure OpenAI: the target model is a deployment, in the path; the version is a query
    // parameter; the key goes in api-key (learn.microsoft.com, "Azure OpenAI REST API
    // reference").
    request.url = base_.with_path("/openai/deployments/" + percent_encode(upstream_model) +
                                  std::string(path));
    request.url.target += "?api-version=" + percent_encode(config_.api_version);
    if (!config_.api_key.empty()) request.headers.emplace_back("api-key", config_.api_key);
  } else {
    request.url = path == "/chat/completions" ? chat_url_ : base_.with_path(path);
    if (!bearer_.empty()) request.headers.emplace_back("authorization", bearer_);
  }
  for (const auto& [name, value] : config_.headers) request.headers.emplace_back(name, value);
  request.body = std::move(body);
  return request;
}

Task<void> OpenAIProvider::chat(const ChatRequest& request, const std::string& upstream_model,
                                EventSink& sink, CancelPtr cancel) {
  ClientRequest http = make_request("/chat/completions",
                                    chat_request_to_wire_text(request, upstream_model),
                                    request.stream, upstream_model);
  auto stream = co_await send_chat(std::move(http), kOpenAIWire, config_, sink, cancel);
  if (!stream) co_return;
  OpenAIStreamDecoder decoder;
  const bool ended = co_await relay_sse(
      *stream,
      [&decoder](const SseEvent& event, std::vector<ChatEvent>& out, bool& done) -> Status {
        if (event.data == "[DONE]") {
          decoder.finish(out);
          done = true;
          return Status::Ok();
        }
        return decoder.decode(event.data, out);
      },
      sink);
  // The stream's end marker came; its body's end may be a packet away. (A stream that failed
  // or whose client left is closed at once: the upstream stops generating.)
  if (ended) ClientResponse::finish_in_background(std::move(stream));
}

Task<Result<Embeddings>> OpenAIProvider::embed(const EmbedRequest& request,
                                               const std::string& upstream_model,
                                               CancelPtr cancel) {
  auto wire = embed_request_to_wire(request, upstream_model);
  ClientRequest http = make_request(
      "/embeddings", wire.dump(-1, ' ', false, Json::error_handler_t::replace), false,
      upstream_model);
  auto body =
      co_await send_for_body(std::move(http), upstream_error_message, config_, std::move(cancel));
  if (!body) co_return body.error();
  co_return embeddings_from_wire(*body);
}

}  // namespace keel

#include "providers/anthropic/anthropic_provider.h"

#include "api/anthropic/anthropic.h"
#include "providers/upstream.h"

namespace keel {

namespace {
const VendorWire kAnthropicWire{anthropic_error_message, anthropic_response_from_wire};
const VendorWire kAnthropicJsonWire{anthropic_error_message, anthropic_json_response_from_wire};
}  // namespace

namespace {
// The API version keel speaks (docs.anthropic.com "Versions"): the only one current.
constexpr const char* kAnthropicVersion = "2023-06-01";
}  // namespace

Result<std::unique_ptr<Provider>> AnthropicProvider::create(const ProviderConfig& config) {
  auto url = provider_base_url(config, "https://api.anthropic.com");
  if (!url) return url.error();
  return std::unique_ptr<Provider>(new AnthropicProvider(
      config, url->with_path("/v1/messages"), url->with_path("/v1/messages/count_tokens")));
}

Capabilities AnthropicProvider::capabilities() const {
  // json_schema maps to output_config.format; json_object has no equivalent and is emulated
  // with a forced tool (anthropic_emulates_json_object). Anthropic has no embeddings endpoint.
  return Capabilities{.streaming = true,
                      .tools = true,
                      .parallel_tools = true,
                      .images = true,
                      .json_schema = true,
                      .json_object = Capabilities::JsonMode::kEmulated,
                      .embeddings = false,
                      .count_tokens = true,
                      .documents = true};
}

ClientRequest AnthropicProvider::make_request(const Url& url, const Json& body,
                                              bool stream) const {
  ClientRequest http;
  http.method = "POST";
  http.url = url;
  http.connect_timeout_ms = config_.connect_timeout_ms;
  http.headers = {{"content-type", "application/json"},
                  {"accept", stream ? "text/event-stream" : "application/json"},
                  {"anthropic-version", kAnthropicVersion}};
  if (!config_.api_key.empty()) http.headers.emplace_back("x-api-key", config_.api_key);
  for (const auto& [name, value] : config_.headers) http.headers.emplace_back(name, value);
  http.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return http;
}

Task<void> AnthropicProvider::chat(const ChatRequest& request, const std::string& upstream_model,
                                   EventSink& sink, CancelPtr cancel) {
  auto wire = chat_request_to_anthropic(request, upstream_model);
  if (!wire) {
    co_await sink.on_event(ChatEvent::failure(wire.error()));
    co_return;
  }
  if (request.stream) (*wire)["stream"] = true;
  ClientRequest http = make_request(url_, *wire, request.stream);
  const bool json_tool = anthropic_emulates_json_object(request);
  // Chosen before the co_await (g++ 12 and conditionals in a co_await's operands, docs/dev.md).
  const VendorWire& vendor_wire = json_tool ? kAnthropicJsonWire : kAnthropicWire;
  auto stream = co_await send_chat(std::move(http), vendor_wire, config_, sink, cancel);
  if (!stream) co_return;
  AnthropicStreamDecoder decoder(json_tool);
  const bool ended = co_await relay_sse(
      *stream,
      [&decoder](const SseEvent& event, std::vector<ChatEvent>& out, bool& done) {
        return decoder.decode(event.event, event.data, out, done);
      },
      sink);
  // The stream's end marker came; its body's end may be a packet away. (A stream that failed
  // or whose client left is closed at once: the upstream stops generating.)
  if (ended) ClientResponse::finish_in_background(std::move(stream));
}

Task<Result<int64_t>> AnthropicProvider::count_tokens(const ChatRequest& request,
                                                     const std::string& upstream_model,
                                                     CancelPtr cancel) {
  auto wire = chat_request_to_anthropic_count(request, upstream_model);
  if (!wire) co_return wire.error();
  auto body = co_await send_for_body(make_request(count_url_, *wire, false),
                                     anthropic_error_message, config_, std::move(cancel));
  if (!body) co_return body.error();
  co_return anthropic_count_from_wire(*body);
}

Task<Result<Embeddings>> AnthropicProvider::embed(const EmbedRequest&, const std::string&,
                                                  CancelPtr) {
  co_return Error(ErrorCode::kInvalidArgument,
                  "provider kind anthropic has no embeddings endpoint");
}

}  // namespace keel

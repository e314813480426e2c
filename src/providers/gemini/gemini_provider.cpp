#include "providers/gemini/gemini_provider.h"

#include "api/gemini/gemini.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "providers/upstream.h"

namespace keel {

namespace {
const VendorWire kGeminiWire{gemini_error_message, gemini_response_from_wire};
const VendorWire kGeminiSingleCallWire{gemini_error_message, gemini_single_call_response_from_wire};
}  // namespace

Result<std::unique_ptr<Provider>> GeminiProvider::create(const ProviderConfig& config) {
  auto url = provider_base_url(config, "https://generativelanguage.googleapis.com");
  if (!url) return url.error();
  return std::unique_ptr<Provider>(new GeminiProvider(config, *url));
}

Capabilities GeminiProvider::capabilities() const {
  return Capabilities{.streaming = true,
                      .tools = true,
                      .parallel_tools = true,
                      .images = true,
                      .json_schema = true,
                      .json_object = Capabilities::JsonMode::kNative,
                      .embeddings = true,
                      .count_tokens = true,
                      .documents = true};
}

ClientRequest GeminiProvider::make_request(const std::string& model, std::string_view method,
                                           std::string body, bool stream) const {
  ClientRequest request;
  request.method = "POST";
  // Model names are path segments; Gemini's are [a-z0-9.-], so reject nothing but a slash.
  std::string segment = model;
  for (char& c : segment) {
    if (c == '/' || c == '?' || c == '#') c = '_';
  }
  request.url = base_.with_path("/v1beta/models/" + segment + ":" + std::string(method));
  if (stream) request.url.target += "?alt=sse";
  request.connect_timeout_ms = config_.connect_timeout_ms;
  request.headers = {{"content-type", "application/json"},
                     {"accept", stream ? "text/event-stream" : "application/json"}};
  if (!config_.api_key.empty()) request.headers.emplace_back("x-goog-api-key", config_.api_key);
  for (const auto& [name, value] : config_.headers) request.headers.emplace_back(name, value);
  request.body = std::move(body);
  return request;
}

Task<void> GeminiProvider::chat(const ChatRequest& request, const std::string& upstream_model,
                                EventSink& sink, CancelPtr cancel) {
  auto wire = chat_request_to_gemini(request);
  if (!wire) {
    co_await sink.on_event(ChatEvent::failure(wire.error()));
    co_return;
  }
  const char* method = request.stream ? "streamGenerateContent" : "generateContent";
  ClientRequest http = make_request(
      upstream_model, method, wire->dump(-1, ' ', false, Json::error_handler_t::replace),
      request.stream);
  const bool single_call = gemini_single_tool_call(request);
  // Chosen before the co_await (g++ 12 and conditionals in a co_await's operands, docs/dev.md).
  const VendorWire& vendor_wire = single_call ? kGeminiSingleCallWire : kGeminiWire;
  auto stream = co_await send_chat(std::move(http), vendor_wire, config_, sink, cancel);
  if (!stream) co_return;
  // Gemini's stream has no end marker: it ends with the body, after a chunk with finishReason.
  GeminiStreamDecoder decoder(single_call);
  bool ok = co_await relay_sse(
      *stream,
      [&decoder](const SseEvent& event, std::vector<ChatEvent>& out, bool&) {
        return decoder.decode(event.data, out);
      },
      sink);
  if (!ok) co_return;
  std::vector<ChatEvent> trailing;
  decoder.finish(trailing);
  co_await emit_all(trailing, sink);
}

Task<Result<int64_t>> GeminiProvider::count_tokens(const ChatRequest& request,
                                                   const std::string& upstream_model,
                                                   CancelPtr cancel) {
  auto wire = chat_request_to_gemini_count(request, upstream_model);
  if (!wire) co_return wire.error();
  ClientRequest http =
      make_request(upstream_model, "countTokens",
                   wire->dump(-1, ' ', false, Json::error_handler_t::replace), false);
  auto body =
      co_await send_for_body(std::move(http), gemini_error_message, config_, std::move(cancel));
  if (!body) co_return body.error();
  co_return gemini_count_from_wire(*body);
}

Task<Result<Embeddings>> GeminiProvider::embed(const EmbedRequest& request,
                                               const std::string& upstream_model,
                                               CancelPtr cancel) {
  if (request.inputs.empty()) {
    co_return Error(ErrorCode::kInvalidArgument,
                    "provider kind gemini embeds text only; token-array input is not supported");
  }
  // batchEmbedContents: {"requests": [{"model": "models/M", "content": {"parts": [{"text"}]}}]}
  // -> {"embeddings": [{"values": [...]}]} (ai.google.dev "Embeddings").
  Json body = {{"requests", Json::array()}};
  for (const auto& input : request.inputs) {
    Json one = {{"model", "models/" + upstream_model},
                {"content", {{"parts", Json::array({{{"text", input}}})}}}};
    if (request.dimensions) one["outputDimensionality"] = *request.dimensions;
    body["requests"].push_back(std::move(one));
  }
  ClientRequest http = make_request(upstream_model, "batchEmbedContents",
                                    body.dump(-1, ' ', false, Json::error_handler_t::replace), false);
  auto text =
      co_await send_for_body(std::move(http), gemini_error_message, config_, std::move(cancel));
  if (!text) co_return text.error();
  Json json = try_parse_json(*text).value_or(Json());
  Error garbage(ErrorCode::kBadGateway, "upstream returned invalid embeddings");
  if (!json.is_object() || !json.contains("embeddings") || !json["embeddings"].is_array())
    co_return garbage;
  Embeddings out;
  out.model = upstream_model;
  for (const auto& item : json["embeddings"]) {
    if (!item.is_object() || !item.contains("values") || !item["values"].is_array())
      co_return garbage;
    std::vector<float> vector;
    for (const auto& value : item["values"]) {
      if (!value.is_number()) co_return garbage;
      vector.push_back(value.get<float>());
    }
    out.vectors.push_back(std::move(vector));
  }
  if (out.vectors.size() != request.inputs.size()) co_return garbage;
  co_return out;
}

}  // namespace keel

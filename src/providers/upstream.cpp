#include "providers/upstream.h"

namespace keel {

Task<Error> upstream_error_from(ClientResponse& response,
                                std::string (*message_of)(std::string_view body),
                                const std::string& api_key) {
  int status = response.status();
  auto body = co_await response.read_all(256 * 1024);
  std::string message = body ? message_of(*body) : body.error().message;
  if (api_key.size() >= 4) {
    for (size_t at = message.find(api_key); at != std::string::npos;
         at = message.find(api_key, at)) {
      message.replace(at, api_key.size(), "[redacted]");
    }
  }
  co_return upstream_http_error(status, message, response.header("retry-after"),
                                response.header("retry-after-ms"));
}

Task<Result<std::string>> send_for_body(ClientRequest request,
                                        std::string (*message_of)(std::string_view body),
                                        const std::string& api_key, CancelPtr cancel) {
  auto response = co_await http_send(std::move(request), std::move(cancel));
  if (!response) co_return response.error();
  auto& res = *response.value();
  if (res.status() < 200 || res.status() >= 300) {
    co_return co_await upstream_error_from(res, message_of, api_key);
  }
  co_return co_await res.read_all();
}

Result<Url> provider_base_url(const ProviderConfig& config, std::string_view default_url) {
  auto url = Url::parse(config.base_url.empty() ? default_url : config.base_url);
  if (!url) {
    return Error(ErrorCode::kInvalidArgument,
                 "provider '" + config.name + "': base_url: " + url.error().message);
  }
  return url;
}

Task<std::unique_ptr<ClientResponse>> send_chat(ClientRequest request, const VendorWire& wire,
                                                const std::string& api_key, EventSink& sink,
                                                CancelPtr cancel) {
  auto response = co_await http_send(std::move(request), std::move(cancel));
  if (!response) {
    co_await sink.on_event(ChatEvent::failure(response.error()));
    co_return nullptr;
  }
  std::unique_ptr<ClientResponse> res = std::move(response.value());
  if (res->status() < 200 || res->status() >= 300) {
    Error error = co_await upstream_error_from(*res, wire.error_message, api_key);
    co_await sink.on_event(ChatEvent::failure(std::move(error)));
    co_return nullptr;
  }
  if (res->header("content-type").find("text/event-stream") != std::string::npos) co_return res;
  auto body = co_await res->read_all();
  if (!body) {
    co_await sink.on_event(ChatEvent::failure(body.error()));
    co_return nullptr;
  }
  auto events = wire.parse_whole(*body);
  if (!events) {
    co_await sink.on_event(ChatEvent::failure(events.error()));
    co_return nullptr;
  }
  co_await emit_all(*events, sink);
  co_return nullptr;
}

Task<bool> emit_all(std::vector<ChatEvent>& events, EventSink& sink) {
  if (events.empty()) co_return true;
  bool accepted = co_await sink.on_events(events);
  events.clear();
  co_return accepted;
}

Task<bool> relay_sse(ClientResponse& response, const SseDecode& decode, EventSink& sink) {
  SseParser parser;
  std::vector<ChatEvent> events;
  events.reserve(16);   // one read often holds a whole short answer: no regrowth while decoding
  Status decode_status;
  bool done = false;
  bool ended = false;   // a Finish or an Error went out
  while (!done) {
    auto chunk = co_await response.read_some();
    if (!chunk) {
      co_await sink.on_event(ChatEvent::failure(chunk.error()));
      co_return false;
    }
    if (chunk->empty()) break;   // end of body
    parser.feed(*chunk, [&](const SseEvent& event) {
      if (done || !decode_status.ok()) return;
      decode_status = decode(event, events, done);
    });
    for (const auto& event : events) {
      ended = ended || event.kind == ChatEvent::Kind::kFinish ||
              event.kind == ChatEvent::Kind::kError;
    }
    bool failed = false;
    for (const auto& event : events) failed = failed || event.kind == ChatEvent::Kind::kError;
    bool emitted = co_await emit_all(events, sink);
    if (!emitted || failed) co_return false;
    if (!decode_status.ok()) {
      Error error = decode_status.error();
      error.code = ErrorCode::kBadGateway;
      co_await sink.on_event(ChatEvent::failure(error));
      co_return false;
    }
    if (parser.failed()) {
      co_await sink.on_event(ChatEvent::failure(
          Error(ErrorCode::kBadGateway, "upstream sent something that is not an event stream")));
      co_return false;
    }
  }
  if (!done && !ended) {
    co_await sink.on_event(ChatEvent::failure(
        Error(ErrorCode::kUnavailable, "upstream closed the stream before it finished")));
    co_return false;
  }
  co_return true;
}

}  // namespace keel

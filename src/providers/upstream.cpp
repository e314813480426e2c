#include "providers/upstream.h"

#include <openssl/evp.h>

#include "core/log.h"

namespace keel {

namespace {

constexpr std::string_view kRedacted = "[redacted]";

void replace_all(std::string& text, std::string_view what) {
  if (what.empty()) return;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at)) {
    text.replace(at, what.size(), kRedacted);
    at += kRedacted.size();
  }
}

// Characters of an API key or its encodings (base64 and base64url included).
bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '+' || c == '/' || c == '=' || c == '*' || c == '.';
}

}  // namespace

std::string redact_key(std::string text, std::string_view api_key) {
  if (api_key.size() >= 4) {
    replace_all(text, api_key);
    // base64 and base64url, padded or not (Basic auth, or a vendor quoting the header).
    std::string encoded(4 * ((api_key.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                  reinterpret_cast<const unsigned char*>(api_key.data()),
                                  static_cast<int>(api_key.size()));
    encoded.resize(n > 0 ? static_cast<size_t>(n) : 0);
    while (!encoded.empty() && encoded.back() == '=') encoded.pop_back();
    std::string url_safe = encoded;
    for (char& c : url_safe) c = c == '+' ? '-' : c == '/' ? '_' : c;
    // A key's encoding in a longer encoded string starts at another offset: drop the last
    // characters, which depend on what follows.
    if (encoded.size() > 4) {
      replace_all(text, std::string_view(encoded).substr(0, encoded.size() - 3));
      replace_all(text, std::string_view(url_safe).substr(0, url_safe.size() - 3));
    }
  }
  // Word by word: a masked key (a run of '*'), or a prefix of the key of 8 or more characters.
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (!key_char(text[i])) {
      out += text[i++];
      continue;
    }
    size_t end = i;
    while (end < text.size() && key_char(text[end])) ++end;
    const std::string_view word(text.data() + i, end - i);
    const bool masked = word.size() >= 6 && word.find("***") != std::string_view::npos;
    size_t common = 0;
    while (common < word.size() && common < api_key.size() && word[common] == api_key[common])
      ++common;
    out += masked || (api_key.size() >= 8 && common >= 8) ? kRedacted : word;
    i = end;
  }
  return out;
}

Task<Error> upstream_error_from(ClientResponse& response,
                                std::string (*message_of)(std::string_view body),
                                const ProviderConfig& provider) {
  int status = response.status();
  auto body = co_await response.read_all(256 * 1024);
  std::string message =
      redact_key(body ? message_of(*body) : body.error().message, provider.api_key);
  if (status == 401 || status == 403) {
    KEEL_LOG(kWarn) << "provider '" << provider.name << "' refused keel's credentials (" << status
                    << "): " << message;
    message = "provider '" + provider.name +
              "' refused keel's credentials for it; its answer is in keel's log";
  }
  co_return upstream_http_error(status, message, response.header("retry-after"),
                                response.header("retry-after-ms"));
}

Task<Result<std::string>> send_for_body(ClientRequest request,
                                        std::string (*message_of)(std::string_view body),
                                        const ProviderConfig& provider, CancelPtr cancel) {
  auto response = co_await http_send(std::move(request), std::move(cancel));
  if (!response) co_return response.error();
  auto& res = *response.value();
  if (res.status() < 200 || res.status() >= 300) {
    co_return co_await upstream_error_from(res, message_of, provider);
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
                                                const ProviderConfig& provider, EventSink& sink,
                                                CancelPtr cancel) {
  auto response = co_await http_send(std::move(request), std::move(cancel));
  if (!response) {
    co_await sink.on_event(ChatEvent::failure(response.error()));
    co_return nullptr;
  }
  std::unique_ptr<ClientResponse> res = std::move(response.value());
  if (res->status() < 200 || res->status() >= 300) {
    Error error = co_await upstream_error_from(*res, wire.error_message, provider);
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

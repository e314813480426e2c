// Pieces every HTTP provider shares: turning an upstream's error response into keel's error,
// and relaying an SSE body into native events.
#pragma once

#include <functional>
#include <vector>

#include "http/client.h"
#include "http/sse.h"
#include "providers/provider.h"

namespace keel {

// Reads a non-2xx response's body (bounded) and maps it with upstream_http_error().
// `message_of` extracts the vendor's message from the body, which reaches clients and the
// request log with `provider`'s key scrubbed (redact_key). An authentication failure (401, 403)
// is keel's own message naming the provider instead: the gateway's clients do not own its
// provider keys, and vendors quote them in such errors (masked, in part); the vendor's text
// goes to keel's log only, redacted.
Task<Error> upstream_error_from(ClientResponse& response,
                                std::string (*message_of)(std::string_view body),
                                const ProviderConfig& provider);

// `text` with what may reveal `api_key` replaced by "[redacted]": the key itself, its base64
// forms, a prefix of 8 or more of its characters, and any word with a run of '*' in it (a
// masked key: "sk-canar****-123", OpenAI's style).
std::string redact_key(std::string text, std::string_view api_key);

// Sends a request whose answer is one body (embeddings, token counts): a failure to connect or
// a non-2xx becomes the error (upstream_error_from), a 2xx
// its body's text.
Task<Result<std::string>> send_for_body(ClientRequest request,
                                        std::string (*message_of)(std::string_view body),
                                        const ProviderConfig& provider, CancelPtr cancel);

// The provider's base URL: config.base_url, else the kind's default; a bad URL is an error
// naming the provider.
Result<Url> provider_base_url(const ProviderConfig& config, std::string_view default_url);

// How one vendor's answers read: its error body's message, and a whole (non-streamed) answer.
struct VendorWire {
  std::string (*error_message)(std::string_view body);
  Result<std::vector<ChatEvent>> (*parse_whole)(std::string_view body);
};

// Sends a chat request upstream and handles every answer but an event stream: a failure to
// connect or a non-2xx becomes an Error event (upstream_error_from), a
// whole JSON answer (also from servers that ignore stream:true) becomes its events. Returns
// the response only when it is an event stream, for the caller to relay with its decoder;
// nullptr when everything has been emitted already.
Task<std::unique_ptr<ClientResponse>> send_chat(ClientRequest request, const VendorWire& wire,
                                                const ProviderConfig& provider, EventSink& sink,
                                                CancelPtr cancel);

// Decodes one SSE event into native events; sets `done` at the vendor's end marker. A returned
// error means the stream is garbage.
using SseDecode = std::function<Status(const SseEvent& event, std::vector<ChatEvent>& out,
                                       bool& done)>;

// Relays an SSE body into `sink` until the end marker, the end of the body, an error, or the
// sink refusing. Emits an Error event when the body fails, is garbage, or ends before a Finish.
// Returns true when the stream ended well (the sink may still be given trailing events).
Task<bool> relay_sse(ClientResponse& response, const SseDecode& decode, EventSink& sink);

// Emits events in order; false when the sink refused one.
Task<bool> emit_all(std::vector<ChatEvent>& events, EventSink& sink);

}  // namespace keel

// Downloads one URL to one file: redirects, resume of an interrupted download (HTTP Range),
// a sha256 over the whole file, and an atomic rename, so the destination only ever holds a
// complete (and, when a digest is given, verified) file. Knows nothing about what the file is.
//
//   DownloadRequest request;
//   request.url = *Url::parse("https://example.com/files/x.bin");
//   request.destination = "/data/x.bin";          // written as /data/x.bin.part, then renamed
//   request.expected_sha256 = "9f86d08...";       // optional, lowercase or uppercase hex
//   request.on_progress = [](const DownloadProgress& p) { ... };
//   auto done = co_await download_file(std::move(request), cancel);
//   if (!done) fail(done.error().message);        // done.error(): see download_file
//   use(done->sha256, done->bytes);
//
// Threads: run on one io thread's coroutine (like http_send). Disk writes are blocking and
// happen on that thread: this is for command-line tools, not for the server's io threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/cancel.h"
#include "core/result.h"
#include "http/client.h"

namespace keel {

struct DownloadProgress {
  uint64_t bytes = 0;          // bytes of the file on disk so far (resumed ones included)
  uint64_t total = 0;          // the file's whole size; 0 when the server does not say
  uint64_t resumed_from = 0;   // bytes that were already on disk when this transfer began
};

struct DownloadRequest {
  Url url;
  // Sent on every request while the redirect chain stays on the first URL's origin (scheme,
  // host, port); dropped once it leaves it, so a bearer token never reaches a CDN.
  std::vector<std::pair<std::string, std::string>> headers;
  std::filesystem::path destination;
  std::string expected_sha256;   // hex; empty: computed and reported, not checked
  int max_redirects = 10;
  int connect_timeout_ms = 10000;
  // The transfer fails with kDeadlineExceeded (keeping the .part) when no byte arrives for this
  // long, headers included.
  int stall_timeout_ms = 60000;
  // Called from the io thread after each piece written; may be empty.
  std::function<void(const DownloadProgress&)> on_progress;
};

struct DownloadResult {
  std::string sha256;            // lowercase hex of the whole file
  uint64_t bytes = 0;
  uint64_t resumed_from = 0;     // > 0: a previous partial download was continued
  std::string final_url;         // after redirects (no credentials are ever in it)
};

// Downloads request.url into request.destination via "<destination>.part".
// On success the file is fsynced and renamed into place (replacing an older one).
// Errors:
//   kNotFound / kPermissionDenied / kBadGateway ... : the server answered an error status
//     (Error::upstream_status set; the message has a short excerpt of the body);
//   kUnavailable, kDeadlineExceeded, kCancelled: the transfer was interrupted; the .part stays
//     so that the next call resumes it;
//   kBadGateway "sha256 mismatch": the .part is deleted;
//   kInvalidArgument: bad redirect, too many redirects; kInternal: a local file error;
//   kResourceExhausted: another download of the same destination is in progress.
// A .part that holds no byte is never left behind.
Task<Result<DownloadResult>> download_file(DownloadRequest request, CancelPtr cancel);

// Where a redirect's Location points, from the URL that answered it: absolute URLs,
// scheme-relative ("//host/x"), absolute paths ("/x") and relative paths ("x", "../x").
Result<Url> resolve_location(const Url& base, std::string_view location);

// Whether two URLs share scheme, host and port (credentials stay only within one origin).
bool same_origin(const Url& a, const Url& b);

// Lowercase hex sha256 of a file's contents, read in pieces.
Result<std::string> sha256_file(const std::filesystem::path& path);
// Lowercase hex sha256 of `data`.
std::string sha256_hex(std::string_view data);

// A `keel pull` source: an http(s) URL as it is, or "hf:OWNER/REPO/FILE" (FILE may hold
// slashes) as Hugging Face's "<endpoint>/OWNER/REPO/resolve/main/FILE". `hf_endpoint` empty:
// https://huggingface.co. `file_name` is the URL path's last segment (query removed), the name
// the file gets on disk; it is refused when it could escape a directory ("..", empty).
struct PullSource {
  Url url;
  std::string file_name;
  bool hugging_face = false;
};
Result<PullSource> resolve_pull_source(std::string_view source, std::string_view hf_endpoint);

// Where downloaded models live: $KEEL_MODELS_DIR, else $XDG_CACHE_HOME/keel/models, else
// $HOME/.cache/keel/models (empty variables count as unset). Nothing is created.
std::filesystem::path default_models_dir();

}  // namespace keel

#include "http/download.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

namespace keel {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kHashChunk = 1 << 20;
constexpr size_t kErrorExcerpt = 200;

Error file_error(const std::string& what, const fs::path& path, int err) {
  return Error(ErrorCode::kInternal, what + " " + path.string() + ": " + std::strerror(err));
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size) { EVP_DigestUpdate(ctx_, data, size); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_, digest, &size);
    static const char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
      out += kDigits[digest[i] >> 4];
      out += kDigits[digest[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// Feeds the first `size` bytes of `fd` to `hash` (the part kept from an earlier transfer).
Status hash_prefix(int fd, uint64_t size, Sha256& hash, const fs::path& path) {
  std::string buffer(kHashChunk, '\0');
  uint64_t done = 0;
  while (done < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size - done));
    ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error("cannot read", path, errno);
    if (n == 0) return Error(ErrorCode::kInternal, path.string() + " shrank while reading it");
    hash.update(buffer.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status write_all(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return file_error("cannot write", path, errno);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// The .part file, held open and locked (flock) for the whole download, so that two downloads
// of one destination cannot interleave their bytes. Deleted on close when it holds nothing.
class PartFile {
 public:
  ~PartFile() { close(); }

  Status open(const fs::path& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return file_error("cannot open", path, errno);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK)
        return Error(ErrorCode::kResourceExhausted,
                     "another download of " + path.string() + " is in progress");
      return file_error("cannot lock", path, err);
    }
    return Status::Ok();
  }

  Result<uint64_t> size() const {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) return file_error("cannot stat", path_, errno);
    return static_cast<uint64_t>(info.st_size);
  }

  // Empties the file and puts the write position at its start.
  Status reset() {
    if (::ftruncate(fd_, 0) != 0) return file_error("cannot truncate", path_, errno);
    if (::lseek(fd_, 0, SEEK_SET) < 0) return file_error("cannot seek", path_, errno);
    return Status::Ok();
  }

  Status seek_end() {
    if (::lseek(fd_, 0, SEEK_END) < 0) return file_error("cannot seek", path_, errno);
    return Status::Ok();
  }

  // fsync, then rename over `destination`, then fsync the folder so the rename is durable.
  Status commit(const fs::path& destination) {
    if (::fsync(fd_) != 0) return file_error("cannot fsync", path_, errno);
    if (::rename(path_.c_str(), destination.c_str()) != 0)
      return file_error("cannot rename into place:", destination, errno);
    committed_ = true;
    fs::path folder = destination.parent_path();
    int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);  // best effort: the file is in place either way
      ::close(dir);
    }
    return Status::Ok();
  }

  void remove() {
    if (fd_ >= 0 && !committed_) ::unlink(path_.c_str());
    committed_ = true;
  }

  void close() {
    if (fd_ < 0) return;
    // Unlinked while still locked, so no other download can have started on it meanwhile.
    auto bytes = size();
    if (!committed_ && bytes && *bytes == 0) ::unlink(path_.c_str());
    ::close(fd_);
    fd_ = -1;
  }

  int fd() const { return fd_; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

// Fires `token` when touch() has not been called for `limit`: one check a second, callback
// style so that nothing outlives stop() but the timer's own handler.
class StallWatch : public std::enable_shared_from_this<StallWatch> {
 public:
  StallWatch(asio::any_io_executor executor, CancelPtr token, int limit_ms)
      : timer_(std::move(executor)), token_(std::move(token)), limit_(limit_ms) {}

  void start() {
    touch();
    arm();
  }
  void touch() { last_ = Clock::now(); }
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void arm() {
    timer_.expires_after(std::chrono::milliseconds(std::min(limit_, 1000)));
    timer_.async_wait([self = shared_from_this()](const beast::error_code& ec) {
      if (ec || self->stopped_) return;
      if (Clock::now() - self->last_ >= std::chrono::milliseconds(self->limit_)) {
        self->token_->cancel(ErrorCode::kDeadlineExceeded,
                             "no data for " + std::to_string(self->limit_ / 1000) + " s");
        return;
      }
      self->arm();
    });
  }

  asio::steady_timer timer_;
  CancelPtr token_;
  int limit_;
  Clock::time_point last_;
  bool stopped_ = false;
};

std::string origin_of(const Url& url) {
  return std::string(url.tls ? "https://" : "http://") + url.host + ":" + std::to_string(url.port);
}

std::string printable_excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kErrorExcerpt)) {
    unsigned char byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7f) ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (body.size() > kErrorExcerpt) out += "...";
  return out;
}

ErrorCode code_for_status(int status) {
  if (status == 401) return ErrorCode::kUnauthenticated;
  if (status == 403) return ErrorCode::kPermissionDenied;
  if (status == 404 || status == 410) return ErrorCode::kNotFound;
  if (status == 429) return ErrorCode::kResourceExhausted;
  if (status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kBadGateway;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  out = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

// "bytes FIRST-LAST/TOTAL" or "bytes */TOTAL" (RFC 9110 14.4); TOTAL may be "*".
struct ContentRange {
  bool has_range = false;
  uint64_t first = 0, last = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> parse_content_range(std::string_view text) {
  if (!text.starts_with("bytes ")) return std::nullopt;
  text.remove_prefix(6);
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  ContentRange range;
  std::string_view span = text.substr(0, slash), total = text.substr(slash + 1);
  if (total != "*") {
    uint64_t value = 0;
    if (!parse_u64(total, value)) return std::nullopt;
    range.total = value;
  }
  if (span != "*") {
    size_t dash = span.find('-');
    if (dash == std::string_view::npos || !parse_u64(span.substr(0, dash), range.first) ||
        !parse_u64(span.substr(dash + 1), range.last) || range.last < range.first)
      return std::nullopt;
    range.has_range = true;
  }
  return range;
}

// What one exchange with the server decided.
enum class Step { kRedirect, kRestart, kStream, kComplete, kFailed };

}  // namespace

bool same_origin(const Url& a, const Url& b) { return origin_of(a) == origin_of(b); }

Result<Url> resolve_location(const Url& base, std::string_view location) {
  if (location.empty()) return Error(ErrorCode::kInvalidArgument, "redirect without a Location");
  for (char c : location) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Error(ErrorCode::kInvalidArgument, "redirect Location has spaces or control bytes");
  }
  if (location.starts_with("http://") || location.starts_with("https://"))
    return Url::parse(location);
  if (location.starts_with("//"))
    return Url::parse(std::string(base.tls ? "https:" : "http:") + std::string(location));
  if (location.find("://") != std::string_view::npos && location.find("://") < location.find('/'))
    return Error(ErrorCode::kInvalidArgument, "redirect to an unsupported scheme");
  Url out = base;
  std::string_view base_path = base.target;
  base_path = base_path.substr(0, base_path.find_first_of("?#"));
  std::string path;
  std::string_view suffix;  // query of the location
  size_t query = location.find('?');
  std::string_view loc_path = location.substr(0, query);
  if (query != std::string_view::npos) suffix = location.substr(query);
  if (loc_path.starts_with("/")) {
    path = std::string(loc_path);
  } else if (loc_path.empty()) {
    path = std::string(base_path);   // "?x=1": same path, new query
  } else {
    path = std::string(base_path.substr(0, base_path.rfind('/') + 1)) + std::string(loc_path);
  }
  // Remove "." and ".." segments (RFC 3986 5.2.4), never above the root.
  std::vector<std::string> segments;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string segment = path.substr(start, end - start);
    bool last = end == path.size();
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      if (last) segments.emplace_back();
    } else if (segment == ".") {
      if (last) segments.emplace_back();
    } else {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string normal;
  for (const auto& segment : segments) normal += "/" + segment;
  if (normal.empty()) normal = "/";
  out.target = normal + std::string(suffix);
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 hash;
  hash.update(data.data(), data.size());
  return hash.hex();
}

Result<std::string> sha256_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return file_error("cannot open", path, errno);
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    int err = errno;
    ::close(fd);
    return file_error("cannot stat", path, err);
  }
  Sha256 hash;
  auto status = hash_prefix(fd, static_cast<uint64_t>(info.st_size), hash, path);
  ::close(fd);
  if (!status) return status.error();
  return hash.hex();
}

namespace {

bool valid_hf_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Percent-encodes a path, keeping '/' and RFC 3986 unreserved characters.
std::string encode_path(std::string_view path) {
  static const char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : path) {
    unsigned char byte = static_cast<unsigned char>(c);
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
    if (keep) {
      out += c;
    } else {
      out += '%';
      out += kDigits[byte >> 4];
      out += kDigits[byte & 15];
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode_percent(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The name a download gets on disk; refuses anything that is not one plain file name.
Result<std::string> safe_file_name(std::string_view name) {
  if (name.empty()) return Error(ErrorCode::kInvalidArgument, "the URL names no file");
  if (name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\\') != std::string_view::npos)
    return Error(ErrorCode::kInvalidArgument, "unsafe file name '" + std::string(name) + "'");
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Error(ErrorCode::kInvalidArgument, "file name has control characters");
  }
  return std::string(name);
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

Result<PullSource> resolve_pull_source(std::string_view source, std::string_view hf_endpoint) {
  PullSource out;
  if (source.starts_with("hf:")) {
    std::string_view rest = source.substr(3);
    size_t first = rest.find('/');
    size_t second = first == std::string_view::npos ? first : rest.find('/', first + 1);
    if (second == std::string_view::npos || second + 1 >= rest.size())
      return Error(ErrorCode::kInvalidArgument,
                   "expected hf:OWNER/REPO/FILE, got '" + std::string(source) + "'");
    std::string_view owner = rest.substr(0, first);
    std::string_view repo = rest.substr(first + 1, second - first - 1);
    std::string_view file = rest.substr(second + 1);
    if (!valid_hf_name(owner) || !valid_hf_name(repo))
      return Error(ErrorCode::kInvalidArgument,
                   "hf: OWNER and REPO may hold only letters, digits, '-', '_' and '.'");
    // Every segment of FILE must be a plain name: no empty, "." or ".." segments, no control
    // bytes, nothing that would end the path early ('?', '#').
    size_t start = 0;
    while (start <= file.size()) {
      size_t end = file.find('/', start);
      if (end == std::string_view::npos) end = file.size();
      std::string_view segment = file.substr(start, end - start);
      if (segment.empty() || segment == "." || segment == "..")
        return Error(ErrorCode::kInvalidArgument,
                     "hf: FILE '" + std::string(file) + "' has an empty, '.' or '..' segment");
      for (char c : segment) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '?' || c == '#' ||
            c == '\\')
          return Error(ErrorCode::kInvalidArgument,
                       "hf: FILE '" + std::string(file) + "' has a character not allowed in it");
      }
      start = end + 1;
    }
    std::string endpoint = hf_endpoint.empty() ? "https://huggingface.co" : std::string(hf_endpoint);
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    auto base = Url::parse(endpoint);
    if (!base) return Error(ErrorCode::kInvalidArgument, "KEEL_HF_ENDPOINT: " + base.error().message);
    out.url = base->with_path(std::string(owner) + "/" + std::string(repo) + "/resolve/main/" +
                              encode_path(file));
    auto name = safe_file_name(file.substr(file.rfind('/') + 1));
    if (!name) return name.error();
    out.file_name = *name;
    out.hugging_face = true;
    return out;
  }
  if (!source.starts_with("http://") && !source.starts_with("https://"))
    return Error(ErrorCode::kInvalidArgument, "expected an http(s):// URL or hf:OWNER/REPO/FILE, got '" +
                                                  std::string(source) + "'");
  auto url = Url::parse(source);
  if (!url) return url.error();
  std::string_view path = url->target;
  path = path.substr(0, path.find_first_of("?#"));
  auto name = safe_file_name(decode_percent(path.substr(path.rfind('/') + 1)));
  if (!name) return name.error();
  out.url = *url;
  out.file_name = *name;
  return out;
}

fs::path default_models_dir() {
  if (auto dir = env_or_empty("KEEL_MODELS_DIR"); !dir.empty()) return dir;
  if (auto cache = env_or_empty("XDG_CACHE_HOME"); !cache.empty())
    return fs::path(cache) / "keel" / "models";
  std::string home = env_or_empty("HOME");
  return fs::path(home.empty() ? "." : home) / ".cache" / "keel" / "models";
}

Task<Result<DownloadResult>> download_file(DownloadRequest request, CancelPtr cancel) {
  auto executor = co_await asio::this_coro::executor;
  fs::path part_path = request.destination;
  part_path += ".part";
  PartFile part;
  if (auto opened = part.open(part_path); !opened) co_return opened.error();

  // Our own child token: the stall watch may fire it without cancelling the caller's token.
  CancelPtr token = cancel ? cancel->child() : std::make_shared<CancelToken>();
  auto watch = std::make_shared<StallWatch>(executor, token, request.stall_timeout_ms);
  watch->start();
  struct StopWatch {
    std::shared_ptr<StallWatch> watch;
    ~StopWatch() { watch->stop(); }
  } stop_watch{watch};

  DownloadResult result;
  Url url = request.url;
  auto headers = request.headers;
  int redirects = 0;
  int restarts = 0;
  Sha256 hash;
  uint64_t offset = 0;
  uint64_t total = 0;
  std::unique_ptr<ClientResponse> response;
  Step step = Step::kFailed;
  std::optional<Error> failure;

  while (true) {
    auto on_disk = part.size();
    if (!on_disk) co_return on_disk.error();
    offset = *on_disk;
    ClientRequest exchange;
    exchange.url = url;
    exchange.headers = headers;
    exchange.connect_timeout_ms = request.connect_timeout_ms;
    if (offset > 0) exchange.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
    // Identity only: a byte range of a compressed representation cannot be resumed.
    exchange.headers.emplace_back("Accept-Encoding", "identity");
    watch->touch();
    auto sent = co_await http_send(std::move(exchange), token);
    if (!sent) co_return sent.error();
    response = std::move(sent.value());
    int status = response->status();
    std::string where = url.host + ":" + std::to_string(url.port);

    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      auto next = resolve_location(url, response->header("location"));
      if (!next) co_return Error(ErrorCode::kInvalidArgument, "bad redirect from " + where + ": " +
                                                                  next.error().message);
      if (++redirects > request.max_redirects)
        co_return Error(ErrorCode::kInvalidArgument,
                        "more than " + std::to_string(request.max_redirects) + " redirects");
      if (!same_origin(request.url, *next)) headers.clear();
      url = *next;
      step = Step::kRedirect;
      response.reset();
      continue;
    }

    if (status == 416 && offset > 0) {
      // The range starts at or past the end: the .part may already be the whole file.
      auto range = parse_content_range(response->header("content-range"));
      if (range && range->total && *range->total == offset) {
        step = Step::kComplete;
        total = offset;
        break;
      }
      step = Step::kRestart;
    } else if (status < 200 || status > 299) {
      // Enough of the body for an excerpt; an error page may be large, or never end.
      std::string body;
      while (body.size() <= kErrorExcerpt) {
        auto chunk = co_await response->read_some();
        if (!chunk || chunk->empty()) break;
        body += *chunk;
      }
      std::string excerpt = printable_excerpt(body);
      Error error(code_for_status(status), "HTTP " + std::to_string(status) + " from " +
                                               url.host + url.target.substr(0, url.target.find('?')) +
                                               (excerpt.empty() ? "" : ": " + excerpt));
      error.upstream_status = status;
      co_return error;
    } else if (status == 206) {
      auto range = parse_content_range(response->header("content-range"));
      if (range && range->has_range && range->first == offset) {
        total = range->total ? *range->total : 0;
        step = Step::kStream;
      } else {
        step = Step::kRestart;   // a range we did not ask for: start again from byte 0
      }
    } else {
      // 200 (or another 2xx): the whole file, whether or not we asked for a range.
      if (offset > 0) {
        if (auto reset = part.reset(); !reset) co_return reset.error();
        offset = 0;
      }
      uint64_t length = 0;
      total = parse_u64(response->header("content-length"), length) ? length : 0;
      step = Step::kStream;
    }

    if (step == Step::kRestart) {
      if (++restarts > 1)
        co_return Error(ErrorCode::kBadGateway, "the server at " + where +
                                                    " answers byte ranges inconsistently");
      if (auto reset = part.reset(); !reset) co_return reset.error();
      response.reset();
      continue;
    }
    break;
  }

  result.final_url = origin_of(url) + url.target.substr(0, url.target.find('?'));
  result.resumed_from = offset;
  if (auto hashed = hash_prefix(part.fd(), offset, hash, part.path()); !hashed)
    co_return hashed.error();
  if (auto end = part.seek_end(); !end) co_return end.error();
  uint64_t bytes = offset;
  DownloadProgress progress{bytes, total, offset};
  if (request.on_progress) request.on_progress(progress);

  if (step == Step::kStream) {
    while (true) {
      auto chunk = co_await response->read_some();
      if (!chunk) {
        failure = chunk.error();
        break;
      }
      if (chunk->empty()) break;
      watch->touch();
      if (auto wrote = write_all(part.fd(), *chunk, part.path()); !wrote) {
        failure = wrote.error();
        break;
      }
      hash.update(chunk->data(), chunk->size());
      bytes += chunk->size();
      progress.bytes = bytes;
      if (request.on_progress) request.on_progress(progress);
    }
    response.reset();
    if (failure) {
      // Interrupted: the bytes so far stay in the .part for the next attempt to resume.
      ::fdatasync(part.fd());
      failure->message = "download interrupted after " + std::to_string(bytes) + " bytes (" +
                         part.path().string() + " kept for resume): " + failure->message;
      co_return *failure;
    }
    if (total > 0 && bytes != total)
      co_return Error(ErrorCode::kUnavailable, "download ended at " + std::to_string(bytes) +
                                                   " of " + std::to_string(total) + " bytes");
  }

  result.bytes = bytes;
  result.sha256 = hash.hex();
  if (!request.expected_sha256.empty()) {
    std::string expected = request.expected_sha256;
    for (char& c : expected) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (expected != result.sha256) {
      part.remove();
      co_return Error(ErrorCode::kBadGateway, "sha256 mismatch: expected " + expected + ", got " +
                                                  result.sha256 + " (download deleted)");
    }
  }
  if (auto committed = part.commit(request.destination); !committed) co_return committed.error();
  co_return result;
}

}  // namespace keel

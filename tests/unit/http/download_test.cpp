// download_file against a real keel::Server on loopback (tests/unit/http/test_server.h): whole
// downloads, sha256 checks, resume with Range, servers that ignore ranges, interrupted and
// stalled transfers, redirects (and where credentials go), error statuses; and the pure parts:
// pull sources (URL, hf:), Location resolution, the models folder.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http/download.h"
#include "test_server.h"

namespace keel {
namespace {

namespace fs = std::filesystem;
using testkit::run_until_done;
using testkit::TestServer;

// --- pull sources ------------------------------------------------------------------------------

TEST(PullSourceTest, HuggingFaceShorthand) {
  auto source = resolve_pull_source("hf:Qwen/Qwen3-0.6B-GGUF/Qwen3-0.6B-Q8_0.gguf", "");
  ASSERT_TRUE(source.ok()) << source.error().message;
  EXPECT_TRUE(source->url.tls);
  EXPECT_EQ(source->url.host, "huggingface.co");
  EXPECT_EQ(source->url.target, "/Qwen/Qwen3-0.6B-GGUF/resolve/main/Qwen3-0.6B-Q8_0.gguf");
  EXPECT_EQ(source->file_name, "Qwen3-0.6B-Q8_0.gguf");
  EXPECT_TRUE(source->hugging_face);
}

TEST(PullSourceTest, HuggingFaceFileInAFolderAndAnotherEndpoint) {
  auto source = resolve_pull_source("hf:o/r/sub dir/m q.gguf", "http://127.0.0.1:9000/mirror/");
  ASSERT_TRUE(source.ok()) << source.error().message;
  EXPECT_FALSE(source->url.tls);
  EXPECT_EQ(source->url.port, 9000);
  EXPECT_EQ(source->url.target, "/mirror/o/r/resolve/main/sub%20dir/m%20q.gguf");
  EXPECT_EQ(source->file_name, "m q.gguf");
}

TEST(PullSourceTest, BadHuggingFaceNamesAreRefused) {
  for (const char* text : {"hf:", "hf:owner", "hf:owner/repo", "hf:owner/repo/", "hf:/repo/f.gguf",
                           "hf:ow ner/repo/f.gguf", "hf:o/r/../f.gguf", "hf:o/r/a//f.gguf",
                           "hf:o/r/f.gguf?x=1", "hf:o/r/./f", "hf:o/r/f/..", "hf:o/r/a\\b",
                           "hf:o/r/dir/"}) {
    auto source = resolve_pull_source(text, "");
    EXPECT_FALSE(source.ok()) << text;
    if (!source.ok()) {
      EXPECT_EQ(source.error().code, ErrorCode::kInvalidArgument) << text;
    }
  }
  EXPECT_FALSE(resolve_pull_source("hf:o/r/f.gguf", "ftp://mirror").ok());
}

TEST(PullSourceTest, UrlsKeepTheirTargetAndNameTheFileAfterTheLastSegment) {
  auto source = resolve_pull_source("https://example.com/a/b/model%20x.gguf?download=true", "");
  ASSERT_TRUE(source.ok()) << source.error().message;
  EXPECT_EQ(source->url.target, "/a/b/model%20x.gguf?download=true");
  EXPECT_EQ(source->file_name, "model x.gguf");
  EXPECT_FALSE(source->hugging_face);
  for (const char* text : {"https://example.com/", "https://example.com", "http://h/a/..",
                           "http://h/a/%2e%2e", "http://h/x%2Fy", "file:///etc/passwd",
                           "model.gguf", "http://user:pw@h/f.gguf"}) {
    EXPECT_FALSE(resolve_pull_source(text, "").ok()) << text;
  }
}

// --- Location ----------------------------------------------------------------------------------

TEST(ResolveLocationTest, AbsoluteRelativeAndSchemeRelative) {
  Url base = *Url::parse("http://a.test:8080/dir/sub/file?q=1");
  struct Case {
    const char* location;
    const char* expected;   // origin + target
  };
  for (const Case& c : std::vector<Case>{
           {"https://cdn.test/x/y?sig=abc", "https://cdn.test:443/x/y?sig=abc"},
           {"//cdn.test/x", "http://cdn.test:80/x"},
           {"/top", "http://a.test:8080/top"},
           {"other", "http://a.test:8080/dir/sub/other"},
           {"../up?x=2", "http://a.test:8080/dir/up?x=2"},
           {"../../../../root", "http://a.test:8080/root"},
           {"./here/", "http://a.test:8080/dir/sub/here/"},
           {"?page=2", "http://a.test:8080/dir/sub/file?page=2"},
       }) {
    auto url = resolve_location(base, c.location);
    ASSERT_TRUE(url.ok()) << c.location << ": " << url.error().message;
    std::string text = std::string(url->tls ? "https://" : "http://") + url->host + ":" +
                       std::to_string(url->port) + url->target;
    EXPECT_EQ(text, c.expected) << c.location;
  }
  EXPECT_FALSE(resolve_location(base, "").ok());
  EXPECT_FALSE(resolve_location(base, "ftp://x/y").ok());
  EXPECT_FALSE(resolve_location(base, "/a b").ok());
}

TEST(ResolveLocationTest, SameOrigin) {
  Url a = *Url::parse("https://h.test/x");
  EXPECT_TRUE(same_origin(a, *Url::parse("https://h.test:443/y")));
  EXPECT_FALSE(same_origin(a, *Url::parse("http://h.test/x")));
  EXPECT_FALSE(same_origin(a, *Url::parse("https://h.test:8443/x")));
  EXPECT_FALSE(same_origin(a, *Url::parse("https://cdn.h.test/x")));
}

// --- models folder -----------------------------------------------------------------------------

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ModelsDirTest, EnvironmentOrder) {
  ScopedEnv home("HOME", "/home/u");
  {
    ScopedEnv keel("KEEL_MODELS_DIR", "/srv/models");
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(default_models_dir(), fs::path("/srv/models"));
  }
  {
    ScopedEnv keel("KEEL_MODELS_DIR", "");
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(default_models_dir(), fs::path("/xdg/keel/models"));
  }
  {
    ScopedEnv keel("KEEL_MODELS_DIR", nullptr);
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    EXPECT_EQ(default_models_dir(), fs::path("/home/u/.cache/keel/models"));
  }
}

// --- the downloader ----------------------------------------------------------------------------

std::string test_content(size_t size) {
  std::string content(size, '\0');
  uint32_t state = 12345;
  for (auto& c : content) {
    state = state * 1664525u + 1013904223u;
    c = static_cast<char>(state >> 24);
  }
  return content;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string sha_of(std::string_view data) {
  fs::path tmp = fs::temp_directory_path() / ("keel-sha-" + std::to_string(::getpid()));
  write_file(tmp, data);
  auto sha = sha256_file(tmp);
  fs::remove(tmp);
  return sha ? *sha : "";
}

// What the test server saw, shared with its io thread.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> paths, ranges, authorizations;
  void record(Request& req) {
    std::lock_guard lock(mutex);
    paths.emplace_back(req.path());
    ranges.emplace_back(req.header("range"));
    authorizations.emplace_back(req.header("authorization"));
  }
  std::vector<std::string> get(std::vector<std::string> Seen::*which) {
    std::lock_guard lock(mutex);
    return this->*which;
  }
};

// Answers GET with `content`, honouring "Range: bytes=N-" when `ranges` is set.
Task<void> serve_content(const std::string& content, bool ranges, Request& req,
                         ResponseWriter& res) {
  std::string range(req.header("range"));
  if (ranges && range.starts_with("bytes=") && range.ends_with("-")) {
    size_t start = std::stoull(range.substr(6, range.size() - 7));
    std::string total = std::to_string(content.size());
    if (start >= content.size()) {
      std::vector<std::pair<std::string, std::string>> headers = {
          {"content-range", "bytes */" + total}};
      co_await res.send(416, "text/plain", "", headers);
      co_return;
    }
    std::vector<std::pair<std::string, std::string>> headers = {
        {"content-range",
         "bytes " + std::to_string(start) + "-" + std::to_string(content.size() - 1) + "/" + total}};
    co_await res.send(206, "application/octet-stream", content.substr(start), headers);
    co_return;
  }
  co_await res.send(200, "application/octet-stream", content);
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("keel-download-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    http_pool_clear();
    fs::remove_all(dir_);
  }

  fs::path file() const { return dir_ / "model.bin"; }
  fs::path part() const { return dir_ / "model.bin.part"; }

  DownloadRequest request_for(const Url& url) {
    DownloadRequest request;
    request.url = url;
    request.destination = file();
    request.stall_timeout_ms = 5000;
    return request;
  }

  Result<DownloadResult> run(DownloadRequest request, CancelPtr cancel = nullptr) {
    // co_spawn needs a default-constructible result; Result<T> is not.
    auto task = [](DownloadRequest r, CancelPtr c) -> Task<std::optional<Result<DownloadResult>>> {
      co_return co_await download_file(std::move(r), c);
    };
    auto result = run_until_done(io_, task(std::move(request), std::move(cancel)));
    return std::move(*result);
  }

  asio::io_context io_;
  fs::path dir_;
  Seen seen_;
};

TEST_F(DownloadTest, WholeFileWithItsSha256LandsInPlace) {
  const std::string content = test_content(300 * 1024);
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    co_await serve_content(content, true, req, res);
  });
  std::vector<DownloadProgress> progress;
  auto request = request_for(server.url("/files/model.bin"));
  request.expected_sha256 = sha_of(content);
  for (char& c : request.expected_sha256) c = static_cast<char>(std::toupper(c));   // any case
  request.on_progress = [&](const DownloadProgress& p) { progress.push_back(p); };
  auto done = run(std::move(request));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(done->bytes, content.size());
  EXPECT_EQ(done->sha256, sha_of(content));
  EXPECT_EQ(done->resumed_from, 0u);
  EXPECT_EQ(read_file(file()), content);
  EXPECT_FALSE(fs::exists(part()));
  EXPECT_EQ(seen_.get(&Seen::ranges), std::vector<std::string>{""});
  ASSERT_GE(progress.size(), 2u);
  EXPECT_EQ(progress.back().bytes, content.size());
  EXPECT_EQ(progress.back().total, content.size());
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].bytes, progress[i - 1].bytes);
}

TEST_F(DownloadTest, WrongSha256LeavesNothingBehind) {
  const std::string content = test_content(64 * 1024);
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    co_await serve_content(content, true, req, res);
  });
  auto request = request_for(server.url("/model.bin"));
  request.expected_sha256 = std::string(64, '0');
  auto done = run(std::move(request));
  ASSERT_FALSE(done.ok());
  EXPECT_NE(done.error().message.find("sha256 mismatch"), std::string::npos) << done.error().message;
  EXPECT_NE(done.error().message.find(sha_of(content)), std::string::npos) << done.error().message;
  EXPECT_FALSE(fs::exists(file()));
  EXPECT_FALSE(fs::exists(part()));
}

TEST_F(DownloadTest, ResumesAPartialFileWithARange) {
  const std::string content = test_content(200 * 1024);
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    co_await serve_content(content, true, req, res);
  });
  write_file(part(), std::string_view(content).substr(0, 70000));
  auto request = request_for(server.url("/model.bin"));
  request.expected_sha256 = sha_of(content);
  auto done = run(std::move(request));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(done->resumed_from, 70000u);
  EXPECT_EQ(done->bytes, content.size());
  EXPECT_EQ(read_file(file()), content);
  EXPECT_FALSE(fs::exists(part()));
  EXPECT_EQ(seen_.get(&Seen::ranges), std::vector<std::string>{"bytes=70000-"});
}

TEST_F(DownloadTest, AServerThatIgnoresRangesRestartsFromZero) {
  const std::string content = test_content(50 * 1024);
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    co_await serve_content(content, false, req, res);
  });
  write_file(part(), "stale bytes from another file");
  auto done = run(request_for(server.url("/model.bin")));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(done->resumed_from, 0u);
  EXPECT_EQ(read_file(file()), content);
  EXPECT_EQ(done->sha256, sha_of(content));
  EXPECT_EQ(seen_.get(&Seen::ranges).at(0), "bytes=29-");
}

TEST_F(DownloadTest, A416ForACompletePartFinishesWithoutDownloading) {
  const std::string content = test_content(10 * 1024);
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    co_await serve_content(content, true, req, res);
  });
  write_file(part(), content);
  auto request = request_for(server.url("/model.bin"));
  request.expected_sha256 = sha_of(content);
  auto done = run(std::move(request));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(read_file(file()), content);
  EXPECT_FALSE(fs::exists(part()));
  EXPECT_EQ(seen_.get(&Seen::ranges).size(), 1u);
}

TEST_F(DownloadTest, A416ForALongerPartStartsAgain) {
  const std::string content = test_content(10 * 1024);
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    co_await serve_content(content, true, req, res);
  });
  write_file(part(), content + "extra");
  auto done = run(request_for(server.url("/model.bin")));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(read_file(file()), content);
  EXPECT_EQ(seen_.get(&Seen::ranges), (std::vector<std::string>{"bytes=10245-", ""}));
}

TEST_F(DownloadTest, AnInterruptedTransferKeepsThePartAndTheNextCallResumes) {
  const std::string content = test_content(256 * 1024);
  std::atomic<int> calls{0};
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    if (calls++ == 0) {
      // Half the file, then the connection drops (a chunked body without its last chunk).
      res.close_after();
      co_await res.begin_stream(200, "application/octet-stream");
      co_await res.write(std::string_view(content).substr(0, content.size() / 2));
      co_return;
    }
    co_await serve_content(content, true, req, res);
  });
  auto first = run(request_for(server.url("/model.bin")));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, ErrorCode::kUnavailable) << first.error().message;
  EXPECT_NE(first.error().message.find("kept for resume"), std::string::npos);
  EXPECT_FALSE(fs::exists(file()));
  ASSERT_TRUE(fs::exists(part()));
  EXPECT_EQ(read_file(part()), content.substr(0, content.size() / 2));

  auto request = request_for(server.url("/model.bin"));
  request.expected_sha256 = sha_of(content);
  auto second = run(std::move(request));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->resumed_from, content.size() / 2);
  EXPECT_EQ(read_file(file()), content);
  EXPECT_FALSE(fs::exists(part()));
  EXPECT_EQ(seen_.get(&Seen::ranges).back(), "bytes=" + std::to_string(content.size() / 2) + "-");
}

TEST_F(DownloadTest, AStalledTransferTimesOutAndKeepsWhatItHas) {
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.begin_stream(200, "application/octet-stream");
    co_await res.write("first bytes");
    co_await testkit::wait_for_client_gone(res, 5000);
  });
  auto request = request_for(server.url("/model.bin"));
  request.stall_timeout_ms = 300;
  auto done = run(std::move(request));
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, ErrorCode::kDeadlineExceeded) << done.error().message;
  EXPECT_EQ(read_file(part()), "first bytes");
  EXPECT_FALSE(fs::exists(file()));
}

TEST_F(DownloadTest, CancellingKeepsThePart) {
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.begin_stream(200, "application/octet-stream");
    co_await res.write("some bytes");
    co_await testkit::wait_for_client_gone(res, 5000);
  });
  auto cancel = std::make_shared<CancelToken>();
  auto request = request_for(server.url("/model.bin"));
  request.on_progress = [&](const DownloadProgress& p) {
    if (p.bytes > 0) cancel->cancel(ErrorCode::kCancelled, "interrupted");
  };
  auto done = run(std::move(request), cancel);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, ErrorCode::kCancelled) << done.error().message;
  EXPECT_EQ(read_file(part()), "some bytes");
}

TEST_F(DownloadTest, ErrorStatusesNameTheStatusAndLeaveNothing) {
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.send(404, "text/plain", "Entry not found\nfor this repo");
  });
  auto done = run(request_for(server.url("/missing.bin?token=secret")));
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(done.error().upstream_status, 404);
  EXPECT_NE(done.error().message.find("HTTP 404"), std::string::npos) << done.error().message;
  EXPECT_NE(done.error().message.find("Entry not found for this repo"), std::string::npos)
      << done.error().message;
  EXPECT_EQ(done.error().message.find("secret"), std::string::npos) << done.error().message;
  EXPECT_FALSE(fs::exists(file()));
  EXPECT_FALSE(fs::exists(part()));
}

TEST_F(DownloadTest, ALargeErrorPageStillGivesAnExcerpt) {
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.send(403, "text/html", "<html>Access denied" + std::string(100000, ' ') + "</html>");
  });
  auto done = run(request_for(server.url("/model.bin")));
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(done.error().message.find("HTTP 403"), std::string::npos) << done.error().message;
  EXPECT_NE(done.error().message.find("<html>Access denied"), std::string::npos)
      << done.error().message;
  EXPECT_LT(done.error().message.size(), 400u);
}

TEST_F(DownloadTest, AnErrorOnResumeKeepsTheEarlierPart) {
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.send(503, "text/plain", "busy");
  });
  write_file(part(), "earlier bytes");
  auto done = run(request_for(server.url("/model.bin")));
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().upstream_status, 503);
  EXPECT_EQ(read_file(part()), "earlier bytes");
}

TEST_F(DownloadTest, RedirectsAreFollowedAndCredentialsStayOnTheirOrigin) {
  const std::string content = test_content(20 * 1024);
  Seen cdn_seen;
  TestServer cdn([&](Request& req, ResponseWriter& res) -> Task<void> {
    cdn_seen.record(req);
    co_await serve_content(content, true, req, res);
  });
  TestServer origin([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    std::string path(req.path());
    std::vector<std::pair<std::string, std::string>> headers;
    if (path == "/repo/resolve/main/model.bin") {
      headers = {{"location", "../../moved/model.bin"}};   // relative, same origin
      co_await res.send(302, "text/plain", "", headers);
    } else if (path == "/repo/moved/model.bin") {
      headers = {{"location", cdn.base("/signed/model.bin?sig=1")}};
      co_await res.send(307, "text/plain", "", headers);
    } else {
      co_await res.send(404, "text/plain", "no");
    }
  });
  auto request = request_for(origin.url("/repo/resolve/main/model.bin"));
  request.headers = {{"Authorization", "Bearer hf_secret"}};
  auto done = run(std::move(request));
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(read_file(file()), content);
  EXPECT_EQ(done->final_url, "http://127.0.0.1:" + std::to_string(cdn.port()) + "/signed/model.bin");
  EXPECT_EQ(seen_.get(&Seen::paths),
            (std::vector<std::string>{"/repo/resolve/main/model.bin", "/repo/moved/model.bin"}));
  EXPECT_EQ(seen_.get(&Seen::authorizations),
            (std::vector<std::string>{"Bearer hf_secret", "Bearer hf_secret"}));
  EXPECT_EQ(cdn_seen.get(&Seen::authorizations), std::vector<std::string>{""});
}

TEST_F(DownloadTest, RedirectLoopsStop) {
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    seen_.record(req);
    std::vector<std::pair<std::string, std::string>> headers = {{"location", "/loop"}};
    co_await res.send(302, "text/plain", "", headers);
  });
  auto request = request_for(server.url("/loop"));
  request.max_redirects = 3;
  auto done = run(std::move(request));
  ASSERT_FALSE(done.ok());
  EXPECT_NE(done.error().message.find("more than 3 redirects"), std::string::npos)
      << done.error().message;
  EXPECT_EQ(seen_.get(&Seen::paths).size(), 4u);
  EXPECT_FALSE(fs::exists(part()));
}

TEST_F(DownloadTest, ASecondDownloadOfTheSameFileIsRefusedWhileOneRuns) {
  TestServer server([&](Request& req, ResponseWriter& res) -> Task<void> {
    co_await res.send(200, "application/octet-stream", "x");
  });
  int fd = ::open(part().c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  auto done = run(request_for(server.url("/model.bin")));
  ::close(fd);
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, ErrorCode::kResourceExhausted) << done.error().message;
  EXPECT_FALSE(fs::exists(file()));
}

TEST(Sha256FileTest, KnownVector) {
  fs::path path = fs::temp_directory_path() / ("keel-sha-abc-" + std::to_string(::getpid()));
  write_file(path, "abc");
  auto sha = sha256_file(path);
  fs::remove(path);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(sha256_file(path).ok());
}

}  // namespace
}  // namespace keel

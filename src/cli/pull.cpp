// `keel pull SOURCE`: downloads a model file into the models folder, with a progress bar,
// resume, sha256 check and an atomic rename (the work is download_file's, src/http/download.h).
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "cli/commands.h"
#include "http/download.h"

namespace keel::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: keel pull SOURCE [--sha256 HEX] [--models-dir DIR] [--force]\n"
    "  SOURCE: an http(s) URL, or hf:OWNER/REPO/FILE (Hugging Face; KEEL_HF_ENDPOINT, HF_TOKEN)\n";

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

bool is_hex_digest(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Draws progress on stderr: a redrawn bar on a terminal, else a plain line every few seconds
// (logs and CI keep a readable record without a line per chunk).
class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::string name) : name_(std::move(name)), tty_(isatty(STDERR_FILENO)) {}

  void update(const DownloadProgress& p) {
    auto now = Clock::now();
    if (!started_) {
      started_ = true;
      start_ = now;
      start_bytes_ = p.bytes;
      last_ = now;
      if (p.resumed_from > 0)
        std::fprintf(stderr, "resuming %s at %s\n", name_.c_str(), human_bytes(p.resumed_from).c_str());
      return;
    }
    auto since_last = now - last_;
    if (since_last < (tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000))) return;
    last_ = now;
    draw(p, now);
  }

  void finish(const DownloadProgress& p) {
    if (!started_) return;
    draw(p, Clock::now());
    if (tty_) std::fputc('\n', stderr);
  }

 private:
  void draw(const DownloadProgress& p, Clock::time_point now) {
    double seconds = std::chrono::duration<double>(now - start_).count();
    double rate = seconds > 0 ? static_cast<double>(p.bytes - start_bytes_) / seconds : 0;
    std::string amount = human_bytes(static_cast<double>(p.bytes));
    std::string percent;
    std::string bar;
    if (p.total > 0) {
      double fraction = static_cast<double>(p.bytes) / static_cast<double>(p.total);
      amount += " / " + human_bytes(static_cast<double>(p.total));
      char text[16];
      std::snprintf(text, sizeof text, "%3.0f%%", fraction * 100);
      percent = text;
      constexpr int kWidth = 30;
      int filled = static_cast<int>(fraction * kWidth);
      bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "] ";
    }
    std::string speed = human_bytes(rate) + "/s";
    if (tty_) {
      std::fprintf(stderr, "\r\033[K%s%s  %s  %s", bar.c_str(), percent.c_str(), amount.c_str(),
                   speed.c_str());
    } else {
      std::fprintf(stderr, "pull %s: %s %s %s\n", name_.c_str(), amount.c_str(), percent.c_str(),
                   speed.c_str());
    }
    std::fflush(stderr);
  }

  std::string name_;
  bool tty_;
  bool started_ = false;
  Clock::time_point start_, last_;
  uint64_t start_bytes_ = 0;
};

}  // namespace

std::string human_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

int pull(const std::vector<std::string>& args) {
  std::string source;
  std::string expected_sha;
  std::string models_dir_flag;
  bool force = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--sha256" || arg == "--models-dir") {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "keel pull: %s needs a value\n%s", arg.c_str(), kUsage);
        return 2;
      }
      (arg == "--sha256" ? expected_sha : models_dir_flag) = args[++i];
    } else if (arg == "--force") {
      force = true;
    } else if (arg.starts_with("-") || !source.empty()) {
      std::fprintf(stderr, "keel pull: unexpected argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    } else {
      source = arg;
    }
  }
  if (source.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (!expected_sha.empty() && !is_hex_digest(expected_sha)) {
    std::fputs("keel pull: --sha256 takes 64 hex digits\n", stderr);
    return 2;
  }
  for (char& c : expected_sha) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

  auto resolved = resolve_pull_source(source, env("KEEL_HF_ENDPOINT"));
  if (!resolved) {
    std::fprintf(stderr, "keel pull: %s\n", resolved.error().message.c_str());
    return 2;
  }
  fs::path dir = models_dir_flag.empty() ? default_models_dir() : fs::path(models_dir_flag);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "keel pull: cannot create %s: %s\n", dir.c_str(), ec.message().c_str());
    return 1;
  }
  fs::path destination = dir / resolved->file_name;

  if (!force && fs::exists(destination, ec)) {
    if (expected_sha.empty()) {
      std::fprintf(stderr, "%s is already present (--force downloads it again)\n",
                   destination.c_str());
      std::printf("%s\n", destination.c_str());
      return 0;
    }
    auto existing = sha256_file(destination);
    if (existing && *existing == expected_sha) {
      std::fprintf(stderr, "%s is already present, sha256 ok\n", destination.c_str());
      std::printf("%s\n", destination.c_str());
      return 0;
    }
    std::fprintf(stderr, "%s is present with another sha256: downloading it again\n",
                 destination.c_str());
  }

  DownloadRequest request;
  request.url = resolved->url;
  request.destination = destination;
  request.expected_sha256 = expected_sha;
  // The token goes only to the Hugging Face endpoint; download_file drops it on a redirect to
  // another origin (the CDN's signed URL needs none).
  if (std::string token = env("HF_TOKEN"); resolved->hugging_face && !token.empty())
    request.headers.emplace_back("Authorization", "Bearer " + token);
  ProgressPrinter printer(resolved->file_name);
  DownloadProgress last;
  request.on_progress = [&](const DownloadProgress& p) {
    last = p;
    printer.update(p);
  };

  const Url& url = resolved->url;
  bool default_port = url.port == (url.tls ? 443 : 80);
  std::string shown = std::string(url.tls ? "https://" : "http://") + url.host +
                      (default_port ? "" : ":" + std::to_string(url.port)) + url.target;
  std::fprintf(stderr, "pulling %s\n  from %s\n", destination.c_str(), shown.c_str());
  asio::io_context context;
  auto cancel = std::make_shared<CancelToken>();
  // Ctrl-C / SIGTERM end the transfer; the .part stays for the next pull to resume.
  asio::signal_set signals(context, SIGINT, SIGTERM);
  bool interrupted = false;
  signals.async_wait([&](const beast::error_code& error, int) {
    if (error) return;
    interrupted = true;
    cancel->cancel(ErrorCode::kCancelled, "interrupted");
  });
  Result<DownloadResult> outcome = Error(ErrorCode::kInternal, "not run");
  auto run = [&]() -> Task<void> {
    outcome = co_await download_file(std::move(request), cancel);
    signals.cancel();
  };
  asio::co_spawn(context, run(), asio::detached);
  context.run();
  http_pool_clear();
  printer.finish(last);

  if (!outcome) {
    std::fprintf(stderr, "keel pull: %s\n", outcome.error().message.c_str());
    return interrupted ? 130 : 1;
  }
  std::fprintf(stderr, "pulled %s (%s%s), sha256 %s%s\n", destination.c_str(),
               human_bytes(static_cast<double>(outcome->bytes)).c_str(),
               outcome->resumed_from > 0 ? ", resumed" : "", outcome->sha256.c_str(),
               expected_sha.empty() ? "" : " (verified)");
  std::printf("%s\n", destination.c_str());
  return 0;
}

}  // namespace keel::cli

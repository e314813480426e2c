// Leveled logging to stderr, one line per record, safe from any thread.
//
//   KEEL_LOG(kInfo) << "listening on " << addr;
//
// Records never carry API keys: callers log names of things, not secrets.
#pragma once

#include <sstream>
#include <string>

namespace keel {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_write(LogLevel level, const std::string& line);

class LogLine {
 public:
  explicit LogLine(LogLevel level) : level_(level) {}
  ~LogLine() { log_write(level_, stream_.str()); }
  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace keel

#define KEEL_LOG(level)                                   \
  if (::keel::LogLevel::level < ::keel::log_level()) {    \
  } else                                                  \
    ::keel::LogLine(::keel::LogLevel::level)

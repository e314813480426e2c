// Errors as values between modules (g++ 12 has no std::expected).
//
//   Result<int> parse_port(std::string_view s);
//   auto port = parse_port("8080");
//   if (!port) return port.error();        // propagate
//   use(*port);
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace keel {

// A small set of codes, in the spirit of absl::Status. One function (api/openai_error.h) maps
// them to HTTP statuses; nothing else decides a status.
enum class ErrorCode {
  kInvalidArgument,     // 400: the client's request is wrong
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403
  kNotFound,            // 404: unknown model or route
  kPayloadTooLarge,     // 413
  kUnsupportedMedia,    // 415
  kResourceExhausted,   // 429: rate limited (upstream) or overloaded
  kInternal,            // 500
  kBadGateway,          // 502: upstream sent something we cannot use
  kUnavailable,         // 503: upstream or every target down
  kDeadlineExceeded,    // 504: timed out
  kCancelled,           // 499: the client went away
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // For upstream failures: the HTTP status the upstream sent (0 when none) and how long it
  // asked us to wait (Retry-After), in milliseconds.
  int upstream_status = 0;
  std::optional<long> retry_after_ms;
  // Machine-readable code for the client's error body ("model_not_found", ...); may be empty.
  std::string type_code;
  // The request field at fault, when known ("messages", "model").
  std::string param;

  Error() = default;
  Error(ErrorCode c, std::string msg) : code(c), message(std::move(msg)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}       // NOLINT: implicit by design
  Result(Error error) : data_(std::move(error)) {}   // NOLINT
  Result(ErrorCode code, std::string msg) : data_(Error(code, std::move(msg))) {}

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(data_); }
  Error& error() { return std::get<1>(data_); }

 private:
  std::variant<T, Error> data_;
};

// Result<void>: success or an error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}  // NOLINT
  Status(ErrorCode code, std::string msg) : error_(Error(code, std::move(msg))) {}
  static Status Ok() { return Status(); }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

}  // namespace keel

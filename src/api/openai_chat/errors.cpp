// keel's one mapping from error code to HTTP status, and the OpenAI error shape
// (openai_chat.h).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include "api/json_scan.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "core/text.h"

namespace keel {

using namespace std::string_view_literals;

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kPermissionDenied:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMedia:
      return 415;
    case ErrorCode::kResourceExhausted:
      return 429;
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kBadGateway:
      return 502;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kCancelled:
      return 499;
  }
  return 500;
}

Json error_to_wire(const Error& error) {
  const char* type = "api_error";
  Json code = nullptr;
  switch (error.code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kPayloadTooLarge:
    case ErrorCode::kUnsupportedMedia:
      type = "invalid_request_error";
      break;
    case ErrorCode::kUnauthenticated:
      type = "authentication_error";
      code = "invalid_api_key";
      break;
    case ErrorCode::kPermissionDenied:
      type = "permission_error";
      break;
    case ErrorCode::kResourceExhausted:
      type = "rate_limit_error";
      code = "rate_limit_exceeded";
      break;
    case ErrorCode::kDeadlineExceeded:
      code = "timeout";
      break;
    case ErrorCode::kInternal:
    case ErrorCode::kBadGateway:
    case ErrorCode::kUnavailable:
    case ErrorCode::kCancelled:
      break;
  }
  if (!error.type_code.empty()) code = error.type_code;
  std::string message = error.message.empty() ? error_code_name(error.code) : error.message;
  return {{"error",
           {{"message", std::move(message)},
            {"type", type},
            {"param", error.param.empty() ? Json(nullptr) : Json(error.param)},
            {"code", std::move(code)}}}};
}

}  // namespace keel

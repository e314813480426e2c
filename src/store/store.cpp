#include "store/store.h"

#include <cctype>

#include "store/sqlite/sqlite_store.h"

namespace keel {

Result<std::unique_ptr<Store>> open_store(const std::string& spec, RetentionOptions retention) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos) {
    return Error(ErrorCode::kInvalidArgument,
                 "state '" + spec + "' has no scheme; expected sqlite:PATH");
  }
  std::string scheme = spec.substr(0, colon);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Errors name only the scheme: the rest of a URL may carry a password.
  if (scheme.empty()) {
    return Error(ErrorCode::kInvalidArgument, "state spec has no scheme; expected sqlite:PATH");
  }
  if (scheme == "sqlite") {
    const std::string path = spec.substr(colon + 1);
    if (path.empty()) {
      return Error(ErrorCode::kInvalidArgument,
                   "state 'sqlite:' needs a path, as sqlite:keel.db or sqlite::memory:");
    }
    SqliteStoreOptions options;
    options.retention = retention;
    auto store = SqliteStore::open(path, options);
    if (!store) return store.error();
    return std::unique_ptr<Store>(std::move(*store));
  }
  if (scheme == "redis" || scheme == "rediss" || scheme == "postgres" || scheme == "postgresql") {
    return Error(ErrorCode::kInvalidArgument,
                 "state scheme '" + scheme + "' is not supported yet; use sqlite:PATH");
  }
  return Error(ErrorCode::kInvalidArgument,
               "unknown state scheme '" + scheme + "'; expected sqlite:PATH");
}

}  // namespace keel

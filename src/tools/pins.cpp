#include "tools/pins.h"

#include <openssl/evp.h>
#include <sqlite3.h>

#include <chrono>

namespace keel {

std::string tool_definition_hash(const ToolSpec& spec) {
  std::string text = spec.name;
  text += '\0';
  text += spec.description;
  text += '\0';
  text += spec.parameters.dump();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

Result<std::unique_ptr<ToolPins>> ToolPins::open(const std::string& state_spec) {
  std::unique_ptr<ToolPins> pins(new ToolPins());
  if (!state_spec.starts_with("sqlite:") || state_spec == "sqlite::memory:") return pins;
  const std::string path = state_spec.substr(7);
  if (sqlite3_open_v2(path.c_str(), &pins->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    std::string message = pins->db_ ? sqlite3_errmsg(pins->db_) : "out of memory";
    return Error(ErrorCode::kUnavailable, "tool pins: cannot open " + path + ": " + message);
  }
  sqlite3_busy_timeout(pins->db_, 5000);
  char* error = nullptr;
  if (sqlite3_exec(pins->db_,
                   "CREATE TABLE IF NOT EXISTS tool_pins(toolset TEXT NOT NULL, tool TEXT NOT "
                   "NULL, hash TEXT NOT NULL, pinned_ms INTEGER NOT NULL, PRIMARY KEY(toolset, "
                   "tool))",
                   nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return Error(ErrorCode::kUnavailable, "tool pins: " + message);
  }
  sqlite3_stmt* select = nullptr;
  sqlite3_prepare_v2(pins->db_, "SELECT toolset, tool, hash FROM tool_pins", -1, &select, nullptr);
  while (select && sqlite3_step(select) == SQLITE_ROW) {
    const auto column = [select](int i) {
      const unsigned char* text = sqlite3_column_text(select, i);
      return text ? std::string(reinterpret_cast<const char*>(text)) : std::string();
    };
    pins->known_[column(0) + "/" + column(1)] = column(2);
  }
  sqlite3_finalize(select);
  return pins;
}

ToolPins::~ToolPins() {
  if (db_) sqlite3_close_v2(db_);
}

Status ToolPins::store(const std::string& key, const std::string& toolset, const std::string& tool,
                       const std::string& hash) {
  known_[key] = hash;
  if (!db_) return Status::Ok();
  sqlite3_stmt* upsert = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO tool_pins(toolset, tool, hash, pinned_ms) VALUES(?,?,?,?) "
                         "ON CONFLICT(toolset, tool) DO UPDATE SET hash = excluded.hash, "
                         "pinned_ms = excluded.pinned_ms",
                         -1, &upsert, nullptr) != SQLITE_OK) {
    return Status(ErrorCode::kUnavailable, std::string("tool pins: ") + sqlite3_errmsg(db_));
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  sqlite3_bind_text(upsert, 1, toolset.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(upsert, 2, tool.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(upsert, 3, hash.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(upsert, 4, now);
  const int rc = sqlite3_step(upsert);
  sqlite3_finalize(upsert);
  if (rc != SQLITE_DONE) {
    return Status(ErrorCode::kUnavailable, std::string("tool pins: ") + sqlite3_errmsg(db_));
  }
  return Status::Ok();
}

Result<ToolPins::Verdict> ToolPins::check(const std::string& toolset, const ToolSpec& spec) {
  const std::string key = toolset + "/" + spec.name;
  const std::string hash = tool_definition_hash(spec);
  std::lock_guard lock(mutex_);
  auto it = known_.find(key);
  if (it != known_.end()) return it->second == hash ? Verdict::kSame : Verdict::kChanged;
  if (Status stored = store(key, toolset, spec.name, hash); !stored) return stored.error();
  return Verdict::kNew;
}

Status ToolPins::approve(const std::string& toolset, const ToolSpec& spec) {
  std::lock_guard lock(mutex_);
  return store(toolset + "/" + spec.name, toolset, spec.name, tool_definition_hash(spec));
}

}  // namespace keel

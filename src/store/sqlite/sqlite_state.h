// Stored Responses state (store.h: StoredResponse, StoredConversation) in SQLite, for
// SqliteStore. Read-after-write: every call is one transaction on this object's own connection,
// committed before it returns, so a response stored by one request is found by the next. The
// request log's writer thread keeps its own connection; WAL lets both write the same file, one
// transaction at a time (busy timeout 5 s).
//
//   auto state = SqliteState::open("keel.db", retention);   // ":memory:": a database of its own
//   (*state)->put_response(stored);
//   auto found = (*state)->get_response(id, owner);         // nullopt for another owner
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/store.h"

struct sqlite3;

namespace keel {

class SqliteState {
 public:
  static Result<std::unique_ptr<SqliteState>> open(const std::string& path,
                                                   RetentionOptions retention);
  ~SqliteState();

  Status put_response(const StoredResponse& response);
  Result<std::optional<StoredResponse>> get_response(const std::string& id,
                                                     const std::string& owner);
  Result<bool> delete_response(const std::string& id, const std::string& owner);
  Status put_conversation(const StoredConversation& conversation);
  Result<std::optional<StoredConversation>> get_conversation(const std::string& id,
                                                             const std::string& owner);
  Result<bool> delete_conversation(const std::string& id, const std::string& owner);
  Status append_conversation_items(const std::string& conversation_id,
                                   const std::vector<StoredItem>& items);
  Result<std::vector<StoredItem>> conversation_items(const std::string& conversation_id);
  Result<bool> delete_conversation_item(const std::string& conversation_id,
                                        const std::string& item_id);
  // Deletes what retention's max_age_ms has expired now; returns how many rows went.
  Result<int64_t> prune(int64_t now_ms);

  SqliteState(const SqliteState&) = delete;
  SqliteState& operator=(const SqliteState&) = delete;

 private:
  SqliteState(sqlite3* db, RetentionOptions retention) : db_(db), retention_(retention) {}
  // Expired rows are pruned at most once a minute, before a write.
  void maybe_prune();

  std::mutex mutex_;  // one caller at a time on db_
  sqlite3* db_;
  RetentionOptions retention_;
  int64_t last_prune_ms_ = 0;
};

}  // namespace keel

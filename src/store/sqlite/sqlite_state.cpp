#include "store/sqlite/sqlite_state.h"

#include <sqlite3.h>

#include "core/clock.h"
#include "core/log.h"

namespace keel {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr int64_t kPruneIntervalMs = 60'000;

// Column names are a contract, as the request log's (docs/dev.md "Stored responses").
constexpr const char* kStateSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS responses(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  created_ms INTEGER,
  previous_id TEXT,
  conversation_id TEXT,
  input_items TEXT,
  body TEXT
);
CREATE INDEX IF NOT EXISTS responses_created_ms ON responses(created_ms);
CREATE TABLE IF NOT EXISTS conversations(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  created_ms INTEGER,
  updated_ms INTEGER,
  metadata TEXT
);
CREATE INDEX IF NOT EXISTS conversations_updated_ms ON conversations(updated_ms);
CREATE TABLE IF NOT EXISTS conversation_items(
  conversation_id TEXT,
  seq INTEGER,
  item_id TEXT,
  body TEXT,
  PRIMARY KEY(conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS conversation_items_item ON conversation_items(conversation_id, item_id);
)sql";

Error sqlite_error(sqlite3* db) {
  return Error(ErrorCode::kUnavailable,
               std::string("sqlite: ") + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// One prepared statement, bound and stepped; finalized when it goes out of scope.
class Query {
 public:
  Query(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Query() { sqlite3_finalize(stmt_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Query& bind(int index, const std::string& text) {
    if (stmt_)
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
  }
  Query& bind(int index, int64_t value) {
    if (stmt_) sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return stmt_ ? sqlite3_step(stmt_) : SQLITE_ERROR; }
  // Runs a statement that returns no rows.
  Status run() {
    const int rc = step();
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
    return sqlite_error(db_);
  }
  std::string text(int column) const {
    auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text ? std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                : std::string();
  }
  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Status exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return Status::Ok();
  return sqlite_error(db);
}

// Runs `body` in one IMMEDIATE transaction; rolls back when it fails.
template <typename Body>
Status transaction(sqlite3* db, Body body) {
  if (auto status = exec(db, "BEGIN IMMEDIATE"); !status) return status;
  Status status = body();
  if (status) status = exec(db, "COMMIT");
  if (!status) (void)exec(db, "ROLLBACK");
  return status;
}

}  // namespace

Result<std::unique_ptr<SqliteState>> SqliteState::open(const std::string& path,
                                                       RetentionOptions retention) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error error = sqlite_error(db);
    sqlite3_close_v2(db);
    return error;
  }
  std::unique_ptr<SqliteState> state(new SqliteState(db, retention));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  if (path != ":memory:") {
    if (auto status = exec(db, "PRAGMA journal_mode = WAL"); !status) return status.error();
  }
  if (auto status = exec(db, "PRAGMA synchronous = NORMAL"); !status) return status.error();
  if (auto status = transaction(db, [db] { return exec(db, kStateSchemaSql); }); !status) {
    return status.error();
  }
  return state;
}

SqliteState::~SqliteState() { sqlite3_close_v2(db_); }

void SqliteState::maybe_prune() {
  if (retention_.max_age_ms <= 0) return;
  const int64_t now = unix_millis();
  if (now - last_prune_ms_ < kPruneIntervalMs) return;
  last_prune_ms_ = now;
  auto pruned = prune(now);
  if (!pruned) {
    KEEL_LOG(kWarn) << "store: pruning stored responses: " << pruned.error().message;
  }
}

Result<int64_t> SqliteState::prune(int64_t now_ms) {
  if (retention_.max_age_ms <= 0) return int64_t{0};
  const int64_t cutoff = now_ms - retention_.max_age_ms;
  int64_t deleted = 0;
  auto status = transaction(db_, [&]() -> Status {
    Query responses(db_, "DELETE FROM responses WHERE created_ms < ?1");
    if (auto status = responses.bind(1, cutoff).run(); !status) return status;
    deleted += sqlite3_changes(db_);
    Query items(db_,
                "DELETE FROM conversation_items WHERE conversation_id IN "
                "(SELECT id FROM conversations WHERE updated_ms < ?1)");
    if (auto status = items.bind(1, cutoff).run(); !status) return status;
    Query conversations(db_, "DELETE FROM conversations WHERE updated_ms < ?1");
    if (auto status = conversations.bind(1, cutoff).run(); !status) return status;
    deleted += sqlite3_changes(db_);
    return Status::Ok();
  });
  if (!status) return status.error();
  return deleted;
}

Status SqliteState::put_response(const StoredResponse& response) {
  std::lock_guard lock(mutex_);
  maybe_prune();
  Query query(db_,
              "INSERT OR REPLACE INTO responses(id, owner, created_ms, previous_id, "
              "conversation_id, input_items, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  return query.bind(1, response.id)
      .bind(2, response.owner)
      .bind(3, response.created_ms)
      .bind(4, response.previous_id)
      .bind(5, response.conversation_id)
      .bind(6, response.input_items)
      .bind(7, response.body)
      .run();
}

Result<std::optional<StoredResponse>> SqliteState::get_response(const std::string& id,
                                                                const std::string& owner) {
  std::lock_guard lock(mutex_);
  Query query(db_,
              "SELECT created_ms, previous_id, conversation_id, input_items, body FROM responses "
              "WHERE id = ?1 AND owner = ?2 AND created_ms >= ?3");
  const int64_t cutoff =
      retention_.max_age_ms > 0 ? unix_millis() - retention_.max_age_ms : INT64_MIN;
  const int rc = query.bind(1, id).bind(2, owner).bind(3, cutoff).step();
  if (rc == SQLITE_DONE) return std::optional<StoredResponse>();
  if (rc != SQLITE_ROW) return sqlite_error(db_);
  StoredResponse found;
  found.id = id;
  found.owner = owner;
  found.created_ms = query.integer(0);
  found.previous_id = query.text(1);
  found.conversation_id = query.text(2);
  found.input_items = query.text(3);
  found.body = query.text(4);
  return std::optional<StoredResponse>(std::move(found));
}

Result<bool> SqliteState::delete_response(const std::string& id, const std::string& owner) {
  std::lock_guard lock(mutex_);
  Query query(db_, "DELETE FROM responses WHERE id = ?1 AND owner = ?2");
  if (auto status = query.bind(1, id).bind(2, owner).run(); !status) return status.error();
  return sqlite3_changes(db_) > 0;
}

Status SqliteState::put_conversation(const StoredConversation& conversation) {
  std::lock_guard lock(mutex_);
  maybe_prune();
  // An id of another owner is left alone (the insert is ignored, the update matches nothing).
  return transaction(db_, [&]() -> Status {
    Query insert(db_,
                 "INSERT OR IGNORE INTO conversations(id, owner, created_ms, updated_ms, metadata) "
                 "VALUES(?1, ?2, ?3, ?3, ?4)");
    if (auto status = insert.bind(1, conversation.id)
                          .bind(2, conversation.owner)
                          .bind(3, conversation.created_ms)
                          .bind(4, conversation.metadata)
                          .run();
        !status) {
      return status;
    }
    Query update(db_,
                 "UPDATE conversations SET metadata = ?3, updated_ms = ?4 "
                 "WHERE id = ?1 AND owner = ?2");
    return update.bind(1, conversation.id)
        .bind(2, conversation.owner)
        .bind(3, conversation.metadata)
        .bind(4, unix_millis())
        .run();
  });
}

Result<std::optional<StoredConversation>> SqliteState::get_conversation(const std::string& id,
                                                                        const std::string& owner) {
  std::lock_guard lock(mutex_);
  Query query(db_,
              "SELECT created_ms, metadata FROM conversations "
              "WHERE id = ?1 AND owner = ?2 AND updated_ms >= ?3");
  const int64_t cutoff =
      retention_.max_age_ms > 0 ? unix_millis() - retention_.max_age_ms : INT64_MIN;
  const int rc = query.bind(1, id).bind(2, owner).bind(3, cutoff).step();
  if (rc == SQLITE_DONE) return std::optional<StoredConversation>();
  if (rc != SQLITE_ROW) return sqlite_error(db_);
  StoredConversation found;
  found.id = id;
  found.owner = owner;
  found.created_ms = query.integer(0);
  found.metadata = query.text(1);
  return std::optional<StoredConversation>(std::move(found));
}

Result<bool> SqliteState::delete_conversation(const std::string& id, const std::string& owner) {
  std::lock_guard lock(mutex_);
  bool deleted = false;
  auto status = transaction(db_, [&]() -> Status {
    Query conversation(db_, "DELETE FROM conversations WHERE id = ?1 AND owner = ?2");
    if (auto status = conversation.bind(1, id).bind(2, owner).run(); !status) return status;
    deleted = sqlite3_changes(db_) > 0;
    if (!deleted) return Status::Ok();
    Query items(db_, "DELETE FROM conversation_items WHERE conversation_id = ?1");
    return items.bind(1, id).run();
  });
  if (!status) return status.error();
  return deleted;
}

Status SqliteState::append_conversation_items(const std::string& conversation_id,
                                              const std::vector<StoredItem>& items) {
  std::lock_guard lock(mutex_);
  return transaction(db_, [&]() -> Status {
    Query last(db_,
               "SELECT coalesce(max(seq), 0) FROM conversation_items WHERE conversation_id = ?1");
    if (last.bind(1, conversation_id).step() != SQLITE_ROW) return sqlite_error(db_);
    int64_t seq = last.integer(0);
    for (const auto& item : items) {
      Query insert(db_,
                   "INSERT INTO conversation_items(conversation_id, seq, item_id, body) "
                   "VALUES(?1, ?2, ?3, ?4)");
      if (auto status = insert.bind(1, conversation_id)
                            .bind(2, ++seq)
                            .bind(3, item.id)
                            .bind(4, item.body)
                            .run();
          !status) {
        return status;
      }
    }
    Query touch(db_, "UPDATE conversations SET updated_ms = ?2 WHERE id = ?1");
    return touch.bind(1, conversation_id).bind(2, unix_millis()).run();
  });
}

Result<std::vector<StoredItem>> SqliteState::conversation_items(
    const std::string& conversation_id) {
  std::lock_guard lock(mutex_);
  Query query(db_,
              "SELECT item_id, body FROM conversation_items WHERE conversation_id = ?1 "
              "ORDER BY seq");
  query.bind(1, conversation_id);
  std::vector<StoredItem> items;
  int rc;
  while ((rc = query.step()) == SQLITE_ROW) items.push_back({query.text(0), query.text(1)});
  if (rc != SQLITE_DONE) return sqlite_error(db_);
  return items;
}

Result<bool> SqliteState::delete_conversation_item(const std::string& conversation_id,
                                                   const std::string& item_id) {
  std::lock_guard lock(mutex_);
  Query query(db_, "DELETE FROM conversation_items WHERE conversation_id = ?1 AND item_id = ?2");
  if (auto status = query.bind(1, conversation_id).bind(2, item_id).run(); !status) {
    return status.error();
  }
  return sqlite3_changes(db_) > 0;
}

}  // namespace keel

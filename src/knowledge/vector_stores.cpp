#include "knowledge/vector_stores.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <ranges>
#include <set>

#include "core/clock.h"
#include "core/ids.h"
#include "http/download.h"
#include "knowledge/knowledge_set.h"
#include "knowledge/statement.h"

namespace keel::knowledge {
namespace {

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS uploaded_files(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  filename TEXT NOT NULL,
  purpose TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS uploaded_files_owner ON uploaded_files(owner, created_at);
CREATE TABLE IF NOT EXISTS vector_stores(
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_active_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS vector_stores_owner ON vector_stores(owner, created_at);
CREATE TABLE IF NOT EXISTS vector_store_files(
  store_id TEXT NOT NULL,
  file_id TEXT NOT NULL,
  status TEXT NOT NULL,
  error TEXT NOT NULL,
  usage_bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY(store_id, file_id)
);
CREATE TABLE IF NOT EXISTS vector_store_file_batches(
  id TEXT PRIMARY KEY,
  store_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  file_ids TEXT NOT NULL
);
)sql";

UploadedFile read_file_row(const Statement& row) {
  UploadedFile file;
  file.id = row.column_text(0);
  file.filename = row.column_text(1);
  file.purpose = row.column_text(2);
  file.bytes = row.column_int(3);
  file.created_at = row.column_int(4);
  return file;
}

VectorStoreRecord read_store_row(const Statement& row) {
  VectorStoreRecord store;
  store.id = row.column_text(0);
  store.name = row.column_text(1);
  store.metadata = row.column_text(2);
  store.created_at = row.column_int(3);
  store.last_active_at = row.column_int(4);
  store.usage_bytes = row.column_int(5);
  store.completed = row.column_int(6);
  store.failed = row.column_int(7);
  store.in_progress = row.column_int(8);
  store.cancelled = row.column_int(9);
  return store;
}

VectorStoreFileRecord read_store_file_row(const Statement& row) {
  VectorStoreFileRecord file;
  file.vector_store_id = row.column_text(0);
  file.file_id = row.column_text(1);
  file.status = row.column_text(2);
  file.error = row.column_text(3);
  file.usage_bytes = row.column_int(4);
  file.created_at = row.column_int(5);
  file.attributes = row.column_text(6);
  return file;
}

constexpr const char* kStoreColumns =
    "s.id, s.name, s.metadata, s.created_at, s.last_active_at, "
    "(SELECT coalesce(sum(usage_bytes), 0) FROM vector_store_files f WHERE f.store_id = s.id), "
    "(SELECT count(*) FROM vector_store_files f WHERE f.store_id = s.id AND f.status = "
    "'completed'), "
    "(SELECT count(*) FROM vector_store_files f WHERE f.store_id = s.id AND f.status = 'failed'), "
    "(SELECT count(*) FROM vector_store_files f WHERE f.store_id = s.id AND f.status = "
    "'in_progress'), "
    "(SELECT count(*) FROM vector_store_files f WHERE f.store_id = s.id AND f.status = "
    "'cancelled')";

}  // namespace

VectorStores::~VectorStores() {
  if (db_) sqlite3_close_v2(db_);
}

Result<std::unique_ptr<VectorStores>> VectorStores::open(const Config& config, Embedder embed) {
  if (!config.state.starts_with("sqlite:") || config.state == "sqlite::memory:") {
    return std::unique_ptr<VectorStores>();
  }
  std::unique_ptr<VectorStores> stores(new VectorStores());
  stores->folder_ = config.state.substr(7) + ".knowledge";
  stores->config_ = config.vector_stores;
  stores->config_.name = "vector_stores";
  stores->embed_ = std::move(embed);
  return stores;
}

Result<std::unique_lock<std::mutex>> VectorStores::records() {
  std::unique_lock lock(mutex_);
  if (db_) return lock;
  std::error_code ec;
  std::filesystem::create_directories(folder_, ec);
  if (ec) {
    return Error(ErrorCode::kUnavailable,
                 "vector stores: cannot create " + folder_ + ": " + ec.message());
  }
  const std::string path = folder_ + "/records.db";
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    Error error = db_error(db, "opening " + path);
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_busy_timeout(db, 10000);
  for (const char* sql : {"PRAGMA journal_mode = WAL", kSchemaSql}) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      Error error = db_error(db, "creating tables");
      sqlite3_close_v2(db);
      return error;
    }
  }
  // Records made before files carried attributes gain the column ({} each); "duplicate column"
  // once they have it.
  (void)sqlite3_exec(db,
                     "ALTER TABLE vector_store_files ADD COLUMN attributes TEXT NOT NULL "
                     "DEFAULT '{}'",
                     nullptr, nullptr, nullptr);
  // A batch's files that a previous keel left waiting will not be indexed by it any more.
  (void)sqlite3_exec(db,
                     "UPDATE vector_store_files SET status = 'failed', error = 'keel stopped "
                     "before indexing it' WHERE status = 'in_progress'",
                     nullptr, nullptr, nullptr);
  db_ = db;
  return lock;
}

std::string VectorStores::unavailable() const {
  if (config_.embedding_model.empty()) {
    return "vector stores need an embedding model: set `vector_stores: {embedding_model: NAME}` in "
           "the config (a public model that serves embeddings)";
  }
  return "";
}

Result<UploadedFile> VectorStores::add_file(const std::string& owner, const std::string& filename,
                                            const std::string& purpose, std::string_view data) {
  UploadedFile file;
  file.id = new_id("file-");
  file.filename = filename;
  file.purpose = purpose;
  file.bytes = static_cast<int64_t>(data.size());
  file.created_at = unix_seconds();
  auto lock = records();
  if (!lock) return lock.error();
  Statement insert(
      db_,
      "INSERT INTO uploaded_files(id, owner, filename, purpose, bytes, created_at, data) "
      "VALUES(?, ?, ?, ?, ?, ?, ?)");
  insert.text(1, file.id)
      .text(2, owner)
      .text(3, filename)
      .text(4, purpose)
      .integer(5, file.bytes)
      .integer(6, file.created_at)
      .blob(7, data.data(), data.size());
  if (Status ok = insert.run("storing an uploaded file"); !ok) return ok.error();
  return file;
}

Result<std::vector<UploadedFile>> VectorStores::list_files(const std::string& owner,
                                                           const std::string& purpose) {
  auto lock = records();
  if (!lock) return lock.error();
  Statement query(
      db_,
      "SELECT id, filename, purpose, bytes, created_at FROM uploaded_files "
      "WHERE owner = ? AND (? = '' OR purpose = ?) ORDER BY created_at DESC, rowid DESC");
  query.text(1, owner).text(2, purpose).text(3, purpose);
  std::vector<UploadedFile> out;
  int rc;
  while ((rc = query.step()) == SQLITE_ROW) out.push_back(read_file_row(query));
  if (rc != SQLITE_DONE) return db_error(db_, "listing files");
  return out;
}

Result<std::optional<UploadedFile>> VectorStores::get_file(const std::string& owner,
                                                           const std::string& id) {
  auto lock = records();
  if (!lock) return lock.error();
  Statement query(db_,
                  "SELECT id, filename, purpose, bytes, created_at FROM uploaded_files "
                  "WHERE owner = ? AND id = ?");
  query.text(1, owner).text(2, id);
  const int rc = query.step();
  if (rc == SQLITE_ROW) return std::optional<UploadedFile>(read_file_row(query));
  if (rc != SQLITE_DONE) return db_error(db_, "reading a file");
  return std::optional<UploadedFile>();
}

Result<std::optional<std::string>> VectorStores::file_content(const std::string& owner,
                                                              const std::string& id) {
  auto lock = records();
  if (!lock) return lock.error();
  Statement query(db_, "SELECT data FROM uploaded_files WHERE owner = ? AND id = ?");
  query.text(1, owner).text(2, id);
  const int rc = query.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(std::string(query.column_blob(0)));
  if (rc != SQLITE_DONE) return db_error(db_, "reading a file");
  return std::optional<std::string>();
}

Result<bool> VectorStores::delete_file(const std::string& owner, const std::string& id) {
  auto file = get_file(owner, id);
  if (!file) return file.error();
  if (!*file) return false;
  auto stores = list_stores(owner);
  if (!stores) return stores.error();
  for (const auto& store : *stores) {
    auto removed = remove_store_file(owner, store.id, id);
    if (!removed) return removed.error();
  }
  auto lock = records();
  if (!lock) return lock.error();
  Statement drop(db_, "DELETE FROM uploaded_files WHERE owner = ? AND id = ?");
  if (Status ok = drop.text(1, owner).text(2, id).run("deleting a file"); !ok) return ok.error();
  return true;
}

Result<VectorStoreRecord> VectorStores::create_store(const std::string& owner,
                                                     const std::string& name,
                                                     const std::string& metadata) {
  VectorStoreRecord store;
  store.id = new_id("vs_");
  store.name = name;
  store.metadata = metadata;
  store.created_at = store.last_active_at = unix_seconds();
  auto lock = records();
  if (!lock) return lock.error();
  Statement insert(
      db_,
      "INSERT INTO vector_stores(id, owner, name, metadata, created_at, last_active_at) "
      "VALUES(?, ?, ?, ?, ?, ?)");
  insert.text(1, store.id)
      .text(2, owner)
      .text(3, name)
      .text(4, metadata)
      .integer(5, store.created_at)
      .integer(6, store.last_active_at);
  if (Status ok = insert.run("creating a vector store"); !ok) return ok.error();
  return store;
}

Result<std::vector<VectorStoreRecord>> VectorStores::list_stores(const std::string& owner) {
  auto lock = records();
  if (!lock) return lock.error();
  const std::string sql =
      std::string("SELECT ") + kStoreColumns +
      " FROM vector_stores s WHERE s.owner = ? ORDER BY s.created_at DESC, s.rowid DESC";
  Statement query(db_, sql.c_str());
  query.text(1, owner);
  std::vector<VectorStoreRecord> out;
  int rc;
  while ((rc = query.step()) == SQLITE_ROW) out.push_back(read_store_row(query));
  if (rc != SQLITE_DONE) return db_error(db_, "listing vector stores");
  return out;
}

Result<std::optional<VectorStoreRecord>> VectorStores::get_store(const std::string& owner,
                                                                 const std::string& id) {
  auto lock = records();
  if (!lock) return lock.error();
  const std::string sql = std::string("SELECT ") + kStoreColumns +
                          " FROM vector_stores s WHERE s.owner = ? AND s.id = ?";
  Statement query(db_, sql.c_str());
  query.text(1, owner).text(2, id);
  const int rc = query.step();
  if (rc == SQLITE_ROW) return std::optional<VectorStoreRecord>(read_store_row(query));
  if (rc != SQLITE_DONE) return db_error(db_, "reading a vector store");
  return std::optional<VectorStoreRecord>();
}

Result<bool> VectorStores::delete_store(const std::string& owner, const std::string& id) {
  auto store = get_store(owner, id);
  if (!store) return store.error();
  if (!*store) return false;
  auto lock = records();
  if (!lock) return lock.error();
  Statement drop_files(db_, "DELETE FROM vector_store_files WHERE store_id = ?");
  if (Status ok = drop_files.text(1, id).run("deleting a vector store"); !ok) return ok.error();
  Statement drop(db_, "DELETE FROM vector_stores WHERE owner = ? AND id = ?");
  if (Status ok = drop.text(1, owner).text(2, id).run("deleting a vector store"); !ok)
    return ok.error();
  indexes_.erase(id);
  std::error_code ec;
  std::filesystem::remove_all(folder_ + "/" + id, ec);
  return true;
}

// Called with mutex_ held. Ids are keel's own (vs_ + hex), safe as folder names.
Result<Index*> VectorStores::index_of(const std::string& store_id) {
  auto it = indexes_.find(store_id);
  if (it != indexes_.end()) return it->second.get();
  auto index = Index::open(folder_ + "/" + store_id);
  if (!index) return index.error();
  if (Status ok = (*index)->use_embedding_model(config_.embedding_model); !ok) return ok.error();
  Index* raw = index->get();
  indexes_.emplace(store_id, std::move(*index));
  return raw;
}

Task<Result<VectorStoreFileRecord>> VectorStores::add_file_to_store(const std::string& owner,
                                                                    const std::string& store_id,
                                                                    const std::string& file_id,
                                                                    const std::string& attributes,
                                                                    CancelPtr cancel) {
  if (std::string why = unavailable(); !why.empty())
    co_return Error(ErrorCode::kInvalidArgument, why);
  auto store = get_store(owner, store_id);
  if (!store) co_return store.error();
  if (!*store)
    co_return Error(ErrorCode::kNotFound, "No vector store found with id '" + store_id + "'.");
  auto file = get_file(owner, file_id);
  if (!file) co_return file.error();
  if (!*file) co_return Error(ErrorCode::kNotFound, "No file found with id '" + file_id + "'.");
  auto content = file_content(owner, file_id);
  if (!content || !*content) co_return Error(ErrorCode::kInternal, "the file's bytes are gone");
  Result<Index*> index = Error(ErrorCode::kInternal, "");
  {
    std::lock_guard lock(mutex_);
    index = index_of(store_id);
  }
  if (!index) co_return index.error();
  VectorStoreFileRecord record;
  record.vector_store_id = store_id;
  record.file_id = file_id;
  record.created_at = unix_seconds();
  record.attributes = attributes;
  FileState state;
  state.path = file_id;
  state.size = (*file)->bytes;
  state.hash = sha256_hex(**content);
  auto extracted = extract_document((*file)->filename, **content);
  if (!extracted) {
    record.status = "failed";
    record.error = (*file)->filename + ": " + extracted.error().message;
  } else {
    auto indexed = co_await index_document(**index, state, *extracted, config_, embed_, cancel);
    if (!indexed) {
      record.status = "failed";
      record.error = (*file)->filename + ": " + indexed.error().message;
    } else {
      record.status = "completed";
      record.usage_bytes = static_cast<int64_t>(extracted->text.size());
      if (Status ok = (*index)->publish_vectors(); !ok) co_return ok.error();
    }
  }
  std::lock_guard lock(mutex_);
  Statement upsert(
      db_,
      "INSERT INTO vector_store_files(store_id, file_id, status, error, usage_bytes, created_at, "
      "attributes) VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(store_id, file_id) DO UPDATE SET "
      "status = excluded.status, error = excluded.error, usage_bytes = excluded.usage_bytes, "
      "attributes = excluded.attributes");
  upsert.text(1, store_id)
      .text(2, file_id)
      .text(3, record.status)
      .text(4, record.error)
      .integer(5, record.usage_bytes)
      .integer(6, record.created_at)
      .text(7, record.attributes);
  if (Status ok = upsert.run("recording a vector store file"); !ok) co_return ok.error();
  Statement touch(db_, "UPDATE vector_stores SET last_active_at = ? WHERE id = ?");
  (void)touch.integer(1, unix_seconds()).text(2, store_id).run("touching a vector store");
  co_return record;
}

Result<std::vector<VectorStoreFileRecord>> VectorStores::list_store_files(
    const std::string& owner, const std::string& store_id) {
  auto store = get_store(owner, store_id);
  if (!store) return store.error();
  std::vector<VectorStoreFileRecord> out;
  if (!*store) return out;
  auto lock = records();
  if (!lock) return lock.error();
  Statement query(
      db_,
      "SELECT store_id, file_id, status, error, usage_bytes, created_at, attributes "
      "FROM vector_store_files WHERE store_id = ? ORDER BY created_at DESC, rowid DESC");
  query.text(1, store_id);
  int rc;
  while ((rc = query.step()) == SQLITE_ROW) out.push_back(read_store_file_row(query));
  if (rc != SQLITE_DONE) return db_error(db_, "listing vector store files");
  return out;
}

Result<std::optional<VectorStoreFileRecord>> VectorStores::get_store_file(
    const std::string& owner, const std::string& store_id, const std::string& file_id) {
  auto store = get_store(owner, store_id);
  if (!store) return store.error();
  if (!*store) return std::optional<VectorStoreFileRecord>();
  auto lock = records();
  if (!lock) return lock.error();
  Statement query(db_,
                  "SELECT store_id, file_id, status, error, usage_bytes, created_at, attributes "
                  "FROM vector_store_files WHERE store_id = ? AND file_id = ?");
  query.text(1, store_id).text(2, file_id);
  const int rc = query.step();
  if (rc == SQLITE_ROW) return std::optional<VectorStoreFileRecord>(read_store_file_row(query));
  if (rc != SQLITE_DONE) return db_error(db_, "reading a vector store file");
  return std::optional<VectorStoreFileRecord>();
}

Result<std::optional<VectorStoreFileRecord>> VectorStores::update_store_file(
    const std::string& owner, const std::string& store_id, const std::string& file_id,
    const std::string& attributes) {
  auto found = get_store_file(owner, store_id, file_id);
  if (!found || !*found) return found;
  {
    auto lock = records();
    if (!lock) return lock.error();
    Statement update(db_,
                     "UPDATE vector_store_files SET attributes = ? WHERE store_id = ? AND "
                     "file_id = ?");
    update.text(1, attributes).text(2, store_id).text(3, file_id);
    if (Status ok = update.run("updating a vector store file"); !ok) return ok.error();
  }
  (*found)->attributes = attributes;
  return found;
}

Result<bool> VectorStores::remove_store_file(const std::string& owner, const std::string& store_id,
                                             const std::string& file_id) {
  auto found = get_store_file(owner, store_id, file_id);
  if (!found) return found.error();
  if (!*found) return false;
  auto lock = records();
  if (!lock) return lock.error();
  auto index = index_of(store_id);
  if (!index) return index.error();
  if (Status ok = (*index)->remove_file(file_id); !ok) return ok.error();
  if (Status ok = (*index)->publish_vectors(); !ok) return ok.error();
  Statement drop(db_, "DELETE FROM vector_store_files WHERE store_id = ? AND file_id = ?");
  if (Status ok = drop.text(1, store_id).text(2, file_id).run("removing a vector store file");
      !ok) {
    return ok.error();
  }
  return true;
}

Result<FileBatchRecord> VectorStores::add_batch(
    const std::string& owner, const std::string& store_id,
    const std::vector<std::pair<std::string, std::string>>& files_and_attributes) {
  auto store = get_store(owner, store_id);
  if (!store) return store.error();
  if (!*store) {
    return Error(ErrorCode::kNotFound, "No vector store found with id '" + store_id + "'.");
  }
  FileBatchRecord batch{new_id("vsfb_"), store_id, unix_seconds(), {}};
  std::string joined;  // file ids never hold a newline (new_id)
  for (const auto& [id, attributes] : files_and_attributes) {
    batch.file_ids.push_back(id);
    joined += (joined.empty() ? "" : "\n") + id;
  }
  auto lock = records();
  if (!lock) return lock.error();
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return db_error(db_, "recording a file batch");
  }
  const auto failed = [this](Error error) {
    (void)sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return error;
  };
  Statement insert(db_,
                   "INSERT INTO vector_store_file_batches(id, store_id, created_at, file_ids) "
                   "VALUES(?, ?, ?, ?)");
  insert.text(1, batch.id).text(2, store_id).integer(3, batch.created_at).text(4, joined);
  if (Status ok = insert.run("recording a file batch"); !ok) return failed(ok.error());
  // A file already in the store waits again: it is indexed anew, as a one-by-one add would.
  Statement wait(db_,
                 "INSERT INTO vector_store_files(store_id, file_id, status, error, usage_bytes, "
                 "created_at, attributes) VALUES(?, ?, 'in_progress', '', 0, ?, ?) "
                 "ON CONFLICT(store_id, file_id) DO UPDATE SET status = 'in_progress', error = '', "
                 "attributes = excluded.attributes");
  for (const auto& [id, attributes] : files_and_attributes) {
    wait.reset();
    wait.text(1, store_id).text(2, id).integer(3, batch.created_at).text(4, attributes);
    if (Status ok = wait.run("recording a file batch"); !ok) return failed(ok.error());
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return failed(db_error(db_, "recording a file batch"));
  }
  return batch;
}

Result<bool> VectorStores::cancel_batch(const std::string& owner, const std::string& store_id,
                                        const std::string& batch_id) {
  auto batch = get_batch(owner, store_id, batch_id);
  if (!batch) return batch.error();
  if (!*batch) return false;
  auto lock = records();
  if (!lock) return lock.error();
  Statement cancel(db_,
                   "UPDATE vector_store_files SET status = 'cancelled' "
                   "WHERE store_id = ? AND file_id = ? AND status = 'in_progress'");
  for (const std::string& file_id : (*batch)->file_ids) {
    if (indexing_.count({store_id, file_id})) continue;  // being indexed: it finishes
    cancel.reset();
    cancel.text(1, store_id).text(2, file_id);
    if (Status ok = cancel.run("cancelling a file batch"); !ok) return ok.error();
  }
  return true;
}

Result<bool> VectorStores::claim_waiting_file(const std::string& store_id,
                                              const std::string& file_id) {
  auto lock = records();
  if (!lock) return lock.error();
  Statement query(db_, "SELECT status FROM vector_store_files WHERE store_id = ? AND file_id = ?");
  query.text(1, store_id).text(2, file_id);
  if (query.step() != SQLITE_ROW || query.column_text(0) != "in_progress") return false;
  indexing_.emplace(store_id, file_id);
  return true;
}

void VectorStores::release_file(const std::string& store_id, const std::string& file_id) {
  std::lock_guard lock(mutex_);
  indexing_.erase({store_id, file_id});
}

Status VectorStores::fail_waiting_file(const std::string& store_id, const std::string& file_id,
                                       const std::string& error) {
  auto lock = records();
  if (!lock) return lock.error();
  Statement fail(db_,
                 "UPDATE vector_store_files SET status = 'failed', error = ? "
                 "WHERE store_id = ? AND file_id = ? AND status = 'in_progress'");
  fail.text(1, error).text(2, store_id).text(3, file_id);
  return fail.run("recording a failed vector store file");
}

Result<std::optional<FileBatchRecord>> VectorStores::get_batch(const std::string& owner,
                                                               const std::string& store_id,
                                                               const std::string& batch_id) {
  auto store = get_store(owner, store_id);
  if (!store) return store.error();
  if (!*store) return std::optional<FileBatchRecord>();
  auto lock = records();
  if (!lock) return lock.error();
  Statement query(db_,
                  "SELECT created_at, file_ids FROM vector_store_file_batches "
                  "WHERE id = ? AND store_id = ?");
  query.text(1, batch_id).text(2, store_id);
  const int rc = query.step();
  if (rc == SQLITE_DONE) return std::optional<FileBatchRecord>();
  if (rc != SQLITE_ROW) return db_error(db_, "reading a file batch");
  FileBatchRecord batch{batch_id, store_id, query.column_int(0), {}};
  const std::string joined = query.column_text(1);
  for (size_t at = 0; at < joined.size();) {
    const size_t end = std::min(joined.find('\n', at), joined.size());
    batch.file_ids.push_back(joined.substr(at, end - at));
    at = end + 1;
  }
  return std::optional<FileBatchRecord>(std::move(batch));
}

Task<Result<std::vector<FoundChunk>>> VectorStores::search(const std::string& owner,
                                                           const std::string& store_id,
                                                           std::string query, int k,
                                                           const AttributeFilter* filter,
                                                           CancelPtr cancel) {
  if (std::string why = unavailable(); !why.empty())
    co_return Error(ErrorCode::kInvalidArgument, why);
  auto store = get_store(owner, store_id);
  if (!store) co_return store.error();
  if (!*store)
    co_return Error(ErrorCode::kNotFound, "No vector store found with id '" + store_id + "'.");
  Result<Index*> index = Error(ErrorCode::kInternal, "");
  {
    std::lock_guard lock(mutex_);
    index = index_of(store_id);
  }
  if (!index) co_return index.error();
  std::vector<FoundChunk> out;
  const int64_t chunks = (*index)->chunk_count();
  if (chunks == 0) co_return out;
  // The store's files by id, with their attributes; with a filter, only those it keeps.
  auto files = list_store_files(owner, store_id);
  if (!files) co_return files.error();
  std::map<std::string, std::string> kept;
  for (const auto& file : *files) {
    if (filter && !filter->matches(try_parse_json(file.attributes).value_or(Json::object()))) {
      continue;
    }
    kept.emplace(file.file_id, file.attributes);
  }
  if (kept.empty()) co_return out;
  std::set<int64_t> kept_chunks;
  if (filter) {
    auto ids = (*index)->chunk_ids(
        std::vector<std::string>(std::views::keys(kept).begin(), std::views::keys(kept).end()));
    if (!ids) co_return ids.error();
    kept_chunks = std::move(*ids);
  }
  const int fused_from = std::max(IndexedKnowledgeBase::kCandidates, k * 2);  // of each list
  const int candidates = filter ? static_cast<int>(chunks) : fused_from;
  auto keyword = (*index)->keyword_search(query, candidates);
  if (!keyword) co_return keyword.error();
  std::vector<std::string> texts(1, query);
  auto embedded = co_await embed_.embed(config_.embedding_model, std::move(texts), cancel);
  if (!embedded) co_return embedded.error();
  if (embedded->size() != 1)
    co_return Error(ErrorCode::kBadGateway, "the embedding model returned no vector");
  auto vector = filter ? (*index)->exact_vector_search(embedded->front(), candidates)
                       : (*index)->vector_search(embedded->front(), candidates);
  if (!vector) co_return vector.error();
  // Each list keeps its order over the chunks the filter keeps: ranks as if the store held
  // only the matching files.
  std::vector<int64_t> vector_ids, keyword_ids;
  const auto keep = [&](int64_t id) { return !filter || kept_chunks.count(id) > 0; };
  for (const auto& hit : *vector) {
    if (keep(hit.id) && static_cast<int>(vector_ids.size()) < fused_from)
      vector_ids.push_back(hit.id);
  }
  for (const auto& hit : *keyword) {
    if (keep(hit.id) && static_cast<int>(keyword_ids.size()) < fused_from)
      keyword_ids.push_back(hit.id);
  }
  const auto fused = reciprocal_rank_fusion({vector_ids, keyword_ids});
  std::vector<int64_t> ids;
  for (size_t i = 0; i < fused.size() && static_cast<int>(i) < k; ++i)
    ids.push_back(fused[i].first);
  auto passages = (*index)->passages(ids);
  if (!passages) co_return passages.error();
  std::map<int64_t, double> scores(fused.begin(), fused.end());
  for (auto& [id, passage] : *passages) {
    FoundChunk chunk;
    passage.knowledge = store_id;
    passage.score = scores[id];
    auto file = get_file(owner, passage.source);
    chunk.filename = file && *file ? (*file)->filename : "";
    if (auto attributes = kept.find(passage.source); attributes != kept.end()) {
      chunk.attributes = attributes->second;
    }
    chunk.passage = std::move(passage);
    out.push_back(std::move(chunk));
  }
  co_return out;
}

}  // namespace keel::knowledge

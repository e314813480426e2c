#include "knowledge/index.h"

#include <hnswlib/hnswlib.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <queue>

#include "core/clock.h"
#include "core/log.h"
#include "knowledge/knowledge.h"
#include "knowledge/statement.h"

namespace keel::knowledge {

// An hnswlib graph over unit vectors (inner product = cosine) and the space it measures in.
class VectorGraph {
 public:
  static constexpr size_t kM = 16;
  static constexpr size_t kEfConstruction = 200;
  static constexpr size_t kEfSearch = 256;

  VectorGraph(int dimensions, size_t capacity)
      : space_(static_cast<size_t>(dimensions)),
        graph_(&space_, std::max<size_t>(capacity, 1), kM, kEfConstruction) {
    graph_.setEf(kEfSearch);
  }
  VectorGraph(int dimensions, const std::string& path)
      : space_(static_cast<size_t>(dimensions)), graph_(&space_, path) {
    graph_.setEf(kEfSearch);
  }
  void add(const float* vector, int64_t id) { graph_.addPoint(vector, static_cast<size_t>(id)); }
  size_t size() const { return graph_.cur_element_count; }
  std::vector<Hit> search(const std::vector<float>& query, int k) const {
    std::vector<Hit> hits;
    if (size() == 0 || k <= 0) return hits;
    auto found = graph_.searchKnn(query.data(), static_cast<size_t>(k));
    while (!found.empty()) {
      hits.push_back({static_cast<int64_t>(found.top().second), 1.0 - found.top().first});
      found.pop();
    }
    std::reverse(hits.begin(), hits.end());
    return hits;
  }
  void save(const std::string& path) { graph_.saveIndex(path); }

 private:
  hnswlib::InnerProductSpace space_;
  hnswlib::HierarchicalNSW<float> graph_;
};

namespace {

constexpr int kBusyTimeoutMs = 10000;

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  path TEXT PRIMARY KEY,
  hash TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  chunks INTEGER NOT NULL,
  error TEXT NOT NULL,
  updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY,
  chunk_id TEXT NOT NULL UNIQUE,
  path TEXT NOT NULL,
  seq INTEGER NOT NULL,
  start INTEGER NOT NULL,
  stop INTEGER NOT NULL,
  heading TEXT NOT NULL,
  text TEXT NOT NULL,
  vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(heading, text, tokenize='porter unicode61');
)sql";

std::vector<float> unit_vector(const std::vector<float>& vector) {
  double norm = 0;
  for (float x : vector) norm += static_cast<double>(x) * x;
  norm = std::sqrt(norm);
  std::vector<float> out(vector);
  if (norm > 0) {
    for (float& x : out) x = static_cast<float>(x / norm);
  }
  return out;
}

// A chunk's id: stable while the file's path and bytes stay the same.
std::string chunk_id_of(const std::string& path, const std::string& hash, size_t seq) {
  // FNV-1a over the three; 64 bits are plenty to tell a base's chunks apart.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view part) {
    for (unsigned char c : part) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  mix(path);
  mix(hash);
  mix(std::to_string(seq));
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return std::string("chunk_") + out;
}

}  // namespace

Index::~Index() {
  if (db_) sqlite3_close_v2(db_);
}

Status Index::exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return Status::Ok();
  return db_error(db_, sql);
}

int64_t Index::meta_int(const char* key) {
  Statement query(db_, "SELECT value FROM meta WHERE key = ?");
  query.text(1, key);
  if (query.step() != SQLITE_ROW) return 0;
  return std::atoll(query.column_text(0).c_str());
}

Status Index::set_meta(const char* key, const std::string& value) {
  Statement query(db_,
                  "INSERT INTO meta(key, value) VALUES(?, ?) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  query.text(1, key).text(2, value);
  return query.run("meta");
}

Result<std::unique_ptr<Index>> Index::open(const std::string& folder) {
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    return Error(ErrorCode::kInvalidArgument,
                 "knowledge index " + folder + ": cannot create the folder: " + ec.message());
  }
  std::unique_ptr<Index> index(new Index());
  index->folder_ = folder;
  const std::string path = folder + "/index.db";
  if (sqlite3_open_v2(path.c_str(), &index->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return db_error(index->db_, "opening " + path);
  }
  sqlite3_busy_timeout(index->db_, kBusyTimeoutMs);
  for (const char* sql : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", kSchemaSql}) {
    if (Status ok = index->exec(sql); !ok) return ok.error();
  }
  if (Status ok = index->refresh(); !ok) return ok.error();
  return index;
}

Status Index::use_embedding_model(const std::string& model) {
  std::lock_guard lock(mutex_);
  Statement query(db_, "SELECT value FROM meta WHERE key = 'embedding_model'");
  const bool known = query.step() == SQLITE_ROW;
  if (known && query.column_text(0) == model) return Status::Ok();
  if (known) {
    KEEL_LOG(kInfo) << "knowledge index " << folder_ << ": the embedding model changed to " << model
                    << ": every file is embedded again";
  }
  if (Status ok = exec("BEGIN IMMEDIATE"); !ok) return ok;
  Status ok = exec(
      "DELETE FROM chunks; DELETE FROM chunks_fts; DELETE FROM files;"
      "DELETE FROM meta WHERE key = 'dimensions';");
  if (ok) ok = set_meta("embedding_model", model);
  if (ok) ok = set_meta("generation", std::to_string(meta_int("generation") + 1));
  if (ok) ok = exec("COMMIT");
  if (!ok) (void)exec("ROLLBACK");
  return ok;
}

Result<std::map<std::string, FileState>> Index::files() {
  std::lock_guard lock(mutex_);
  std::map<std::string, FileState> out;
  Statement query(db_, "SELECT path, hash, size, mtime_ns, chunks, error FROM files");
  int rc;
  while ((rc = query.step()) == SQLITE_ROW) {
    FileState file;
    file.path = query.column_text(0);
    file.hash = query.column_text(1);
    file.size = query.column_int(2);
    file.mtime_ns = query.column_int(3);
    file.chunks = query.column_int(4);
    file.error = query.column_text(5);
    out.emplace(file.path, std::move(file));
  }
  if (rc != SQLITE_DONE) return db_error(db_, "reading files");
  return out;
}

Status Index::replace_file(const FileState& file, const std::vector<Chunk>& chunks,
                           const std::vector<std::vector<float>>& vectors) {
  if (chunks.size() != vectors.size()) {
    return Error(ErrorCode::kInternal, "knowledge index: chunks and vectors differ in number");
  }
  std::lock_guard lock(mutex_);
  int dimensions = static_cast<int>(meta_int("dimensions"));
  for (const auto& vector : vectors) {
    if (vector.empty())
      return Error(ErrorCode::kBadGateway, "the embedding model returned an empty vector");
    if (dimensions == 0) dimensions = static_cast<int>(vector.size());
    if (static_cast<int>(vector.size()) != dimensions) {
      return Error(ErrorCode::kBadGateway,
                   "the embedding model returned " + std::to_string(vector.size()) +
                       " dimensions, the index holds " + std::to_string(dimensions));
    }
  }
  if (Status ok = exec("BEGIN IMMEDIATE"); !ok) return ok;
  auto body = [&]() -> Status {
    Statement drop_fts(
        db_, "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE path = ?)");
    if (Status ok = drop_fts.text(1, file.path).run("deleting words"); !ok) return ok;
    Statement drop(db_, "DELETE FROM chunks WHERE path = ?");
    if (Status ok = drop.text(1, file.path).run("deleting chunks"); !ok) return ok;
    Statement insert(db_,
                     "INSERT INTO chunks(chunk_id, path, seq, start, stop, heading, text, vector) "
                     "VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    Statement insert_fts(db_, "INSERT INTO chunks_fts(rowid, heading, text) VALUES(?, ?, ?)");
    for (size_t i = 0; i < chunks.size(); ++i) {
      const std::vector<float> unit = unit_vector(vectors[i]);
      insert.reset();
      insert.text(1, chunk_id_of(file.path, file.hash, i))
          .text(2, file.path)
          .integer(3, static_cast<int64_t>(i))
          .integer(4, static_cast<int64_t>(chunks[i].start))
          .integer(5, static_cast<int64_t>(chunks[i].end))
          .text(6, chunks[i].heading)
          .text(7, chunks[i].text)
          .blob(8, unit.data(), unit.size() * sizeof(float));
      if (Status ok = insert.run("inserting a chunk"); !ok) return ok;
      insert_fts.reset();
      insert_fts.integer(1, sqlite3_last_insert_rowid(db_))
          .text(2, chunks[i].heading)
          .text(3, chunks[i].text);
      if (Status ok = insert_fts.run("inserting words"); !ok) return ok;
    }
    Statement upsert(db_,
                     "INSERT INTO files(path, hash, size, mtime_ns, chunks, error, updated_ms) "
                     "VALUES(?, ?, ?, ?, ?, '', ?) ON CONFLICT(path) DO UPDATE SET "
                     "hash = excluded.hash, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                     "chunks = excluded.chunks, error = '', updated_ms = excluded.updated_ms");
    upsert.text(1, file.path)
        .text(2, file.hash)
        .integer(3, file.size)
        .integer(4, file.mtime_ns)
        .integer(5, static_cast<int64_t>(chunks.size()))
        .integer(6, unix_millis());
    if (Status ok = upsert.run("recording the file"); !ok) return ok;
    if (dimensions > 0) {
      if (Status ok = set_meta("dimensions", std::to_string(dimensions)); !ok) return ok;
    }
    return set_meta("generation", std::to_string(meta_int("generation") + 1));
  };
  Status ok = body();
  if (ok) ok = exec("COMMIT");
  if (!ok) (void)exec("ROLLBACK");
  return ok;
}

Status Index::record_failure(const FileState& file) {
  std::lock_guard lock(mutex_);
  Statement upsert(db_,
                   "INSERT INTO files(path, hash, size, mtime_ns, chunks, error, updated_ms) "
                   "VALUES(?, '', ?, ?, 0, ?, ?) ON CONFLICT(path) DO UPDATE SET "
                   "error = excluded.error, updated_ms = excluded.updated_ms");
  upsert.text(1, file.path)
      .integer(2, file.size)
      .integer(3, file.mtime_ns)
      .text(4, file.error)
      .integer(5, unix_millis());
  return upsert.run("recording a failure");
}

Status Index::remove_file(const std::string& path) {
  std::lock_guard lock(mutex_);
  if (Status ok = exec("BEGIN IMMEDIATE"); !ok) return ok;
  Statement drop_fts(
      db_, "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE path = ?)");
  Status ok = drop_fts.text(1, path).run("deleting words");
  Statement drop(db_, "DELETE FROM chunks WHERE path = ?");
  if (ok) ok = drop.text(1, path).run("deleting chunks");
  Statement forget(db_, "DELETE FROM files WHERE path = ?");
  if (ok) ok = forget.text(1, path).run("deleting a file");
  if (ok) ok = set_meta("generation", std::to_string(meta_int("generation") + 1));
  if (ok) ok = exec("COMMIT");
  if (!ok) (void)exec("ROLLBACK");
  return ok;
}

int64_t Index::chunk_count() {
  std::lock_guard lock(mutex_);
  Statement query(db_, "SELECT count(*) FROM chunks");
  return query.step() == SQLITE_ROW ? query.column_int(0) : 0;
}

int64_t Index::ingested_at() {
  std::lock_guard lock(mutex_);
  return meta_int("ingested_at_ms");
}

Status Index::set_ingested_at(int64_t unix_ms) {
  std::lock_guard lock(mutex_);
  return set_meta("ingested_at_ms", std::to_string(unix_ms));
}

int Index::dimensions() {
  std::lock_guard lock(mutex_);
  return static_cast<int>(meta_int("dimensions"));
}

// Called with mutex_ held.
Result<std::shared_ptr<VectorGraph>> Index::build_graph() {
  const int dims = static_cast<int>(meta_int("dimensions"));
  Statement count(db_, "SELECT count(*) FROM chunks");
  const int64_t total = count.step() == SQLITE_ROW ? count.column_int(0) : 0;
  if (dims <= 0 || total == 0) return std::shared_ptr<VectorGraph>();
  try {
    auto graph = std::make_shared<VectorGraph>(dims, static_cast<size_t>(total));
    Statement rows(db_, "SELECT id, vector FROM chunks");
    int rc;
    while ((rc = rows.step()) == SQLITE_ROW) {
      const std::string_view blob = rows.column_blob(1);
      if (blob.size() != static_cast<size_t>(dims) * sizeof(float)) continue;
      std::vector<float> vector(static_cast<size_t>(dims));
      std::memcpy(vector.data(), blob.data(), blob.size());
      graph->add(vector.data(), rows.column_int(0));
    }
    if (rc != SQLITE_DONE) return db_error(db_, "reading vectors");
    return graph;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, std::string("knowledge index: hnswlib: ") + e.what());
  }
}

Status Index::publish_vectors() {
  std::lock_guard lock(mutex_);
  const int64_t generation = meta_int("generation");
  const std::string path = folder_ + "/vectors.hnsw";
  if (generation == meta_int("hnsw_generation") && graph_generation_ == generation &&
      std::filesystem::exists(path)) {
    return Status::Ok();
  }
  auto graph = build_graph();
  if (!graph) return graph.error();
  if (*graph) {
    const std::string temp = path + ".tmp";
    try {
      (*graph)->save(temp);
    } catch (const std::exception& e) {
      return Error(ErrorCode::kInternal,
                   std::string("knowledge index: saving the graph: ") + e.what());
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec)
      return Error(ErrorCode::kInternal, "knowledge index: renaming the graph: " + ec.message());
  } else {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  graph_ = *graph;
  graph_generation_ = generation;
  return set_meta("hnsw_generation", std::to_string(generation));
}

Status Index::refresh() {
  std::lock_guard lock(mutex_);
  const int64_t generation = meta_int("generation");
  if (generation == graph_generation_) return Status::Ok();
  const std::string path = folder_ + "/vectors.hnsw";
  const int dims = static_cast<int>(meta_int("dimensions"));
  if (generation == meta_int("hnsw_generation") && dims > 0 && std::filesystem::exists(path)) {
    try {
      graph_ = std::make_shared<VectorGraph>(dims, path);
      graph_generation_ = generation;
      return Status::Ok();
    } catch (const std::exception& e) {
      KEEL_LOG(kWarn) << "knowledge index " << folder_ << ": " << path << " is unreadable ("
                      << e.what() << "): rebuilding it from index.db";
    }
  }
  // Committed chunks the graph file does not have yet (an ingest that stopped before its
  // end): the graph is built in memory from SQLite; the next ingest writes it out.
  auto graph = build_graph();
  if (!graph) return graph.error();
  graph_ = *graph;
  graph_generation_ = generation;
  return Status::Ok();
}

std::shared_ptr<VectorGraph> Index::graph() {
  std::lock_guard lock(mutex_);
  return graph_;
}

Result<std::vector<Hit>> Index::vector_search(const std::vector<float>& query, int k) {
  if (Status ok = refresh(); !ok) return ok.error();
  auto graph = this->graph();
  if (!graph) return std::vector<Hit>();
  const int dims = dimensions();
  if (static_cast<int>(query.size()) != dims) {
    return Error(ErrorCode::kBadGateway, "the query's embedding has " +
                                             std::to_string(query.size()) +
                                             " dimensions, the index " + std::to_string(dims));
  }
  return graph->search(unit_vector(query), k);
}

Result<std::vector<Hit>> Index::exact_vector_search(const std::vector<float>& query, int k) {
  const std::vector<float> unit = unit_vector(query);
  std::lock_guard lock(mutex_);
  using Scored = std::pair<double, int64_t>;  // min-heap of the best k
  std::priority_queue<Scored, std::vector<Scored>, std::greater<>> best;
  Statement rows(db_, "SELECT id, vector FROM chunks");
  while (rows.step() == SQLITE_ROW) {
    const std::string_view blob = rows.column_blob(1);
    if (blob.size() != unit.size() * sizeof(float)) continue;
    const auto* vector = reinterpret_cast<const float*>(blob.data());
    double dot = 0;
    for (size_t i = 0; i < unit.size(); ++i) {
      float x;
      std::memcpy(&x, vector + i, sizeof x);
      dot += static_cast<double>(x) * unit[i];
    }
    best.emplace(dot, rows.column_int(0));
    if (static_cast<int>(best.size()) > k) best.pop();
  }
  std::vector<Hit> hits;
  while (!best.empty()) {
    hits.push_back({best.top().second, best.top().first});
    best.pop();
  }
  std::reverse(hits.begin(), hits.end());
  return hits;
}

Result<std::set<int64_t>> Index::chunk_ids(const std::vector<std::string>& paths) {
  std::lock_guard lock(mutex_);
  std::set<int64_t> ids;
  Statement query(db_, "SELECT id FROM chunks WHERE path = ?");
  for (const std::string& path : paths) {
    query.reset();
    query.text(1, path);
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) ids.insert(query.column_int(0));
    if (rc != SQLITE_DONE) return db_error(db_, "listing a file's chunks");
  }
  return ids;
}

std::string Index::fts_query(const std::string& query) {
  constexpr size_t kMaxTerms = 64;
  std::vector<std::string> terms;
  size_t pos = 0;
  while (pos < query.size() && terms.size() < kMaxTerms) {
    const auto c = static_cast<unsigned char>(query[pos]);
    if (!(std::isalnum(c) || c >= 0x80 || c == '_')) {
      ++pos;
      continue;
    }
    size_t end = pos;
    while (end < query.size()) {
      const auto d = static_cast<unsigned char>(query[end]);
      if (!(std::isalnum(d) || d >= 0x80 || d == '_')) break;
      ++end;
    }
    std::string term = query.substr(pos, end - pos);
    if (std::find(terms.begin(), terms.end(), term) == terms.end())
      terms.push_back(std::move(term));
    pos = end;
  }
  std::string out;
  for (const auto& term : terms) {
    if (!out.empty()) out += " OR ";
    out += '"' + term + '"';  // a term holds no quote: only word bytes
  }
  return out;
}

Result<std::vector<Hit>> Index::keyword_search(const std::string& query, int k) {
  const std::string match = fts_query(query);
  std::vector<Hit> hits;
  if (match.empty() || k <= 0) return hits;
  std::lock_guard lock(mutex_);
  Statement search(db_,
                   "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                   "ORDER BY bm25(chunks_fts) LIMIT ?");
  search.text(1, match).integer(2, k);
  int rc;
  while ((rc = search.step()) == SQLITE_ROW)
    hits.push_back({search.column_int(0), -search.column_double(1)});
  if (rc != SQLITE_DONE) return db_error(db_, "keyword search");
  return hits;
}

Result<std::vector<std::pair<int64_t, Passage>>> Index::passages(const std::vector<int64_t>& ids) {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<int64_t, Passage>> out;
  Statement query(db_,
                  "SELECT chunk_id, path, start, stop, heading, text FROM chunks WHERE id = ?");
  for (int64_t id : ids) {
    query.reset();
    query.integer(1, id);
    if (query.step() != SQLITE_ROW) continue;
    Passage passage;
    passage.chunk_id = query.column_text(0);
    passage.source = query.column_text(1);
    passage.start = query.column_int(2);
    passage.end = query.column_int(3);
    passage.heading = query.column_text(4);
    passage.text = query.column_text(5);
    out.emplace_back(id, std::move(passage));
  }
  return out;
}

}  // namespace keel::knowledge

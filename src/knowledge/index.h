// One knowledge base's index on disk: a SQLite file (files, chunks with their vectors, an FTS5
// table over the chunks' words) and an hnswlib graph over the vectors built from it.
//
//   auto index = Index::open("kb/handbook");
//   (*index)->replace_file(file, chunks, vectors);       // one transaction per file
//   (*index)->publish_vectors();                          // hnsw graph to a temp file, renamed
//   auto hits = (*index)->vector_search(query_vector, 20);
//
// The SQLite file is the truth; the graph file is derived from it and names the generation it
// was built at (meta `hnsw_generation`): a crash at any point leaves a file whose committed
// transactions are whole, and a graph that is either current or rebuilt from SQLite when
// opened. Thread-safe: one connection behind a mutex; searches share the graph read-only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "knowledge/chunk.h"

struct sqlite3;

namespace keel::knowledge {

struct Passage;

// What the index remembers of a source file.
struct FileState {
  std::string path;  // as the knowledge base names it (relative where configured relative)
  std::string hash;  // SHA-256 of the bytes whose chunks are indexed; "" when none are
  int64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t chunks = 0;
  std::string error;  // the last run's failure for this file; "" when it was indexed
};

struct Hit {
  int64_t id = 0;    // the chunk's row id
  double score = 0;  // vector: cosine similarity; keyword: -bm25 (higher is better for both)
};

class VectorGraph;

class Index {
 public:
  ~Index();
  // Opens (creating) the folder's index.db and loads or rebuilds its graph.
  static Result<std::unique_ptr<Index>> open(const std::string& folder);

  // The embedding model the vectors came from; a different one empties the index (vectors of
  // two models do not compare).
  Status use_embedding_model(const std::string& model);

  Result<std::map<std::string, FileState>> files();
  // Replaces a file's chunks (and vectors, unit length or normalised here) in one transaction.
  Status replace_file(const FileState& file, const std::vector<Chunk>& chunks,
                      const std::vector<std::vector<float>>& vectors);
  // Records a failure; the file's indexed chunks (an older version's) stay searchable and its
  // hash stays, so the next run tries the file again.
  Status record_failure(const FileState& file);
  Status remove_file(const std::string& path);

  // Rebuilds the graph when the SQLite generation moved past it, writes it to a temp file and
  // renames it into place, then records its generation. Cheap when nothing changed.
  Status publish_vectors();
  // Picks up what another process (keel ingest beside keel serve) committed.
  Status refresh();

  int64_t chunk_count();
  int dimensions();
  // When the last ingest run finished (Unix ms; 0: never), for the console's knowledge page.
  int64_t ingested_at();
  Status set_ingested_at(int64_t unix_ms);

  // Nearest chunks by cosine similarity through the graph; `exact` by scanning every vector
  // (the reference the graph's recall is measured against).
  Result<std::vector<Hit>> vector_search(const std::vector<float>& query, int k);
  Result<std::vector<Hit>> exact_vector_search(const std::vector<float>& query, int k);
  // BM25 over the chunks' words (heading and text), any of the query's words matching.
  Result<std::vector<Hit>> keyword_search(const std::string& query, int k);
  // The row ids of the chunks of these files.
  Result<std::set<int64_t>> chunk_ids(const std::vector<std::string>& paths);
  // The chunks by row id, in the order asked; unknown ids (deleted meanwhile) are skipped.
  Result<std::vector<std::pair<int64_t, Passage>>> passages(const std::vector<int64_t>& ids);

  // The FTS5 MATCH expression for a query: its words, quoted, joined by OR; "" when none.
  static std::string fts_query(const std::string& query);

 private:
  Index() = default;
  Status exec(const char* sql);
  int64_t meta_int(const char* key);
  Status set_meta(const char* key, const std::string& value);
  Result<std::shared_ptr<VectorGraph>> build_graph();
  std::shared_ptr<VectorGraph> graph();

  std::string folder_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;  // the connection and graph_
  std::shared_ptr<VectorGraph> graph_;
  int64_t graph_generation_ = -1;
};

}  // namespace keel::knowledge

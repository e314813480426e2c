// Uploaded files and vector stores: the state behind OpenAI's /v1/files and /v1/vector_stores
// (src/server/knowledge.cpp speaks the wire). Each object belongs to the owner (a hash of the
// API key) that created it and is invisible to others.
//
//   auto stores = VectorStores::open(config);            // beside the `state:` SQLite file
//   auto file = stores->add_file(owner, "faq.md", "assistants", bytes);
//   auto store = stores->create_store(owner, "support", "{}");
//   auto added = co_await stores->add_file_to_store(owner, store->id, file->id, cancel);
//   auto found = co_await stores->search(owner, store->id, "reset password", 5, cancel);
//
// Records live in `<state>.knowledge/records.db` (tables uploaded_files, vector_stores,
// vector_store_files), each store's index in `<state>.knowledge/<store id>/` (knowledge/index.h),
// a file's chunks under its file id. Adding a file to a store extracts, chunks and embeds it
// before the call returns (status "completed" or "failed" with the reason). Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/attribute_filter.h"
#include "core/config.h"
#include "knowledge/index.h"
#include "knowledge/ingest.h"
#include "knowledge/knowledge.h"

struct sqlite3;

namespace keel::knowledge {

struct UploadedFile {
  std::string id;  // file-...
  std::string filename;
  std::string purpose;
  int64_t bytes = 0;
  int64_t created_at = 0;  // unix seconds
};

struct VectorStoreRecord {
  std::string id;  // vs_...
  std::string name;
  std::string metadata = "{}";  // JSON object text, as the client gave it
  int64_t created_at = 0;
  int64_t last_active_at = 0;
  int64_t usage_bytes = 0;
  int64_t completed = 0, failed = 0, in_progress = 0, cancelled = 0;  // file counts
};

struct VectorStoreFileRecord {
  std::string vector_store_id;
  std::string file_id;
  std::string status;  // in_progress (a batch's, waiting) | completed | failed | cancelled
  std::string error;   // why it failed
  int64_t created_at = 0;
  int64_t usage_bytes = 0;
  std::string attributes = "{}";  // JSON object text (parse_attributes checked it)
};

// A file batch (POST /v1/vector_stores/{id}/file_batches): the files it added, in its order.
// Its files are recorded "in_progress" when it is made and indexed one by one after the call
// returns (add_file_to_store); cancelling it marks those still waiting "cancelled".
struct FileBatchRecord {
  std::string id;  // vsfb_...
  std::string vector_store_id;
  int64_t created_at = 0;
  std::vector<std::string> file_ids;
};

struct FoundChunk {
  Passage passage;  // passage.source is the file id
  std::string filename;
  std::string attributes = "{}";  // the file's, JSON object text
};

class VectorStores {
 public:
  ~VectorStores();
  // Null (no error) when the state is not a SQLite file. `embed`: default, the router's.
  static Result<std::unique_ptr<VectorStores>> open(const Config& config, Embedder embed);

  // Stores need `vector_stores.embedding_model`; "" when they can be used, else why not.
  std::string unavailable() const;

  Result<UploadedFile> add_file(const std::string& owner, const std::string& filename,
                                const std::string& purpose, std::string_view data);
  Result<std::vector<UploadedFile>> list_files(const std::string& owner,
                                               const std::string& purpose);
  Result<std::optional<UploadedFile>> get_file(const std::string& owner, const std::string& id);
  Result<std::optional<std::string>> file_content(const std::string& owner, const std::string& id);
  // Also removes the file from every store of the owner. False when there was no such file.
  Result<bool> delete_file(const std::string& owner, const std::string& id);

  Result<VectorStoreRecord> create_store(const std::string& owner, const std::string& name,
                                         const std::string& metadata);
  Result<std::vector<VectorStoreRecord>> list_stores(const std::string& owner);
  Result<std::optional<VectorStoreRecord>> get_store(const std::string& owner,
                                                     const std::string& id);
  Result<bool> delete_store(const std::string& owner, const std::string& id);

  // kNotFound for an unknown store or file. A file that cannot be indexed is a record with
  // status "failed" and the reason, not an error. `attributes`: JSON object text.
  Task<Result<VectorStoreFileRecord>> add_file_to_store(const std::string& owner,
                                                        const std::string& store_id,
                                                        const std::string& file_id,
                                                        const std::string& attributes,
                                                        CancelPtr cancel);
  // Replaces a store file's attributes (JSON object text); nullopt when there is no such file.
  Result<std::optional<VectorStoreFileRecord>> update_store_file(const std::string& owner,
                                                                 const std::string& store_id,
                                                                 const std::string& file_id,
                                                                 const std::string& attributes);
  Result<std::vector<VectorStoreFileRecord>> list_store_files(const std::string& owner,
                                                              const std::string& store_id);
  Result<std::optional<VectorStoreFileRecord>> get_store_file(const std::string& owner,
                                                              const std::string& store_id,
                                                              const std::string& file_id);
  Result<bool> remove_store_file(const std::string& owner, const std::string& store_id,
                                 const std::string& file_id);

  // Records a batch and each of its files as "in_progress" with its attributes (JSON object
  // text), in one transaction; kNotFound for an unknown store.
  Result<FileBatchRecord> add_batch(
      const std::string& owner, const std::string& store_id,
      const std::vector<std::pair<std::string, std::string>>& files_and_attributes);
  // The batch's files still "in_progress" become "cancelled" (one being indexed finishes);
  // false when there is no such batch.
  Result<bool> cancel_batch(const std::string& owner, const std::string& store_id,
                            const std::string& batch_id);
  // A batch's file about to be indexed: true (and cancel_batch leaves it alone until
  // release_file) when it is still "in_progress", false when it was cancelled or removed.
  Result<bool> claim_waiting_file(const std::string& store_id, const std::string& file_id);
  void release_file(const std::string& store_id, const std::string& file_id);
  // A store file still "in_progress" becomes "failed" with `error`.
  Status fail_waiting_file(const std::string& store_id, const std::string& file_id,
                           const std::string& error);
  Result<std::optional<FileBatchRecord>> get_batch(const std::string& owner,
                                                   const std::string& store_id,
                                                   const std::string& batch_id);

  // Hybrid search (vector + keyword, reciprocal rank fusion) over one store. With a `filter`
  // (may be null), only chunks of files whose attributes match it: every chunk is then ranked
  // (an exact vector scan and every keyword match) before the others are left out, so a
  // selective filter still finds the best of the files it keeps.
  Task<Result<std::vector<FoundChunk>>> search(const std::string& owner,
                                               const std::string& store_id, std::string query,
                                               int k, const AttributeFilter* filter,
                                               CancelPtr cancel);

 private:
  VectorStores() = default;
  // mutex_, locked, with the records open: the folder and records.db are made on first use, so
  // a `keel serve` whose clients never use vector stores leaves no trace of them.
  Result<std::unique_lock<std::mutex>> records();
  Result<Index*> index_of(const std::string& store_id);

  std::string folder_;
  KnowledgeConfig config_;
  Embedder embed_;
  sqlite3* db_ = nullptr;  // records(): opened on first use
  std::mutex mutex_;       // db_ and indexes_
  std::map<std::string, std::unique_ptr<Index>> indexes_;
  std::set<std::pair<std::string, std::string>> indexing_;  // claimed (store, file)
};

}  // namespace keel::knowledge

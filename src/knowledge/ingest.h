// Ingestion: a knowledge base's sources -> extracted, chunked, embedded, indexed.
//
//   auto report = co_await ingest(index, config, base_dir, embed, on_progress, cancel);
//
// Incremental: a file whose size and mtime (else its SHA-256) match what the index holds is
// skipped; a file no longer among the sources is removed. Each file is committed on its own
// (one SQLite transaction), so a run that stops (a crash, Ctrl-C) keeps what it finished and the
// next run resumes; a file that fails (unreadable, binary, a corrupt or encrypted pdf, the
// embedding model failing) is named in the report, keeps its previous chunks, and is tried again
// next run. The vector graph is published (temp file, rename) once at the end.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/cancel.h"
#include "core/config.h"
#include "http/asio.h"
#include "knowledge/embed_chunks.h"
#include "knowledge/index.h"

namespace keel::knowledge {

// One file of a knowledge base's sources.
struct SourceFile {
  std::string path;      // as the base names it: the source as written, joined with the rest
  std::string location;  // where it is read from (relative sources resolved against base_dir)
};

// The files the sources name: files, folders (recursively: md, txt, html, pdf files), globs
// (`*`, `?`, `[...]` within a path segment; `**` across segments). A source that names nothing
// (no such path, a glob matching nothing, a folder with no documents) adds an error naming it.
std::vector<SourceFile> list_sources(const KnowledgeConfig& config, const std::string& base_dir,
                                     std::vector<std::string>& errors);

struct IngestProgress {
  size_t done = 0;  // files looked at
  size_t total = 0;
  std::string path;    // the file just looked at
  int64_t chunks = 0;  // chunks written this run
  size_t failed = 0;
};
using ProgressFn = std::function<void(const IngestProgress&)>;

struct IngestReport {
  size_t files = 0;    // files the sources name
  size_t indexed = 0;  // (re)indexed this run
  size_t unchanged = 0;
  size_t removed = 0;
  int64_t chunks = 0;               // written this run
  int64_t chunks_cut = 0;           // of those, cut to fit the embedding model (embed_chunks.h)
  std::vector<std::string> errors;  // "PATH: why", one per failed file or empty source
};

// True when a run would do something: a file new, changed (size or mtime), failed last time,
// or gone. Cheap: stats files, reads none.
Result<bool> is_stale(Index& index, const KnowledgeConfig& config, const std::string& base_dir);

Task<Result<IngestReport>> ingest(Index& index, const KnowledgeConfig& config,
                                  const std::string& base_dir, const Embedder& embed,
                                  const ProgressFn& progress, CancelPtr cancel);

// Chunks a document, embeds the chunks (config.embed_batch at a time, each cut to fit the
// model: embed_chunks.h) and commits them as `file`'s in one transaction; the chunks written, or
// what failed ("embedding with M failed: ..."). Nothing is written when anything fails.
struct IndexedDocument {
  int64_t chunks = 0;
  int64_t cut = 0;  // chunk_document's chunks cut to fit the embedding model
};
Task<Result<IndexedDocument>> index_document(Index& index, const FileState& file,
                                             const Extracted& document,
                                             const KnowledgeConfig& config, const Embedder& embed,
                                             CancelPtr cancel);

}  // namespace keel::knowledge

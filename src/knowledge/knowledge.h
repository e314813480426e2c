// Knowledge bases (DESIGN.md "Layers": knowledge): what copilots, the Responses `file_search`
// tool and /v1/vector_stores search. This header is the seam between the knowledge module
// (ingestion, the two indexes, fused retrieval) and its users; the implementation lives beside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cancel.h"
#include "core/result.h"
#include "http/asio.h"

namespace keel::knowledge {

// One retrieved chunk, with everything a citation names: the knowledge base, the source file
// (as configured, relative where it was given relative), the chunk's id (stable across runs
// while the file is unchanged), its byte range in the source's extracted text, and the heading
// path it sits under.
struct Passage {
  std::string knowledge;  // the knowledge base's name
  std::string source;     // the file it came from
  std::string chunk_id;
  int64_t start = 0;  // byte offsets into the source's extracted text
  int64_t end = 0;
  std::string heading;  // "Title > Section", empty when the source has none
  std::string text;
  double score = 0;  // fused score; higher is better
};

struct SearchOptions {
  int k = 5;
  bool rerank = false;  // rerank the fused list with the base's rerank model, when it has one
};

class KnowledgeBase {
 public:
  virtual ~KnowledgeBase() = default;
  virtual const std::string& name() const = 0;
  // Hybrid search: the query's embedding against the vector index and its words against the
  // keyword index, fused. An empty list when the base holds nothing.
  virtual Task<Result<std::vector<Passage>>> search(std::string query, SearchOptions options,
                                                    CancelPtr cancel) = 0;
};

}  // namespace keel::knowledge

// Splitting extracted text into chunks along its structure, to a size in tokens with overlap.
//
//   auto chunks = chunk_document(extracted, {.size = 300, .overlap = 50});
//
// Tokens are estimated, not counted with the embedding model's tokenizer (which keel may not
// have: the model can be remote): a word is one token per started 6 bytes, a punctuation mark
// one token. For English prose this lands within about 20% of BPE tokenizers' counts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "knowledge/extract.h"

namespace keel::knowledge {

struct ChunkOptions {
  int size = 300;    // tokens at most per chunk (a single word longer than this is cut)
  int overlap = 50;  // tokens a chunk repeats from the end of the one before, in one section
};

struct Chunk {
  size_t start = 0;  // byte range in Extracted::text: a chunk is one contiguous run of it
  size_t end = 0;
  std::string heading;
  std::string text;  // Extracted::text[start, end)
};

int estimate_tokens(std::string_view text);

// The text a chunk is embedded as (and keyword-indexed as, heading and text apart): its heading
// path, then its text.
std::string embedding_text(const Chunk& chunk);

// A chunk never spans two sections (runs of blocks with one heading path). Within a section,
// blocks are packed whole while they fit; a longer block is cut at sentence ends, else at
// spaces, into pieces of at most a quarter of `size`, so that overlap can repeat whole pieces.
std::vector<Chunk> chunk_document(const Extracted& document, const ChunkOptions& options);

// Cuts a chunk into contiguous pieces of at most `max_tokens` (estimated) each, as a long block
// is cut (sentence ends, else spaces, else inside a word) and packed whole while they fit; each
// piece keeps the heading, and its start/end stay positions in the document's text. Fewer than
// two pieces only when the chunk is one character. For a chunk the embedding model cannot take
// whole (embed_chunks.h).
std::vector<Chunk> split_chunk(const Chunk& chunk, int max_tokens);

}  // namespace keel::knowledge

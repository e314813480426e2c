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

// A chunk never spans two sections (runs of blocks with one heading path). Within a section,
// blocks are packed whole while they fit; a longer block is cut at sentence ends, else at
// spaces, into pieces of at most a quarter of `size`, so that overlap can repeat whole pieces.
std::vector<Chunk> chunk_document(const Extracted& document, const ChunkOptions& options);

}  // namespace keel::knowledge

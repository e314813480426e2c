// keel::knowledge's extractors and chunker over arbitrary bytes, as ingestion runs them on a
// file's contents: the first byte picks the kind (markdown, text, HTML through libxml2, pdftotext
// output) and the chunk size and overlap; the rest is the document. Extraction must end in a
// clean kInvalidArgument or blocks that lie within the text, and chunking in contiguous runs of
// the text within the size.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "knowledge/chunk.h"
#include "knowledge/extract.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t kind = data[0] & 3;
  const int chunk_size = 16 + (data[1] & 63);
  const int overlap = (data[1] >> 6) * 4;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  using namespace keel::knowledge;
  keel::Result<Extracted> doc = kind == 0   ? extract_markdown(bytes)
                                : kind == 1 ? extract_text(bytes)
                                : kind == 2 ? extract_html(bytes)
                                            : extract_pdf_text(bytes);
  if (!doc) {
    FUZZ_CHECK(doc.error().code == keel::ErrorCode::kInvalidArgument, "wrong error code");
    FUZZ_CHECK(!doc.error().message.empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(!doc->blocks.empty(), "success without blocks");
  size_t last_end = 0;
  for (const Block& block : doc->blocks) {
    FUZZ_CHECK(block.start < block.end && block.end <= doc->text.size(),
               "a block outside the text");
    FUZZ_CHECK(block.start >= last_end, "blocks out of order");
    last_end = block.end;
  }
  FUZZ_CHECK(check_text(doc->text).ok(), "extracted text that is not UTF-8");
  const auto chunks = chunk_document(*doc, {chunk_size, overlap});
  FUZZ_CHECK(!chunks.empty(), "blocks without chunks");
  for (const Chunk& chunk : chunks) {
    FUZZ_CHECK(chunk.start < chunk.end && chunk.end <= doc->text.size(),
               "a chunk outside the text");
    FUZZ_CHECK(doc->text.compare(chunk.start, chunk.end - chunk.start, chunk.text) == 0,
               "a chunk that is not a run of the text");
    FUZZ_CHECK(estimate_tokens(chunk.text) <= chunk_size, "a chunk over its size");
  }
  return 0;
}

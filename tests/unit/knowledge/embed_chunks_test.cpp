// Chunks longer than the embedding model takes (src/knowledge/embed_chunks.h): cut to fit before
// embedding when the limit is known, cut after a refusal when it is not; every piece a
// contiguous byte range of the extracted text, nothing dropped, nothing truncated.
#include "knowledge/embed_chunks.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "knowledge_test_util.h"

namespace keel::knowledge {
namespace {

// A section of dotted identifiers, as a page of API names is: 6 to 8 estimated tokens a line,
// 20 to 30 to the fine tokenizer.
Extracted identifier_page() {
  Extracted page;
  std::string& text = page.text;
  text = "os.path\n\n";
  const size_t body = text.size();
  for (int i = 0; i < 40; ++i) {
    text += "os.path.join_" + std::to_string(i) + "(a, b) os.O_RDONLY_" + std::to_string(i) + ". ";
  }
  text += "\n\nThe end of the page, in plain words that the estimate counts well.";
  page.blocks.push_back({0, body - 2, "Files"});
  page.blocks.push_back({body, text.size(), "Files > Paths"});
  return page;
}

// Every chunk is the document's text at its range, in order, and together they hold every word
// of the chunks they came from.
void expect_pieces_of(const Extracted& page, const std::vector<Chunk>& original,
                      const std::vector<Chunk>& pieces) {
  for (const auto& piece : pieces) {
    ASSERT_LT(piece.start, piece.end);
    ASSERT_LE(piece.end, page.text.size());
    EXPECT_EQ(piece.text, page.text.substr(piece.start, piece.end - piece.start));
  }
  for (size_t i = 1; i < pieces.size(); ++i) {
    EXPECT_LE(pieces[i - 1].start, pieces[i].start) << "pieces stay in document order";
  }
  for (const auto& chunk : original) {
    // The pieces inside this chunk's range cover all of its non-space bytes.
    std::string covered(chunk.end - chunk.start, ' ');
    for (const auto& piece : pieces) {
      if (piece.start < chunk.start || piece.end > chunk.end || piece.heading != chunk.heading)
        continue;
      covered.replace(piece.start - chunk.start, piece.text.size(), piece.text);
    }
    for (size_t at = 0; at < chunk.text.size(); ++at) {
      if (!std::isspace(static_cast<unsigned char>(chunk.text[at]))) {
        ASSERT_EQ(covered[at], chunk.text[at])
            << "byte " << chunk.start + at << " of a chunk is in no piece";
      }
    }
  }
}

// Every chunk embedded fits the model, what was embedded is what is indexed (in document order),
// and the chunks are the document's text at their ranges, covering what they were cut from.
void expect_embedded_to_fit(const Extracted& page, const std::vector<Chunk>& original,
                            const FineModel& model, const EmbeddedChunks& embedded) {
  for (const auto& chunk : embedded.chunks) {
    EXPECT_LE(fine_tokens(embedding_text(chunk)), model.limit) << chunk.text;
  }
  ASSERT_EQ(embedded.vectors.size(), embedded.chunks.size());
  ASSERT_EQ(model.embedded.size(), embedded.chunks.size());
  for (size_t i = 0; i < model.embedded.size(); ++i) {
    EXPECT_EQ(model.embedded[i], embedding_text(embedded.chunks[i]));
  }
  expect_pieces_of(page, original, embedded.chunks);
}

TEST(SplitChunk, PiecesAreContiguousRangesOfTheDocument) {
  const Extracted page = identifier_page();
  const auto chunks = chunk_document(page, {64, 8});
  ASSERT_FALSE(chunks.empty());
  const Chunk& chunk = chunks.front();
  const auto pieces = split_chunk(chunk, 10);
  ASSERT_GE(pieces.size(), 2u);
  for (const auto& piece : pieces) {
    EXPECT_LE(estimate_tokens(piece.text), 10) << piece.text;
    EXPECT_EQ(piece.heading, chunk.heading);
  }
  EXPECT_EQ(pieces.front().start, chunk.start);
  EXPECT_EQ(pieces.back().end, chunk.end);
  expect_pieces_of(page, {chunk}, pieces);
}

TEST(SplitChunk, ACutFitsWhatTheEstimateAlreadyFits) {
  // The estimate says 4 tokens; a model that counts more gets two halves, cut at a space.
  Chunk chunk{100, 119, "H", "a.b.c.d.e f.g.h.i.j"};
  const auto pieces = split_chunk(chunk, 50);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].text, "a.b.c.d.e");
  EXPECT_EQ(pieces[0].start, 100u);
  EXPECT_EQ(pieces[0].end, 109u);
  EXPECT_EQ(pieces[1].text, "f.g.h.i.j");
  EXPECT_EQ(pieces[1].start, 110u);
  EXPECT_EQ(pieces[1].end, 119u);
  // No space: cut at a character boundary, never inside a UTF-8 sequence.
  const auto word = split_chunk(Chunk{0, 6, "", "ééé"}, 50);
  ASSERT_EQ(word.size(), 2u);
  EXPECT_EQ(word[0].text + word[1].text, "ééé");
  EXPECT_EQ(word[0].text, "é");
  // One character cannot be cut.
  EXPECT_EQ(split_chunk(Chunk{0, 2, "", "é"}, 50).size(), 1u);
}

// A page of identifiers in chunks of 64 estimated tokens, embedded 4 at a time.
class EmbedChunksTest : public testing::Test {
 protected:
  EmbedChunksTest() {
    config_.name = "kb";
    config_.embedding_model = "embed";
    config_.chunk_tokens = 64;
    config_.overlap_tokens = 8;
    config_.embed_batch = 4;
  }
  // Chunks page_ as config_ says (into chunks_) and embeds the chunks with `model`.
  Result<EmbeddedChunks> embed(FineModel& model) {
    chunks_ = chunk_document(page_, {config_.chunk_tokens, config_.overlap_tokens});
    return run_task(embed_chunks(chunks_, config_, model.embedder(), nullptr));
  }

  Extracted page_ = identifier_page();
  KnowledgeConfig config_;
  std::vector<Chunk> chunks_;
};

TEST_F(EmbedChunksTest, ChunksOverTheModelsLimitAreCutAndPositionsStayRight) {
  FineModel model;
  auto embedded = embed(model);
  int64_t longest = 0;
  for (const auto& chunk : chunks_) longest = std::max(longest, fine_tokens(embedding_text(chunk)));
  ASSERT_GT(longest, model.limit) << "the page must have chunks the estimate undercounts";
  ASSERT_TRUE(embedded.ok()) << embedded.error().message;
  EXPECT_GT(embedded->cut, 0);
  EXPECT_GT(embedded->chunks.size(), chunks_.size());
  EXPECT_EQ(model.refusals, 0) << "measured first: the model never refused";
  expect_embedded_to_fit(page_, chunks_, model, *embedded);
}

TEST_F(EmbedChunksTest, ChunksThatFitAreLeftAlone) {
  FineModel model;
  model.limit = 100000;
  auto embedded = embed(model);
  ASSERT_TRUE(embedded.ok()) << embedded.error().message;
  EXPECT_EQ(embedded->cut, 0);
  ASSERT_EQ(embedded->chunks.size(), chunks_.size());
  for (size_t i = 0; i < chunks_.size(); ++i) {
    EXPECT_EQ(embedded->chunks[i].start, chunks_[i].start);
    EXPECT_EQ(embedded->chunks[i].end, chunks_[i].end);
  }
  EXPECT_EQ(model.embed_calls, static_cast<int>((chunks_.size() + 3) / 4)) << "embed_batch 4";
}

TEST_F(EmbedChunksTest, AnUpstreamsRefusalAsTooLongCutsTheChunkAndRetries) {
  FineModel model;
  model.has_tokenizer = false;  // no limit known: only the refusal tells
  model.refusal =
      "This model's maximum context length is 120 tokens, however you requested 180 tokens";
  auto embedded = embed(model);
  ASSERT_TRUE(embedded.ok()) << embedded.error().message;
  EXPECT_GT(model.refusals, 0);
  EXPECT_GT(embedded->cut, 0);
  expect_embedded_to_fit(page_, chunks_, model, *embedded);
}

TEST_F(EmbedChunksTest, OtherRefusalsFailTheDocumentUncut) {
  FineModel model;
  model.has_tokenizer = false;
  model.limit = 1;  // every input refused
  model.refusal = "invalid model ID";
  auto embedded = embed(model);
  ASSERT_FALSE(embedded.ok());
  EXPECT_EQ(embedded.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(embedded.error().message, "embedding with embed failed: invalid model ID");
  EXPECT_EQ(model.embed_calls, 1) << "not halved: the refusal is not about length";
}

TEST_F(EmbedChunksTest, ARefusalThatNeverEndsIsBounded) {
  config_.embed_batch = 1;
  FineModel model;
  model.has_tokenizer = false;
  model.limit = 1;  // refuses even a single character as too long
  auto embedded = embed(model);
  ASSERT_FALSE(embedded.ok());
  EXPECT_EQ(embedded.error().message, "embedding with embed failed: input 0 is too long");
  EXPECT_LE(model.embed_calls, 1 + 2 + 4 + 8 + 16 + 32) << "halved at most 4 levels deep";
}

TEST_F(EmbedChunksTest, AConfiguredLimitWithoutATokenizerUsesTheEstimateWithItsMargin) {
  config_.embedding_max_tokens = 40;
  FineModel model;
  model.has_tokenizer = false;
  model.limit = 100000;  // the upstream would take anything: the configured limit cuts
  auto embedded = embed(model);
  ASSERT_TRUE(embedded.ok()) << embedded.error().message;
  EXPECT_GT(embedded->cut, 0);
  for (const auto& chunk : embedded->chunks) {
    EXPECT_LE(estimate_tokens(embedding_text(chunk)) * kEstimateMargin, 40) << chunk.text;
  }
  expect_pieces_of(page_, chunks_, embedded->chunks);
}

TEST_F(EmbedChunksTest, TheSmallerOfTheConfiguredAndTheModelsLimitHolds) {
  config_.embedding_max_tokens = 60;
  FineModel model;  // takes 120
  auto embedded = embed(model);
  ASSERT_TRUE(embedded.ok()) << embedded.error().message;
  for (const auto& chunk : embedded->chunks) {
    EXPECT_LE(fine_tokens(embedding_text(chunk)), 60) << chunk.text;
  }
}

TEST_F(EmbedChunksTest, AHeadingLongerThanTheLimitIsNamed) {
  page_ = Extracted();
  page_.text = "short text under a long heading";
  page_.blocks.push_back({0, page_.text.size(), std::string(200, 'h')});
  FineModel model;
  auto embedded = embed(model);
  ASSERT_FALSE(embedded.ok());
  const std::string& message = embedded.error().message;
  EXPECT_EQ(message.rfind("a chunk (bytes 0-31, heading '" + std::string(77, 'h') +
                              "...') cannot be cut to fit the 120 tokens that embed takes per "
                              "input: its piece at bytes ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find(" tokens with the heading"), std::string::npos) << message;
  EXPECT_EQ(model.embed_calls, 0);
}

TEST(EmbedChunksRefusal, TooLongRefusalsAsVendorsWordThem) {
  const auto refused = [](const std::string& message) {
    return is_too_long(Error(ErrorCode::kInvalidArgument, message));
  };
  EXPECT_TRUE(refused("input 3 is too long: 566 tokens; this model embeds 1 to 512"));  // keel
  EXPECT_TRUE(
      refused("This model's maximum context length is 8192 tokens, however you "
              "requested 9000 tokens"));  // OpenAI, vLLM
  EXPECT_TRUE(
      refused("The input token count (3000) exceeds the maximum number of tokens "
              "allowed (2048)."));  // Gemini
  EXPECT_TRUE(
      refused("Input validation error: `inputs` must have less than 512 tokens. "
              "Given: 566"));  // TEI
  EXPECT_TRUE(refused("input is too large to process. increase the physical batch size"));
  EXPECT_TRUE(refused("input (566 tokens) is larger than the max context size (512 tokens)"));
  EXPECT_FALSE(refused("invalid model ID"));
  EXPECT_FALSE(is_too_long(Error(ErrorCode::kUnavailable, "input is too long")))
      << "only a refusal of the request itself (400, 413, 422)";
}

}  // namespace
}  // namespace keel::knowledge

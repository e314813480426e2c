// Embedding a document's chunks within what the embedding model takes per input.
//
//   auto embedded = co_await embed_chunks(std::move(chunks), config, embedder, cancel);
//   if (embedded) index.replace_file(file, embedded->chunks, embedded->vectors);
//
// chunk.h sizes chunks by an estimate, which undercounts text that a model's tokenizer cuts
// finely (identifiers, code: in Python's library/allos.html a chunk of 120 estimated tokens is
// 566 tokens to the fixture BERT, which takes 512). So each chunk is measured first as the model
// measures it, against
//  - the limit: the knowledge base's `embedding_max_tokens`, else what the model's target says
//    (Router::count_embed_tokens: the local engine's embeddings context, a vendor's documented
//    limit); the smaller when both are known; none known: nothing is measured;
//  - the count: the model's own tokenizer where keel has it (the local engine), else the
//    estimate times kEstimateMargin;
// and a chunk over the limit is cut (split_chunk) into pieces that are measured again, until
// every one fits. Should an upstream still refuse an input as too long (is_too_long), the batch
// is halved until the refused chunk stands alone, which is then cut in two and embedded again.
// A cut chunk's pieces replace it in order, each a chunk of its own: the text that is
// keyword-indexed and the text that is embedded stay the same, each with its own byte range for
// citations. Nothing is truncated.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/chat.h"
#include "core/cancel.h"
#include "core/config.h"
#include "http/asio.h"
#include "knowledge/chunk.h"

namespace keel::knowledge {

// Embeds texts in order (one vector per text) with the named public model.
using EmbedFn = std::function<Task<Result<std::vector<std::vector<float>>>>(
    const std::string& model, std::vector<std::string> texts, CancelPtr cancel)>;
// Counts texts' tokens as the named public model's embeddings target does, with its limit per
// input (Router::count_embed_tokens).
using EmbedCountFn = std::function<Task<Result<EmbedTokenCounts>>(
    const std::string& model, std::vector<std::string> texts, CancelPtr cancel)>;

struct Embedder {
  Embedder() = default;
  explicit Embedder(EmbedFn embed_fn, EmbedCountFn count_fn = {})
      : embed(std::move(embed_fn)), count(std::move(count_fn)) {}
  explicit operator bool() const { return static_cast<bool>(embed); }

  EmbedFn embed;
  EmbedCountFn count;  // null: only `embedding_max_tokens` limits, against the estimate
};

// Without the model's tokenizer a chunk counts as its estimate times this. chunk.h's estimate is
// within about 20% of BPE counts on English prose; code, identifiers and markup run higher (a
// tokenizer with a small vocabulary far higher: the fixture BERT counted 4.7 times a chunk of
// allos.html). Twice leaves room for the common case; what still gets past is cut on refusal.
constexpr int64_t kEstimateMargin = 2;

struct EmbeddedChunks {
  std::vector<Chunk> chunks;  // as embedded: in order, a cut chunk replaced by its pieces
  std::vector<std::vector<float>> vectors;  // one per chunk
  int64_t cut = 0;                          // chunks cut to fit
};

// Fails with "embedding with MODEL failed: ..." when the model does, or naming the chunk (its
// byte range) when it cannot be cut small enough (a heading longer than the limit).
Task<Result<EmbeddedChunks>> embed_chunks(std::vector<Chunk> chunks, const KnowledgeConfig& config,
                                          const Embedder& embedder, CancelPtr cancel);

// True for an upstream's refusal of an input as too long: kInvalidArgument (400, 413, 422) with
// a message as OpenAI, Gemini, vLLM, TEI, Ollama, llama-server and keel's local engine word it.
bool is_too_long(const Error& error);

}  // namespace keel::knowledge

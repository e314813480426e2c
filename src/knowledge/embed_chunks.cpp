#include "knowledge/embed_chunks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace keel::knowledge {
namespace {

// Rounds of measuring and cutting. Each round cuts every chunk still over the limit into pieces
// sized to its share of it, so two or three suffice; the bound only ends a disagreement that
// would never settle.
constexpr int kMaxFitRounds = 12;
// How often one chunk may be halved after refusals: down to 1/16 of it. An upstream whose
// refusals keep looking like "too long" costs at most this many halvings per chunk.
constexpr int kMaxRefusalCuts = 4;

std::vector<std::string> texts_of(const std::vector<Chunk>& chunks) {
  std::vector<std::string> texts;
  texts.reserve(chunks.size());
  for (const auto& chunk : chunks) texts.push_back(embedding_text(chunk));
  return texts;
}

Error embedding_failed(const KnowledgeConfig& config, const Error& error) {
  return Error(error.code,
               "embedding with " + config.embedding_model + " failed: " + error.message);
}

// One document's run: the limit, once known, and how chunks are counted against it.
struct Run {
  const KnowledgeConfig& config;
  const Embedder& embedder;
  CancelPtr cancel;
  int64_t limit = 0;   // 0: none known
  bool exact = false;  // counts from the model's tokenizer, not the estimate
  bool asked = false;  // the model's target was asked for its limit
};

// Token counts of `chunks`' embedding texts (the first call also settles run.limit).
Task<Result<std::vector<int64_t>>> count(Run& run, const std::vector<Chunk>& chunks) {
  std::vector<int64_t> tokens;
  if (run.embedder.count && (!run.asked || run.exact)) {
    std::vector<std::string> texts = texts_of(chunks);
    auto counted =
        co_await run.embedder.count(run.config.embedding_model, std::move(texts), run.cancel);
    if (run.cancel && run.cancel->cancelled()) co_return run.cancel->reason();
    if (!counted) co_return embedding_failed(run.config, counted.error());
    if (!run.asked) {
      run.asked = true;
      run.exact = counted->tokens.size() == chunks.size();
      const int64_t configured = run.config.embedding_max_tokens;
      run.limit = counted->max_tokens;
      if (configured > 0) run.limit = run.limit > 0 ? std::min(run.limit, configured) : configured;
    }
    if (run.exact) {
      if (counted->tokens.size() != chunks.size()) {
        co_return Error(ErrorCode::kBadGateway,
                        "embedding with " + run.config.embedding_model +
                            " failed: " + std::to_string(counted->tokens.size()) +
                            " token counts for " + std::to_string(chunks.size()) + " texts");
      }
      co_return std::move(counted->tokens);
    }
  } else if (!run.asked) {
    run.asked = true;
    run.limit = run.config.embedding_max_tokens;
  }
  tokens.reserve(chunks.size());
  for (const auto& chunk : chunks) {
    tokens.push_back(estimate_tokens(embedding_text(chunk)) * kEstimateMargin);
  }
  co_return tokens;
}

// Names the chunk as chunk_document made it (bytes `start`-`end`) and its piece that would not
// fit.
Error cannot_cut(const Run& run, size_t start, size_t end, const Chunk& piece, int64_t tokens) {
  std::string heading = piece.heading;
  if (heading.size() > 80) {
    size_t cut = 77;
    while (cut > 0 && (static_cast<unsigned char>(heading[cut]) & 0xc0) == 0x80) --cut;
    heading = heading.substr(0, cut) + "...";
  }
  return Error(ErrorCode::kInvalidArgument,
               "a chunk (bytes " + std::to_string(start) + "-" + std::to_string(end) +
                   ", heading '" + heading + "') cannot be cut to fit the " +
                   std::to_string(run.limit) + " tokens that " + run.config.embedding_model +
                   " takes per input: its piece at bytes " + std::to_string(piece.start) + "-" +
                   std::to_string(piece.end) + " is still " + std::to_string(tokens) +
                   " tokens with the heading");
}

// Cuts chunks over run.limit until every one fits; `cut` counts the chunks (as given) cut.
Task<Result<std::vector<Chunk>>> fit(Run& run, std::vector<Chunk> chunks, int64_t& cut) {
  auto counted = co_await count(run, chunks);
  if (!counted) co_return counted.error();
  std::vector<int64_t> tokens = std::move(*counted);
  if (run.limit <= 0) co_return chunks;
  std::vector<std::pair<size_t, size_t>> originals;  // the chunks' byte ranges as given
  for (const auto& chunk : chunks) originals.emplace_back(chunk.start, chunk.end);
  std::vector<size_t> origin(chunks.size());  // each chunk's index in `originals`
  for (size_t i = 0; i < origin.size(); ++i) origin[i] = i;
  std::vector<bool> was_cut(originals.size(), false);
  for (int round = 0;; ++round) {
    std::vector<Chunk> out;
    std::vector<int64_t> out_tokens;
    std::vector<size_t> out_origin;
    std::vector<size_t> fresh;  // positions in `out` of pieces not counted yet
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (tokens[i] <= run.limit) {
        out.push_back(std::move(chunks[i]));
        out_tokens.push_back(tokens[i]);
        out_origin.push_back(origin[i]);
        continue;
      }
      // Pieces of this chunk's share of the limit (in its own estimate), less a tenth for text
      // that is denser in one place than another.
      const int64_t estimate = estimate_tokens(chunks[i].text);
      const int64_t share = estimate * run.limit * 9 / (tokens[i] * 10);
      const int target =
          static_cast<int>(std::clamp<int64_t>(share, 1, std::max<int64_t>(estimate - 1, 1)));
      std::vector<Chunk> pieces = split_chunk(chunks[i], target);
      if (pieces.size() < 2 || round == kMaxFitRounds)
        co_return cannot_cut(run, originals[origin[i]].first, originals[origin[i]].second,
                             chunks[i], tokens[i]);
      if (!was_cut[origin[i]]) {
        was_cut[origin[i]] = true;
        ++cut;
      }
      for (auto& piece : pieces) {
        fresh.push_back(out.size());
        out.push_back(std::move(piece));
        out_tokens.push_back(0);
        out_origin.push_back(origin[i]);
      }
    }
    if (fresh.empty()) co_return out;
    std::vector<Chunk> pieces;
    pieces.reserve(fresh.size());
    for (size_t at : fresh) pieces.push_back(out[at]);
    auto piece_tokens = co_await count(run, pieces);
    if (!piece_tokens) co_return piece_tokens.error();
    for (size_t j = 0; j < fresh.size(); ++j) out_tokens[fresh[j]] = (*piece_tokens)[j];
    chunks = std::move(out);
    tokens = std::move(out_tokens);
    origin = std::move(out_origin);
  }
}

// Embeds `batch` in one request and appends it to `out`; a refusal as too long halves the
// batch, and a refused chunk on its own is cut in two (at most kMaxRefusalCuts deep).
Task<Status> embed_some(Run& run, std::vector<Chunk> batch, int cuts, EmbeddedChunks& out) {
  const size_t asked = batch.size();
  std::vector<std::string> texts = texts_of(batch);
  auto embedded =
      co_await run.embedder.embed(run.config.embedding_model, std::move(texts), run.cancel);
  if (run.cancel && run.cancel->cancelled()) co_return run.cancel->reason();
  if (embedded) {
    if (embedded->size() != asked) {
      co_return Error(ErrorCode::kBadGateway, "embedding with " + run.config.embedding_model +
                                                  " failed: " + std::to_string(embedded->size()) +
                                                  " vectors for " + std::to_string(asked) +
                                                  " texts");
    }
    for (size_t i = 0; i < asked; ++i) {
      out.chunks.push_back(std::move(batch[i]));
      out.vectors.push_back(std::move((*embedded)[i]));
    }
    co_return Status::Ok();
  }
  if (!is_too_long(embedded.error())) co_return embedding_failed(run.config, embedded.error());
  if (asked > 1) {
    std::vector<Chunk> second(std::make_move_iterator(batch.begin() + static_cast<long>(asked / 2)),
                              std::make_move_iterator(batch.end()));
    batch.resize(asked / 2);
    if (Status ok = co_await embed_some(run, std::move(batch), cuts, out); !ok) co_return ok;
    co_return co_await embed_some(run, std::move(second), cuts, out);
  }
  std::vector<Chunk> halves;
  if (cuts < kMaxRefusalCuts)
    halves = split_chunk(batch.front(), estimate_tokens(batch.front().text) / 2);
  if (halves.size() < 2) co_return embedding_failed(run.config, embedded.error());
  ++out.cut;
  co_return co_await embed_some(run, std::move(halves), cuts + 1, out);
}

}  // namespace

bool is_too_long(const Error& error) {
  if (error.code != ErrorCode::kInvalidArgument) return false;
  std::string message = error.message;
  std::transform(message.begin(), message.end(), message.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // OpenAI and vLLM: "maximum context length is N tokens"; Gemini and Ollama: "exceeds the
  // maximum"/"exceeds the context length"; TEI: "must have less than N tokens"; llama-server:
  // "too large to process" / "is larger than the max context size"; keel's engine: "too long".
  static constexpr std::array<std::string_view, 7> kPhrases = {
      "too long",       "too large",           "larger than the",
      "exceeds",        "must have less than", "maximum context length",
      "too many tokens"};
  return std::any_of(kPhrases.begin(), kPhrases.end(), [&](std::string_view phrase) {
    return message.find(phrase) != std::string::npos;
  });
}

Task<Result<EmbeddedChunks>> embed_chunks(std::vector<Chunk> chunks, const KnowledgeConfig& config,
                                          const Embedder& embedder, CancelPtr cancel) {
  Run run{config, embedder, cancel};
  EmbeddedChunks out;
  auto fitted = co_await fit(run, std::move(chunks), out.cut);
  if (!fitted) co_return fitted.error();
  out.chunks.reserve(fitted->size());
  out.vectors.reserve(fitted->size());
  const size_t batch = static_cast<size_t>(std::max(config.embed_batch, 1));
  for (size_t first = 0; first < fitted->size(); first += batch) {
    std::vector<Chunk> part(
        std::make_move_iterator(fitted->begin() + static_cast<long>(first)),
        std::make_move_iterator(fitted->begin() +
                                static_cast<long>(std::min(fitted->size(), first + batch))));
    if (Status ok = co_await embed_some(run, std::move(part), 0, out); !ok) co_return ok.error();
  }
  co_return out;
}

}  // namespace keel::knowledge

// Random-weight GGUF fixtures written through ggml's gguf API (gguf.h). The key and tensor names
// are llama.cpp's (0.4.0): keys from LLM_KV_NAMES in src/llama-arch.cpp, required hparams from
// llama_model_base::load_hparams in src/llama-model.cpp, tensors from load_arch_tensors in
// src/models/llama.cpp and src/models/bert.cpp, vocab keys from llama_vocab::impl::load in
// src/llama-vocab.cpp. The loader refuses a file with tensors it did not ask for ("wrong number
// of tensors"), so each fixture has exactly the tensors its architecture creates.
#include "providers/local/fixture.h"

#include <ggml.h>
#include <gguf.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace keel {
namespace {

// ~250 common English words: the vocab's word pieces, so ordinary text does not fall back to
// single characters and bytes everywhere.
constexpr std::string_view kWords[] = {
    "the",       "be",       "to",      "of",       "and",     "a",       "in",
    "that",      "have",     "i",       "it",       "for",     "not",     "on",
    "with",      "he",       "as",      "you",      "do",      "at",      "this",
    "but",       "his",      "by",      "from",     "they",    "we",      "say",
    "her",       "she",      "or",      "an",       "will",    "my",      "one",
    "all",       "would",    "there",   "their",    "what",    "so",      "up",
    "out",       "if",       "about",   "who",      "get",     "which",   "go",
    "me",        "when",     "make",    "can",      "like",    "time",    "no",
    "just",      "him",      "know",    "take",     "people",  "into",    "year",
    "your",      "good",     "some",    "could",    "them",    "see",     "other",
    "than",      "then",     "now",     "look",     "only",    "come",    "its",
    "over",      "think",    "also",    "back",     "after",   "use",     "two",
    "how",       "our",      "work",    "first",    "well",    "way",     "even",
    "new",       "want",     "because", "any",      "these",   "give",    "day",
    "most",      "us",       "is",      "are",      "was",     "were",    "has",
    "had",       "been",     "am",      "does",     "did",     "here",    "where",
    "why",       "yes",      "please",  "thank",    "thanks",  "hello",   "hi",
    "world",     "help",     "answer",  "question", "model",   "user",    "assistant",
    "system",    "text",     "word",    "name",     "number",  "data",    "test",
    "tool",      "call",     "file",    "line",     "code",    "read",    "write",
    "find",      "tell",     "ask",     "need",     "feel",    "try",     "leave",
    "put",       "mean",     "keep",    "let",      "begin",   "seem",    "show",
    "hear",      "play",     "run",     "move",     "live",    "believe", "hold",
    "bring",     "happen",   "sit",     "stand",    "lose",    "pay",     "meet",
    "include",   "continue", "set",     "learn",    "change",  "lead",    "understand",
    "watch",     "follow",   "stop",    "create",   "speak",   "allow",   "add",
    "spend",     "grow",     "open",    "walk",     "win",     "offer",   "remember",
    "love",      "consider", "appear",  "buy",      "wait",    "serve",   "die",
    "send",      "expect",   "build",   "stay",     "fall",    "cut",     "reach",
    "kill",      "remain",   "very",    "more",     "many",    "much",    "long",
    "great",     "little",   "own",     "old",      "right",   "big",     "high",
    "different", "small",    "large",   "next",     "early",   "young",   "important",
    "few",       "public",   "bad",     "same",     "able",    "man",     "woman",
    "child",     "life",     "hand",    "part",     "place",   "case",    "week",
    "point",     "home",     "water",   "room",     "mother",  "father",  "area",
    "money",     "story",    "fact",    "month",    "lot",     "book",    "eye",
    "job",       "night",    "house",   "school",   "country", "city",    "car",
    "food",      "dog",      "cat",     "tree",     "sun",     "sky",     "red",
    "blue",      "green",    "today",   "never",    "always",  "again",   "still",
    "every",     "once",     "upon",    "should",   "must",    "may",     "might",
    "shall",     "before",   "under",   "between",  "through", "during",  "without",
};
// Word-internal pieces (suffixes): SentencePiece pieces without the word-start mark, WordPiece
// continuations (stored without "##", see below).
constexpr std::string_view kSuffixes[] = {
    "s",    "es",  "ed",   "ing", "er",  "est", "ly",  "ion", "tion", "ness", "ment",
    "able", "ful", "less", "ous", "ive", "al",  "ity", "y",   "en",   "'s",   "n't",
};

// SentencePiece's and llama.cpp's word-start mark (U+2581).
constexpr std::string_view kSpace = "\xe2\x96\x81";

// ChatML turns, plus tools in the style of tool-calling instruct models: the tools listed as
// JSON in the system turn, a call written as <tool_call>{"name": ..., "arguments": ...}</tool_call>
// and a result sent back as <tool_response>. llama.cpp's chat code learns the call format from
// the template itself, so this fixture exercises the same tool-call path a real model does.
constexpr const char* kChatMlTemplate =
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}"
    "{{- 'Tools you may call, one JSON signature per line:\\n' }}"
    "{%- for tool in tools %}{{- tool | tojson }}{{- '\\n' }}{%- endfor %}"
    "{{- 'To call one, answer <tool_call>{\"name\": NAME, \"arguments\": ARGS}</tool_call>.' }}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif messages[0].role == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' and loop.first %}"
    "{%- elif message.role == 'assistant' and message.tool_calls %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if message.content %}{{- message.content }}{%- endif %}"
    "{%- for call in message.tool_calls %}"
    "{{- '<tool_call>{\"name\": \"' + call.function.name + '\", \"arguments\": ' }}"
    "{%- if call.function.arguments is string %}{{- call.function.arguments }}"
    "{%- else %}{{- call.function.arguments | tojson }}{%- endif %}"
    "{{- '}</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif message.role == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>' + message.content + '</tool_response><|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// splitmix64 (Steele, Lea, Flood 2014): fixed output on every platform, unlike std
// distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-scale, scale): 24 random bits, exact in a float, then one multiply.
  float uniform(float scale) {
    const float unit = static_cast<float>(next() >> 40) * 0x1p-24f;  // [0, 1)
    return (2.0f * unit - 1.0f) * scale;
  }

 private:
  uint64_t state_;
};

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  // Whether the llama fixture may generate the token: whole words, "," and ".", not the other
  // pieces that exist so that any text tokenizes (prefixes, suffixes, characters).
  std::vector<bool> emitted;
  std::map<std::string, int32_t> ids;

  // Returns the new token's id, or -1 when the text is already in the vocab.
  int32_t add(const std::string& text, llama_token_type type, float score = 0.0f) {
    if (!ids.emplace(text, static_cast<int32_t>(tokens.size())).second) return -1;
    tokens.push_back(text);
    scores.push_back(score);
    types.push_back(type);
    emitted.push_back(false);
    return static_cast<int32_t>(tokens.size()) - 1;
  }
  uint32_t size() const { return static_cast<uint32_t>(tokens.size()); }
};

// Token ids fixed by the vocab builders' order.
constexpr int32_t kLlamaUnk = 0, kLlamaBos = 1, kLlamaEos = 2, kLlamaImEnd = 4;
constexpr int32_t kBertPad = 0, kBertUnk = 1, kBertCls = 2, kBertSep = 3, kBertMask = 4;

// SentencePiece (tokenizer.ggml.model "llama"). llama.cpp's SPM tokenizer starts from single
// characters and merges adjacent pairs whose concatenation is a token, best score first; so
// every prefix of a word piece is a token too, or the word could never be reached. Characters
// without a token fall back to the <0xXX> byte tokens (any UTF-8 text tokenizes).
Vocab llama_vocab_tokens() {
  Vocab v;
  v.add("<unk>", LLAMA_TOKEN_TYPE_UNKNOWN);
  for (const char* special : {"<s>", "</s>", "<|im_start|>", "<|im_end|>"}) {
    v.add(special, LLAMA_TOKEN_TYPE_CONTROL);
  }
  for (int byte = 0; byte < 256; ++byte) {
    char text[8];
    std::snprintf(text, sizeof text, "<0x%02X>", byte);  // llama_vocab::byte_to_token's format
    v.add(text, LLAMA_TOKEN_TYPE_BYTE);
  }
  // Scores fall with each piece, as SentencePiece's log-probabilities do.
  float score = 0.0f;
  auto add_with_prefixes = [&](const std::string& piece, size_t first_len, bool emitted) {
    for (size_t len = first_len; len <= piece.size(); ++len) {
      if (v.add(piece.substr(0, len), LLAMA_TOKEN_TYPE_NORMAL, score) >= 0) score -= 1.0f;
    }
    if (emitted) v.emitted[static_cast<size_t>(v.ids.at(piece))] = true;
  };
  v.add(std::string(kSpace), LLAMA_TOKEN_TYPE_NORMAL, score);
  score -= 1.0f;
  for (char c = '!'; c <= '~'; ++c) add_with_prefixes(std::string(1, c), 1, c == ',' || c == '.');
  for (std::string_view word : kWords) {
    add_with_prefixes(std::string(kSpace) + std::string(word), kSpace.size() + 1, true);
  }
  for (std::string_view capitalized : {"The", "I", "Hello", "Once", "It", "What", "How"}) {
    add_with_prefixes(std::string(kSpace) + std::string(capitalized), kSpace.size() + 1, true);
  }
  for (std::string_view suffix : kSuffixes) add_with_prefixes(std::string(suffix), 1, false);
  return v;
}

// WordPiece (tokenizer.ggml.model "bert"). llama.cpp stores BERT vocabs in "phantom space"
// form (conversion/bert.py): a word-start piece "the" as "▁the", a continuation "##ing" as
// "ing"; its tokenizer matches the longest piece of "▁" + word, left to right, and turns a
// word with an unmatchable character into [UNK].
Vocab bert_vocab_tokens() {
  Vocab v;
  for (const char* special : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
    v.add(special, LLAMA_TOKEN_TYPE_CONTROL);
  }
  const std::string space(kSpace);
  // Punctuation and symbols are words of their own after BERT's pre-tokenizer.
  for (char c = '!'; c <= '~'; ++c) {
    if (c >= 'A' && c <= 'Z') continue;  // lowercased before lookup
    v.add(space + c, LLAMA_TOKEN_TYPE_NORMAL);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      v.add(std::string(1, c), LLAMA_TOKEN_TYPE_NORMAL);
  }
  for (std::string_view word : kWords) v.add(space + std::string(word), LLAMA_TOKEN_TYPE_NORMAL);
  for (std::string_view suffix : kSuffixes) v.add(std::string(suffix), LLAMA_TOKEN_TYPE_NORMAL);
  return v;
}

// How a tensor is filled.
enum class Fill {
  kRandom,  // uniform in [-scale, scale)
  kOnes,    // norm weights
  kZeros,   // norm biases
};

struct TensorSpec {
  std::string name;
  ggml_type type = GGML_TYPE_F32;
  int64_t ne0 = 0;  // row length (ggml's innermost dimension)
  int64_t ne1 = 1;  // rows
  Fill fill = Fill::kRandom;
  float scale = 0.0f;
  std::vector<int32_t> zero_rows;  // rows set to 0 after the random fill
};

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

// 2-D weights are F16 (half the file), 1-D ones F32, as llama.cpp's own F16 conversions do.
TensorSpec matrix(std::string name, int64_t ne0, int64_t ne1) {
  // 1/sqrt(fan in) keeps activations near unit scale through the random layers.
  const float scale = 1.0f / std::sqrt(static_cast<float>(ne0));  // sqrt is exact-rounded
  return {std::move(name), GGML_TYPE_F16, ne0, ne1, Fill::kRandom, scale, {}};
}
TensorSpec one_dim(std::string name, int64_t n, Fill fill, float scale = 0.02f) {
  return {std::move(name), GGML_TYPE_F32, n, 1, fill, scale, {}};
}
std::string block(int layer, const char* rest) {
  return "blk." + std::to_string(layer) + "." + rest;
}

std::vector<TensorSpec> llama_tensors(const FixtureDims& d, const Vocab& vocab) {
  const int64_t head_dim = d.n_embd / d.n_head;
  const int64_t n_embd_kv = head_dim * d.n_head_kv;
  std::vector<TensorSpec> t;
  t.push_back(matrix("token_embd.weight", d.n_embd, d.n_vocab));
  t.push_back(one_dim("output_norm.weight", d.n_embd, Fill::kOnes));
  // An output matrix of its own (not tied to token_embd) so that rows can be zeroed: a zero row
  // gives logit 0 while the other tokens' logits spread both ways, so greedy decoding picks a
  // whole word (or "," or "."), never a control token, a byte or a word's prefix.
  TensorSpec output = matrix("output.weight", d.n_embd, d.n_vocab);
  for (uint32_t id = 0; id < vocab.size(); ++id) {
    if (!vocab.emitted[id]) output.zero_rows.push_back(static_cast<int32_t>(id));
  }
  t.push_back(std::move(output));
  for (int i = 0; i < static_cast<int>(d.n_layer); ++i) {
    t.push_back(one_dim(block(i, "attn_norm.weight"), d.n_embd, Fill::kOnes));
    t.push_back(matrix(block(i, "attn_q.weight"), d.n_embd, d.n_embd));
    t.push_back(matrix(block(i, "attn_k.weight"), d.n_embd, n_embd_kv));
    t.push_back(matrix(block(i, "attn_v.weight"), d.n_embd, n_embd_kv));
    t.push_back(matrix(block(i, "attn_output.weight"), d.n_embd, d.n_embd));
    t.push_back(one_dim(block(i, "ffn_norm.weight"), d.n_embd, Fill::kOnes));
    t.push_back(matrix(block(i, "ffn_gate.weight"), d.n_embd, d.n_ff));
    t.push_back(matrix(block(i, "ffn_down.weight"), d.n_ff, d.n_embd));
    t.push_back(matrix(block(i, "ffn_up.weight"), d.n_embd, d.n_ff));
  }
  return t;
}

constexpr uint32_t kBertTokenTypes = 2;  // "sentence A/B"; llama.cpp only uses row 0

std::vector<TensorSpec> bert_tensors(const FixtureDims& d) {
  std::vector<TensorSpec> t;
  t.push_back(matrix("token_embd.weight", d.n_embd, d.n_vocab));
  // F32: the graph adds a 1-D view of it to the F32 input embeddings.
  t.push_back(
      {"token_types.weight", GGML_TYPE_F32, d.n_embd, kBertTokenTypes, Fill::kRandom, 0.1f, {}});
  t.push_back(matrix("position_embd.weight", d.n_embd, d.n_ctx_train));
  t.push_back(one_dim("token_embd_norm.weight", d.n_embd, Fill::kOnes));
  t.push_back(one_dim("token_embd_norm.bias", d.n_embd, Fill::kZeros));
  for (int i = 0; i < static_cast<int>(d.n_layer); ++i) {
    for (const char* proj : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      t.push_back(matrix(block(i, proj) + ".weight", d.n_embd, d.n_embd));
      t.push_back(one_dim(block(i, proj) + ".bias", d.n_embd, Fill::kRandom));
    }
    t.push_back(one_dim(block(i, "attn_output_norm.weight"), d.n_embd, Fill::kOnes));
    t.push_back(one_dim(block(i, "attn_output_norm.bias"), d.n_embd, Fill::kZeros));
    t.push_back(matrix(block(i, "ffn_up.weight"), d.n_embd, d.n_ff));
    t.push_back(one_dim(block(i, "ffn_up.bias"), d.n_ff, Fill::kRandom));
    t.push_back(matrix(block(i, "ffn_down.weight"), d.n_ff, d.n_embd));
    t.push_back(one_dim(block(i, "ffn_down.bias"), d.n_embd, Fill::kRandom));
    t.push_back(one_dim(block(i, "layer_output_norm.weight"), d.n_embd, Fill::kOnes));
    t.push_back(one_dim(block(i, "layer_output_norm.bias"), d.n_embd, Fill::kZeros));
  }
  return t;
}

// Creates each tensor in `ctx`, fills it from `rng` in spec order, and adds it to `gguf`.
void add_tensors(ggml_context* ctx, gguf_context* gguf, const std::vector<TensorSpec>& specs,
                 Rng& rng) {
  std::vector<float> values;
  for (const TensorSpec& spec : specs) {
    ggml_tensor* tensor = ggml_new_tensor_2d(ctx, spec.type, spec.ne0, spec.ne1);
    ggml_set_name(tensor, spec.name.c_str());
    const int64_t n = spec.ne0 * spec.ne1;
    values.assign(static_cast<size_t>(n), 0.0f);
    for (float& value : values) {
      switch (spec.fill) {
        case Fill::kRandom:
          value = rng.uniform(spec.scale);
          break;
        case Fill::kOnes:
          value = 1.0f;
          break;
        case Fill::kZeros:
          value = 0.0f;
          break;
      }
    }
    for (int32_t row : spec.zero_rows) {
      std::fill_n(values.begin() + static_cast<int64_t>(row) * spec.ne0, spec.ne0, 0.0f);
    }
    if (spec.type == GGML_TYPE_F16) {
      ggml_fp32_to_fp16_row(values.data(), static_cast<ggml_fp16_t*>(tensor->data), n);
    } else {
      std::copy(values.begin(), values.end(), static_cast<float*>(tensor->data));
    }
    gguf_add_tensor(gguf, tensor);
  }
}

size_t context_size(const std::vector<TensorSpec>& specs) {
  size_t bytes = 0;
  for (const TensorSpec& spec : specs) {
    const size_t data = ggml_row_size(spec.type, spec.ne0) * static_cast<size_t>(spec.ne1);
    bytes += ggml_tensor_overhead() + GGML_PAD(data, GGML_MEM_ALIGN);
  }
  return bytes + 1024;
}

void set_vocab_arrays(gguf_context* gguf, const Vocab& vocab, bool with_scores) {
  std::vector<const char*> texts;
  texts.reserve(vocab.tokens.size());
  for (const std::string& token : vocab.tokens) texts.push_back(token.c_str());
  gguf_set_arr_str(gguf, "tokenizer.ggml.tokens", texts.data(), texts.size());
  if (with_scores) {
    gguf_set_arr_data(gguf, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, vocab.scores.data(),
                      vocab.scores.size());
  }
  gguf_set_arr_data(gguf, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, vocab.types.data(),
                    vocab.types.size());
}

// Keys every fixture has. "<arch>.*" keys: LLM_KV_NAMES (src/llama-arch.cpp); context_length,
// embedding_length and block_count are required by load_hparams, head_count and
// feed_forward_length are read as optional there but every transformer needs them.
void set_common_keys(gguf_context* gguf, const std::string& arch, const char* name,
                     const FixtureDims& d) {
  gguf_set_val_str(gguf, "general.architecture", arch.c_str());
  gguf_set_val_str(gguf, "general.name", name);
  gguf_set_val_u32(gguf, "general.file_type", LLAMA_FTYPE_MOSTLY_F16);
  gguf_set_val_u32(gguf, (arch + ".vocab_size").c_str(), d.n_vocab);
  gguf_set_val_u32(gguf, (arch + ".context_length").c_str(), d.n_ctx_train);
  gguf_set_val_u32(gguf, (arch + ".embedding_length").c_str(), d.n_embd);
  gguf_set_val_u32(gguf, (arch + ".block_count").c_str(), d.n_layer);
  gguf_set_val_u32(gguf, (arch + ".feed_forward_length").c_str(), d.n_ff);
  gguf_set_val_u32(gguf, (arch + ".attention.head_count").c_str(), d.n_head);
  gguf_set_val_u32(gguf, (arch + ".attention.head_count_kv").c_str(), d.n_head_kv);
}

void set_llama_keys(gguf_context* gguf, const FixtureDims& d, const Vocab& vocab) {
  set_common_keys(gguf, "llama", kLlamaFixtureName, d);
  // Required by llama_model_llama::load_arch_hparams.
  gguf_set_val_f32(gguf, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
  // Optional (defaults: head size, 10000), written as converted Llama models have them; a
  // rope dimension other than the head size is refused for llama.
  gguf_set_val_u32(gguf, "llama.rope.dimension_count", d.n_embd / d.n_head);
  gguf_set_val_f32(gguf, "llama.rope.freq_base", 10000.0f);

  // No tokenizer.ggml.pre: llama.cpp reads it only for BPE vocabs.
  gguf_set_val_str(gguf, "tokenizer.ggml.model", "llama");
  set_vocab_arrays(gguf, vocab, /*with_scores=*/true);
  gguf_set_val_u32(gguf, "tokenizer.ggml.unknown_token_id", kLlamaUnk);
  gguf_set_val_u32(gguf, "tokenizer.ggml.bos_token_id", kLlamaBos);
  gguf_set_val_u32(gguf, "tokenizer.ggml.eos_token_id", kLlamaEos);
  // llama.cpp would also find <|im_end|> by its text; explicit is clearer.
  gguf_set_val_u32(gguf, "tokenizer.ggml.eot_token_id", kLlamaImEnd);
  gguf_set_val_bool(gguf, "tokenizer.ggml.add_bos_token", true);
  gguf_set_val_bool(gguf, "tokenizer.ggml.add_eos_token", false);
  // No "▁" before the first word of a text: the chat code feeds the grammar the tokens of the
  // assistant's opening ("<|im_start|>assistant\n") and expects exactly that text back, as it
  // gets from the BPE vocabularies of chat models.
  gguf_set_val_bool(gguf, "tokenizer.ggml.add_space_prefix", false);
  gguf_set_val_str(gguf, "tokenizer.chat_template", kChatMlTemplate);
}

void set_bert_keys(gguf_context* gguf, const FixtureDims& d, const Vocab& vocab) {
  set_common_keys(gguf, "bert", kBertFixtureName, d);
  // Required by llama_model_bert::load_arch_hparams.
  gguf_set_val_f32(gguf, "bert.attention.layer_norm_epsilon", 1e-12f);
  gguf_set_val_bool(gguf, "bert.attention.causal", false);
  gguf_set_val_u32(gguf, "bert.pooling_type", LLAMA_POOLING_TYPE_MEAN);

  gguf_set_val_str(gguf, "tokenizer.ggml.model", "bert");
  set_vocab_arrays(gguf, vocab, /*with_scores=*/false);
  // Required by llama_model_bert::load_arch_tensors (the token_types tensor's rows).
  gguf_set_val_u32(gguf, "tokenizer.ggml.token_type_count", kBertTokenTypes);
  // llama.cpp's WPM defaults are BERT-base's ids (CLS 101, SEP 102, ...): wrong for this vocab.
  // Tokenizing with add_special puts bos first and sep last; there is no cls key it reads.
  gguf_set_val_u32(gguf, "tokenizer.ggml.bos_token_id", kBertCls);
  gguf_set_val_u32(gguf, "tokenizer.ggml.cls_token_id", kBertCls);
  gguf_set_val_u32(gguf, "tokenizer.ggml.seperator_token_id", kBertSep);  // sic
  gguf_set_val_u32(gguf, "tokenizer.ggml.unknown_token_id", kBertUnk);
  gguf_set_val_u32(gguf, "tokenizer.ggml.padding_token_id", kBertPad);
  gguf_set_val_u32(gguf, "tokenizer.ggml.mask_token_id", kBertMask);
}

}  // namespace

const char* fixture_arch_name(FixtureArch arch) {
  return arch == FixtureArch::kLlama ? "llama" : "bert";
}

Result<FixtureArch> fixture_arch_from_name(std::string_view name) {
  if (name == "llama") return FixtureArch::kLlama;
  if (name == "bert") return FixtureArch::kBert;
  return Error(ErrorCode::kInvalidArgument,
               "unknown fixture architecture '" + std::string(name) + "' (llama or bert)");
}

FixtureDims fixture_dims(FixtureArch arch) {
  FixtureDims dims = {.n_embd = 64, .n_layer = 2, .n_head = 4, .n_ff = 128};
  if (arch == FixtureArch::kLlama) {
    dims.n_vocab = llama_vocab_tokens().size();
    dims.n_head_kv = 2;  // grouped-query attention, as most current models have
    dims.n_ctx_train = 4096;
  } else {
    dims.n_vocab = bert_vocab_tokens().size();
    dims.n_head_kv = dims.n_head;
    dims.n_ctx_train = 512;  // BERT's learned position embeddings: one row per position
  }
  return dims;
}

Status write_fixture_model(const std::string& path, FixtureArch arch, uint64_t seed) {
  if (path.empty()) return Status(ErrorCode::kInvalidArgument, "empty fixture model path");

  const FixtureDims dims = fixture_dims(arch);
  const Vocab vocab = arch == FixtureArch::kLlama ? llama_vocab_tokens() : bert_vocab_tokens();
  const std::vector<TensorSpec> specs =
      arch == FixtureArch::kLlama ? llama_tensors(dims, vocab) : bert_tensors(dims);

  std::unique_ptr<gguf_context, GgufDeleter> gguf(gguf_init_empty());
  if (arch == FixtureArch::kLlama) {
    set_llama_keys(gguf.get(), dims, vocab);
  } else {
    set_bert_keys(gguf.get(), dims, vocab);
  }

  // gguf_add_tensor keeps pointers to the tensors' data: the ggml context lives until written.
  ggml_init_params params = {context_size(specs), nullptr, /*no_alloc=*/false};
  std::unique_ptr<ggml_context, GgmlDeleter> ctx(ggml_init(params));
  if (!ctx) return Status(ErrorCode::kInternal, "cannot allocate the fixture's tensors");
  Rng rng(seed);
  add_tensors(ctx.get(), gguf.get(), specs, rng);

  const std::string tmp = path + ".tmp";
  if (!gguf_write_to_file(gguf.get(), tmp.c_str(), /*only_meta=*/false)) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return Status(ErrorCode::kInternal, "cannot write fixture model " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status(ErrorCode::kInternal,
                  "cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace keel

#include "knowledge/chunk.h"

#include <algorithm>
#include <cctype>

namespace keel::knowledge {
namespace {

constexpr int kBytesPerWordToken = 6;

bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }
bool is_space_byte(unsigned char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f';
}

struct Unit {
  size_t start = 0, end = 0;
  int tokens = 0;
};

// Cuts text[start, end) into units of at most `max_tokens`, at sentence ends, else spaces, else
// inside a word (never inside a UTF-8 sequence).
void split_block(std::string_view text, size_t start, size_t end, int max_tokens,
                 std::vector<Unit>& units) {
  size_t piece_start = start;
  int count = 0;  // tokens since piece_start
  size_t sentence_cut = 0, space_cut = 0;
  int sentence_count = 0, space_count = 0;
  auto emit = [&](size_t cut, int tokens_before_cut) {
    size_t piece_end = cut;
    while (piece_end > piece_start && is_space_byte(text[piece_end - 1])) --piece_end;
    if (piece_end > piece_start) units.push_back({piece_start, piece_end, tokens_before_cut});
    size_t next = cut;
    while (next < end && is_space_byte(text[next])) ++next;
    count -= tokens_before_cut;
    piece_start = next;
    sentence_cut = space_cut = 0;
  };
  size_t pos = start;
  while (pos < end) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (is_space_byte(c)) {
      const bool after_sentence =
          pos > start && (text[pos - 1] == '.' || text[pos - 1] == '?' || text[pos - 1] == '!' ||
                          text[pos - 1] == ':' || c == '\n');
      ++pos;
      if (after_sentence) {
        sentence_cut = pos;
        sentence_count = count;
      }
      space_cut = pos;
      space_count = count;
      continue;
    }
    size_t item_end = pos + 1;
    int item_tokens = 1;
    if (is_word_byte(c)) {
      while (item_end < end && is_word_byte(static_cast<unsigned char>(text[item_end]))) ++item_end;
      item_tokens =
          static_cast<int>((item_end - pos + kBytesPerWordToken - 1) / kBytesPerWordToken);
    }
    if (count + item_tokens > max_tokens && count > 0) {
      if (sentence_cut > piece_start && sentence_count > 0) {
        emit(sentence_cut, sentence_count);
      } else if (space_cut > piece_start && space_count > 0) {
        emit(space_cut, space_count);
      } else {
        emit(pos, count);
      }
      continue;  // the item is looked at again against the new piece
    }
    if (item_tokens > max_tokens) {
      // One word longer than a piece: cut it, at a UTF-8 character start.
      size_t cut = pos + static_cast<size_t>(max_tokens) * kBytesPerWordToken;
      while (cut > pos + 1 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
      count += max_tokens;
      pos = cut;
      emit(cut, count);
      continue;
    }
    count += item_tokens;
    pos = item_end;
  }
  if (piece_start < end) {
    size_t piece_end = end;
    while (piece_end > piece_start && is_space_byte(text[piece_end - 1])) --piece_end;
    if (piece_end > piece_start) units.push_back({piece_start, piece_end, count});
  }
}

}  // namespace

int estimate_tokens(std::string_view text) {
  int tokens = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (is_space_byte(c)) {
      ++pos;
    } else if (is_word_byte(c)) {
      size_t end = pos + 1;
      while (end < text.size() && is_word_byte(static_cast<unsigned char>(text[end]))) ++end;
      tokens += static_cast<int>((end - pos + kBytesPerWordToken - 1) / kBytesPerWordToken);
      pos = end;
    } else {
      ++tokens;
      ++pos;
    }
  }
  return tokens;
}

std::string embedding_text(const Chunk& chunk) {
  if (chunk.heading.empty()) return chunk.text;
  return chunk.heading + "\n\n" + chunk.text;
}

std::vector<Chunk> chunk_document(const Extracted& document, const ChunkOptions& options) {
  const int size = std::max(options.size, 4);
  const int overlap = std::clamp(options.overlap, 0, size - 1);
  const int piece_max = std::max(1, size / 4);
  std::vector<Chunk> chunks;
  const std::string_view text = document.text;
  size_t block = 0;
  while (block < document.blocks.size()) {
    // One section: blocks with the same heading path, in a row.
    const std::string& heading = document.blocks[block].heading;
    std::vector<Unit> units;
    for (; block < document.blocks.size() && document.blocks[block].heading == heading; ++block) {
      const Block& b = document.blocks[block];
      const int tokens = estimate_tokens(text.substr(b.start, b.end - b.start));
      if (tokens <= piece_max) {
        units.push_back({b.start, b.end, tokens});
      } else {
        split_block(text, b.start, b.end, piece_max, units);
      }
    }
    size_t first = 0;
    while (first < units.size()) {
      size_t last = first;  // one past the chunk's last unit
      int tokens = 0;
      while (last < units.size() && (last == first || tokens + units[last].tokens <= size)) {
        tokens += units[last].tokens;
        ++last;
      }
      Chunk chunk;
      chunk.start = units[first].start;
      chunk.end = units[last - 1].end;
      chunk.heading = heading;
      chunk.text = std::string(text.substr(chunk.start, chunk.end - chunk.start));
      chunks.push_back(std::move(chunk));
      if (last == units.size()) break;
      // The next chunk starts early enough to repeat up to `overlap` tokens of this one.
      size_t next = last;
      int repeated = 0;
      while (next > first + 1 && repeated + units[next - 1].tokens <= overlap) {
        repeated += units[next - 1].tokens;
        --next;
      }
      first = next;
    }
  }
  return chunks;
}

std::vector<Chunk> split_chunk(const Chunk& chunk, int max_tokens) {
  const std::string_view text = chunk.text;
  const auto piece = [&](size_t start, size_t end) {
    Chunk out;
    out.start = chunk.start + start;
    out.end = chunk.start + end;
    out.heading = chunk.heading;
    out.text = std::string(text.substr(start, end - start));
    return out;
  };
  std::vector<Unit> units;
  split_block(text, 0, text.size(), std::max(max_tokens, 1), units);
  if (units.empty()) return {chunk};
  if (units.size() == 1) {
    // It fits `max_tokens` as estimated, yet the model counts more: cut it in two, at the last
    // space before the middle, else at a character boundary near it.
    const Unit whole = units.front();
    const auto is_boundary = [&](size_t at) {
      return (static_cast<unsigned char>(text[at]) & 0xc0) != 0x80;
    };
    const size_t middle = whole.start + (whole.end - whole.start) / 2;
    size_t cut = text.substr(0, middle).find_last_of(" \n\t\r\f");
    if (cut == std::string_view::npos || cut <= whole.start) {
      cut = middle;
      while (cut > whole.start && !is_boundary(cut)) --cut;
      if (cut == whole.start) {
        cut = middle;
        while (cut < whole.end && !is_boundary(cut)) ++cut;
      }
      if (cut == whole.start || cut == whole.end) return {chunk};  // one character
    }
    size_t first_end = cut, second = cut;
    while (first_end > whole.start &&
           is_space_byte(static_cast<unsigned char>(text[first_end - 1])))
      --first_end;
    while (second < whole.end && is_space_byte(static_cast<unsigned char>(text[second]))) ++second;
    return {piece(whole.start, first_end), piece(second, whole.end)};
  }
  std::vector<Chunk> pieces;
  size_t first = 0;
  while (first < units.size()) {
    size_t last = first + 1;  // one past the piece's last unit
    int tokens = units[first].tokens;
    while (last < units.size() && tokens + units[last].tokens <= max_tokens) {
      tokens += units[last].tokens;
      ++last;
    }
    pieces.push_back(piece(units[first].start, units[last - 1].end));
    first = last;
  }
  return pieces;
}

}  // namespace keel::knowledge

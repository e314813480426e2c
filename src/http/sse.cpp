#include "http/sse.h"

#include <algorithm>
#include <cstring>

namespace keel {

namespace {

// The first CR or LF in [from, size) of `bytes`, or size. `next_cr` caches where the next CR
// is (size: none left; kUnknown: not searched yet), so a buffer of many LF-ended lines is
// searched for CRs once, not once per line.
constexpr size_t kUnknown = static_cast<size_t>(-1);

size_t line_end(std::string_view bytes, size_t from, size_t& next_cr) {
  if (from >= bytes.size()) return bytes.size();   // (and no memchr of a null pointer)
  if (next_cr == kUnknown || next_cr < from) {
    const void* cr = std::memchr(bytes.data() + from, '\r', bytes.size() - from);
    next_cr = cr ? static_cast<size_t>(static_cast<const char*>(cr) - bytes.data()) : bytes.size();
  }
  const size_t limit = next_cr;   // an LF counts only before the next CR
  const void* lf = std::memchr(bytes.data() + from, '\n', limit - from);
  return lf ? static_cast<size_t>(static_cast<const char*>(lf) - bytes.data()) : limit;
}

}  // namespace

bool SseParser::feed(std::string_view bytes, const Handler& on_event) {
  if (failed_) return false;
  size_t at = 0;
  size_t next_cr = kUnknown;   // line_end's cache
  while (at < bytes.size()) {
    const char c = bytes[at];
    if (!bom_checked_) {
      // A UTF-8 BOM may open the stream; it is not part of the first field. line_ holds the
      // BOM's bytes seen so far; any other byte ends the check and is processed as usual, so a
      // line end after a partial BOM still ends the line.
      static constexpr std::string_view kBom = "\xEF\xBB\xBF";
      if (c == kBom[line_.size()]) {
        line_.push_back(c);
        if (line_.size() == kBom.size()) {
          line_.clear();
          bom_checked_ = true;
        }
        ++at;
        continue;
      }
      bom_checked_ = true;
    }
    if (c == '\n' && last_was_cr_) {  // CRLF: the CR already ended the line
      last_was_cr_ = false;
      ++at;
      continue;
    }
    last_was_cr_ = false;
    const size_t end = line_end(bytes, at, next_cr);
    const std::string_view run = bytes.substr(at, end - at);
    if (end == bytes.size()) {   // the line goes on in the next bytes
      line_.append(run);
      if (line_.size() > max_line_bytes_) {
        failed_ = true;
        return false;
      }
      break;
    }
    // A whole line: read in place when nothing of it was held from earlier bytes.
    std::string_view line = run;
    if (!line_.empty()) {
      line_.append(run);
      line = line_;
    }
    if (line.size() > max_line_bytes_) {
      failed_ = true;
      return false;
    }
    process_line(line, on_event);
    line_.clear();
    last_was_cr_ = bytes[end] == '\r';
    at = end + 1;
  }
  return true;
}

void SseParser::process_line(std::string_view line, const Handler& on_event) {
  if (line.empty()) {  // dispatch
    if (has_data_) on_event(current_);
    current_.data.clear();
    current_.event.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment
  std::string_view field = line, value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) current_.id.assign(value);
  }
  // "retry" and unknown fields are ignored, as the spec says.
}

void append_sse_frame(std::string& out, std::string_view data, std::string_view event) {
  // Room for this frame, growing geometrically: `out` often gathers many frames.
  const size_t needed = out.size() + data.size() + event.size() + 16;
  if (needed > out.capacity()) out.reserve(std::max(needed, 2 * out.capacity()));
  if (!event.empty()) {
    out.append("event: ", 7);
    out += event;
    out += '\n';
  }
  // Each line of data gets its own data: field; CR, LF and CRLF all end a line for the reader.
  // (JSON data has no raw line ends: one memchr each for CR and LF, finding none.)
  size_t start = 0;
  size_t next_cr = kUnknown;
  while (true) {
    const size_t nl = line_end(data, start, next_cr);
    out.append("data: ", 6);
    out.append(data.data() + start, nl - start);
    out += '\n';
    if (nl == data.size()) break;
    start = nl + 1;
    if (data[nl] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out += '\n';
}

void open_sse_frame(std::string& out, std::string_view event) {
  if (!event.empty()) {
    out.append("event: ", 7);
    out += event;
    out += '\n';
  }
  out.append("data: ", 6);
}

void close_sse_frame(std::string& out) { out.append("\n\n", 2); }

std::string sse_frame(std::string_view data, std::string_view event) {
  std::string out;
  append_sse_frame(out, data, event);
  return out;
}

}  // namespace keel

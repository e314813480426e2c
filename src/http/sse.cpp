#include "http/sse.h"

namespace keel {

bool SseParser::feed(std::string_view bytes, const Handler& on_event) {
  if (failed_) return false;
  size_t at = 0;
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
    last_was_cr_ = (c == '\r');
    if (c == '\r' || c == '\n') {
      process_line(line_, on_event);
      line_.clear();
      ++at;
      continue;
    }
    // The rest of the line up to its end (or the end of these bytes) in one append.
    size_t end = at + 1;
    while (end < bytes.size() && bytes[end] != '\r' && bytes[end] != '\n') ++end;
    line_.append(bytes.data() + at, end - at);
    if (line_.size() > max_line_bytes_) {
      failed_ = true;
      return false;
    }
    at = end;
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
  out.reserve(out.size() + data.size() + event.size() + 16);
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out += '\n';
  }
  // Each line of data gets its own data: field; CR, LF and CRLF all end a line for the reader.
  size_t start = 0;
  while (true) {
    size_t nl = start;
    while (nl < data.size() && data[nl] != '\r' && data[nl] != '\n') ++nl;
    out += "data: ";
    out.append(data.data() + start, nl - start);
    out += '\n';
    if (nl == data.size()) break;
    start = nl + 1;
    if (data[nl] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out += '\n';
}

std::string sse_frame(std::string_view data, std::string_view event) {
  std::string out;
  append_sse_frame(out, data, event);
  return out;
}

}  // namespace keel

#include "http/multipart.h"

#include <algorithm>
#include <cctype>

#include "core/text.h"

namespace keel {
namespace {

Error bad(std::string message) {
  return Error(ErrorCode::kInvalidArgument, "multipart body: " + std::move(message));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// `; key=value; key="quoted \" value"` -> pairs (keys lower-cased). False on an unterminated
// quote.
bool parse_parameters(std::string_view text,
                      std::vector<std::pair<std::string, std::string>>& out) {
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ';' || text[pos] == ' ' || text[pos] == '\t')) ++pos;
    if (pos >= text.size()) break;
    const size_t eq = text.find_first_of("=;", pos);
    if (eq == std::string_view::npos || text[eq] == ';') {
      // A bare token ("form-data"): kept with an empty value.
      const size_t end = eq == std::string_view::npos ? text.size() : eq;
      out.emplace_back(lower(trim(text.substr(pos, end - pos))), "");
      pos = end;
      continue;
    }
    std::string key = lower(trim(text.substr(pos, eq - pos)));
    pos = eq + 1;
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    std::string value;
    if (pos < text.size() && text[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < text.size()) {
        const char c = text[pos++];
        if (c == '\\' && pos < text.size()) {
          value += text[pos++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value += c;
        }
      }
      if (!closed) return false;
    } else {
      const size_t end = std::min(text.find(';', pos), text.size());
      value = std::string(trim(text.substr(pos, end - pos)));
      pos = end;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

// RFC 5987 ext-value: UTF-8''percent%20encoded. "" when it is not that, or malformed.
std::string decode_ext_value(std::string_view value) {
  const size_t quote = value.find("''");
  if (quote == std::string_view::npos || lower(value.substr(0, quote)) != "utf-8") return "";
  return percent_decode(value.substr(quote + 2)).value_or("");
}

}  // namespace

Result<std::string> multipart_boundary(std::string_view content_type) {
  const size_t semicolon = content_type.find(';');
  const std::string type = lower(trim(content_type.substr(0, semicolon)));
  if (type != "multipart/form-data") {
    return Error(ErrorCode::kUnsupportedMedia,
                 "expected a multipart/form-data body (got " +
                     (type.empty() ? std::string("no Content-Type") : "'" + type + "'") + ")");
  }
  std::vector<std::pair<std::string, std::string>> parameters;
  if (semicolon == std::string_view::npos ||
      !parse_parameters(content_type.substr(semicolon + 1), parameters)) {
    return bad("the Content-Type has no boundary");
  }
  for (const auto& [key, value] : parameters) {
    if (key != "boundary") continue;
    // RFC 2046: 1 to 70 characters, not ending in a space.
    if (value.empty() || value.size() > 70 || value.back() == ' ') {
      return bad("the boundary must be 1 to 70 characters");
    }
    return value;
  }
  return bad("the Content-Type has no boundary");
}

Result<std::vector<MultipartPart>> parse_multipart(std::string_view body,
                                                   std::string_view boundary) {
  if (boundary.empty()) return bad("an empty boundary");
  const std::string delimiter = "--" + std::string(boundary);
  const std::string next_delimiter = "\r\n" + delimiter;
  // The first delimiter may start the body or follow a preamble (ending in CRLF).
  size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = delimiter.size();
  } else {
    const size_t found = body.find(next_delimiter);
    if (found == std::string_view::npos) return bad("no boundary line '" + delimiter + "'");
    pos = found + next_delimiter.size();
  }
  std::vector<MultipartPart> parts;
  while (true) {
    // After a delimiter: "--" ends the body; else transport padding, then CRLF.
    if (body.substr(pos, 2) == "--") return parts;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") return bad("a boundary line not followed by CRLF");
    pos += 2;
    if (parts.size() == kMaxMultipartParts) {
      return bad("more than " + std::to_string(kMaxMultipartParts) + " parts");
    }
    const size_t headers_end = body.find("\r\n\r\n", pos);
    const size_t blank_first = body.substr(pos, 2) == "\r\n" ? pos : std::string_view::npos;
    size_t content_start;
    std::string_view headers;
    if (blank_first != std::string_view::npos) {
      content_start = pos + 2;  // a part with no headers at all
    } else if (headers_end == std::string_view::npos) {
      return bad("a part's headers do not end");
    } else {
      headers = body.substr(pos, headers_end - pos);
      content_start = headers_end + 4;
    }
    if (headers.size() > kMaxMultipartHeaderBytes) return bad("a part's headers are too long");
    MultipartPart part;
    bool form_data = false;
    size_t line_start = 0;
    while (line_start <= headers.size() && !headers.empty()) {
      size_t line_end = headers.find("\r\n", line_start);
      if (line_end == std::string_view::npos) line_end = headers.size();
      const std::string_view line = headers.substr(line_start, line_end - line_start);
      line_start = line_end + 2;
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) return bad("a part header without ':'");
      const std::string field = lower(trim(line.substr(0, colon)));
      const std::string_view value = trim(line.substr(colon + 1));
      if (field == "content-type") {
        part.content_type = std::string(value);
      } else if (field == "content-disposition") {
        std::vector<std::pair<std::string, std::string>> parameters;
        if (!parse_parameters(value, parameters))
          return bad("an unterminated quote in Content-Disposition");
        std::string extended;
        for (const auto& [key, v] : parameters) {
          if (key == "form-data" && v.empty()) form_data = true;
          if (key == "name") part.name = v;
          if (key == "filename") part.filename = v;
          if (key == "filename*") extended = decode_ext_value(v);
        }
        if (!extended.empty()) part.filename = extended;
      }
      if (line_end >= headers.size()) break;
    }
    if (!form_data || part.name.empty()) {
      return bad("a part without 'Content-Disposition: form-data; name=...'");
    }
    const size_t end = body.find(next_delimiter, content_start);
    if (end == std::string_view::npos) return bad("the body ends without its closing boundary");
    part.data = body.substr(content_start, end - content_start);
    parts.push_back(std::move(part));
    pos = end + next_delimiter.size();
  }
}

}  // namespace keel

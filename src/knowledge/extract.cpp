#include "knowledge/extract.h"

#include <fcntl.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace keel::knowledge {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// Runs of whitespace become one space (HTML's rendering of text outside <pre>).
std::string collapse_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (is_space(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "Title > Section > Sub" from the heading stack (levels 1-6; empty levels skipped).
std::string heading_path(const std::vector<std::string>& stack) {
  std::string out;
  for (const auto& heading : stack) {
    if (heading.empty()) continue;
    if (!out.empty()) out += " > ";
    out += heading;
  }
  return out;
}

void set_heading(std::vector<std::string>& stack, size_t level, std::string text) {
  stack.resize(std::max<size_t>(level, 1));
  stack[stack.size() - 1] = std::move(text);
}

// Paragraphs of plain text, split at blank lines.
void add_paragraphs(Extracted& out, std::string_view text, const std::string& heading) {
  size_t pos = 0;
  std::string paragraph;
  auto flush = [&] {
    out.add(paragraph, heading);
    paragraph.clear();
  };
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (trim(line).empty()) {
      flush();
    } else {
      if (!paragraph.empty()) paragraph += '\n';
      paragraph += line;
    }
    pos = end + 1;
  }
  flush();
}

Result<Extracted> non_empty(Extracted out, const char* kind) {
  if (out.blocks.empty())
    return Error(ErrorCode::kInvalidArgument, std::string("no text in this ") + kind);
  return out;
}

// ---- markdown ----------------------------------------------------------------------------------

bool is_fence(std::string_view line, std::string_view& fence) {
  std::string_view t = trim(line);
  if (t.size() < 3) return false;
  if (t.substr(0, 3) == "```" || t.substr(0, 3) == "~~~") {
    fence = t.substr(0, 3);
    return true;
  }
  return false;
}

// "## Title ##" -> level 2, "Title"; 0 when the line is no ATX heading.
size_t atx_heading(std::string_view line, std::string& text) {
  size_t indent = 0;
  while (indent < line.size() && indent < 3 && line[indent] == ' ') ++indent;
  size_t level = 0;
  while (indent + level < line.size() && line[indent + level] == '#') ++level;
  if (level == 0 || level > 6) return 0;
  std::string_view rest = line.substr(indent + level);
  if (!rest.empty() && rest.front() != ' ' && rest.front() != '\t') return 0;
  rest = trim(rest);
  while (!rest.empty() && rest.back() == '#') rest.remove_suffix(1);
  text = std::string(trim(rest));
  return level;
}

bool is_setext_underline(std::string_view line, char& mark) {
  std::string_view t = trim(line);
  if (t.empty() || (t[0] != '=' && t[0] != '-')) return false;
  mark = t[0];
  return std::all_of(t.begin(), t.end(), [&](char c) { return c == mark; });
}

// ---- html --------------------------------------------------------------------------------------

bool is_block_element(std::string_view name) {
  static constexpr std::string_view kBlocks[] = {
      "p",       "li",      "pre",        "dd",      "dt",       "td",     "th",     "blockquote",
      "div",     "section", "article",    "main",    "table",    "tr",     "ul",     "ol",
      "dl",      "figure",  "figcaption", "caption", "br",       "hr",     "body",   "aside",
      "details", "summary", "address",    "form",    "fieldset", "legend", "center", "tbody"};
  return std::find(std::begin(kBlocks), std::end(kBlocks), name) != std::end(kBlocks);
}

bool is_skipped_element(xmlNode* node, std::string_view name) {
  static constexpr std::string_view kSkipped[] = {"script", "style",  "noscript", "template",
                                                  "nav",    "head",   "iframe",   "object",
                                                  "svg",    "button", "select",   "textarea"};
  if (std::find(std::begin(kSkipped), std::end(kSkipped), name) != std::end(kSkipped)) return true;
  xmlChar* role = xmlGetProp(node, reinterpret_cast<const xmlChar*>("role"));
  if (role == nullptr) return false;
  const std::string value = lower(reinterpret_cast<const char*>(role));
  xmlFree(role);
  return value == "navigation" || value == "search" || value == "banner" || value == "contentinfo";
}

int heading_level(std::string_view name) {
  if (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6') return name[1] - '0';
  return 0;
}

// The text under a node, everything included (for headings and <title>).
void text_of(xmlNode* node, std::string& out) {
  for (xmlNode* child = node; child != nullptr; child = child->next) {
    if (child->type == XML_TEXT_NODE || child->type == XML_CDATA_SECTION_NODE) {
      if (child->content) out += reinterpret_cast<const char*>(child->content);
    } else if (child->type == XML_ELEMENT_NODE) {
      const std::string_view name = reinterpret_cast<const char*>(child->name);
      if (name == "script" || name == "style") continue;
      text_of(child->children, out);
    }
  }
}

// The first element named `name` (lower case), depth first.
xmlNode* find_element(xmlNode* node, std::string_view name, int depth) {
  if (depth > 256) return nullptr;
  for (xmlNode* child = node; child != nullptr; child = child->next) {
    if (child->type != XML_ELEMENT_NODE) continue;
    if (lower(reinterpret_cast<const char*>(child->name)) == name) return child;
    if (xmlNode* found = find_element(child->children, name, depth + 1)) return found;
  }
  return nullptr;
}

// Heading text without the permalink marks documentation generators add (Sphinx's "¶").
std::string clean_heading(std::string text) {
  static constexpr std::string_view kPilcrow = "\xc2\xb6";
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    if (text.compare(pos, kPilcrow.size(), kPilcrow) == 0) {
      pos += kPilcrow.size();
      continue;
    }
    out += text[pos++];
  }
  return collapse_spaces(out);
}

class HtmlWalker {
 public:
  HtmlWalker(Extracted& out, std::string title) : out_(out), title_(std::move(title)) {}

  void walk(xmlNode* node, int depth) {
    if (depth > 256) return;  // libxml2 bounds nesting too; this keeps our own recursion shallow
    for (xmlNode* child = node; child != nullptr; child = child->next) {
      if (child->type == XML_TEXT_NODE || child->type == XML_CDATA_SECTION_NODE) {
        if (child->content) buffer_ += reinterpret_cast<const char*>(child->content);
        continue;
      }
      if (child->type != XML_ELEMENT_NODE) continue;
      const std::string name = lower(reinterpret_cast<const char*>(child->name));
      if (is_skipped_element(child, name)) continue;
      if (const int level = heading_level(name)) {
        flush();
        std::string text;
        text_of(child->children, text);
        set_heading(stack_, static_cast<size_t>(level), clean_heading(text));
        continue;
      }
      if (name == "pre") {
        flush();
        std::string text;
        text_of(child->children, text);
        add_block(std::string(trim(text)));
        continue;
      }
      const bool block = is_block_element(name);
      if (block) flush();
      walk(child->children, depth + 1);
      if (block) flush();
    }
  }

  void finish() { flush(); }

 private:
  void flush() {
    add_block(collapse_spaces(buffer_));
    buffer_.clear();
  }
  void add_block(const std::string& text) {
    if (text.empty()) return;
    std::vector<std::string> stack = stack_;
    // Pages whose headings start below h1 (or have none) sit under their <title>.
    if ((stack.empty() || stack[0].empty()) && !title_.empty()) {
      if (stack.empty()) stack.emplace_back();
      stack[0] = title_;
    }
    out_.add(text, heading_path(stack));
  }

  Extracted& out_;
  std::vector<std::string> stack_;
  std::string buffer_;
  std::string title_;
};

// ---- programs ----------------------------------------------------------------------------------

struct ProgramOutput {
  int exit_code = -1;
  std::string out, err;
};

// Runs argv[0] (found on PATH) with no shell; collects stdout and stderr (each capped).
Result<ProgramOutput> run_program(const std::vector<std::string>& args, size_t max_output) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Error(ErrorCode::kInternal, "pipe failed");
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return Error(ErrorCode::kInternal, "pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t default_signals;
  sigemptyset(&default_signals);
  sigaddset(&default_signals, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &default_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> argv_text = args;
  std::vector<char*> argv;
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return Error(ErrorCode::kUnavailable,
                 "cannot run " + args[0] + ": " + std::strerror(rc) +
                     (rc == ENOENT ? " (install poppler-utils: scripts/setup.sh does)" : ""));
  }
  ProgramOutput output;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&output.out, &output.err};
  int open_count = 2;
  char buffer[65536];
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        if (sinks[i]->size() < max_output) sinks[i]->append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      ::close(fds[i].fd);
      fds[i].fd = -1;
      --open_count;
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  output.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return output;
}

}  // namespace

namespace {

// The length of the valid UTF-8 sequence at text[i], 0 when there is none (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
size_t utf8_length(std::string_view text, size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return 1;
  size_t extra = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    extra = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    extra = 2;
  } else if (c >= 0xf0 && c <= 0xf4) {
    extra = 3;
  } else {
    return 0;
  }
  if (i + extra >= text.size()) return 0;
  for (size_t k = 1; k <= extra; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return 0;
  }
  const auto c1 = static_cast<unsigned char>(text[i + 1]);
  if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
      (c == 0xf4 && c1 > 0x8f)) {
    return 0;
  }
  return extra + 1;
}

// Bytes a parser passed through undecoded (libxml2 on bytes in no declared charset) become
// U+FFFD, so every extracted text and heading is UTF-8 (and JSON-safe in citations).
std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t length = text[i] == 0 ? 0 : utf8_length(text, i);
    if (length == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

}  // namespace

void Extracted::add(std::string_view block_text, const std::string& heading) {
  block_text = trim(block_text);
  if (block_text.empty()) return;
  if (!text.empty()) text += "\n\n";
  Block block;
  block.start = text.size();
  text += valid_utf8(block_text);
  block.end = text.size();
  block.heading = valid_utf8(heading);
  blocks.push_back(std::move(block));
}

DocumentKind document_kind(std::string_view path) {
  const size_t dot = path.rfind('.');
  if (dot == std::string_view::npos || path.find('/', dot) != std::string_view::npos) {
    return DocumentKind::kUnknown;
  }
  const std::string ext = lower(path.substr(dot + 1));
  if (ext == "md" || ext == "markdown") return DocumentKind::kMarkdown;
  if (ext == "txt" || ext == "text") return DocumentKind::kText;
  if (ext == "html" || ext == "htm") return DocumentKind::kHtml;
  if (ext == "pdf") return DocumentKind::kPdf;
  return DocumentKind::kUnknown;
}

Status check_text(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    if (bytes[i] == 0) {
      return Error(ErrorCode::kInvalidArgument,
                   "a binary file, not text (a NUL byte at offset " + std::to_string(i) + ")");
    }
    const size_t length = utf8_length(bytes, i);
    if (length == 0) {
      return Error(
          ErrorCode::kInvalidArgument,
          "a binary file, not UTF-8 text (an invalid byte at offset " + std::to_string(i) + ")");
    }
    i += length;
  }
  return Status::Ok();
}

Result<Extracted> extract_text(std::string_view bytes) {
  if (Status ok = check_text(bytes); !ok) return ok.error();
  Extracted out;
  add_paragraphs(out, bytes, "");
  return non_empty(std::move(out), "text file");
}

Result<Extracted> extract_markdown(std::string_view bytes) {
  if (Status ok = check_text(bytes); !ok) return ok.error();
  Extracted out;
  std::vector<std::string> stack;
  std::string paragraph;
  int paragraph_lines = 0;
  std::string_view fence;
  bool in_fence = false;
  auto flush = [&] {
    out.add(paragraph, heading_path(stack));
    paragraph.clear();
    paragraph_lines = 0;
  };
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    std::string_view this_fence;
    if (in_fence) {
      paragraph += '\n';
      paragraph += line;
      if (is_fence(line, this_fence) && this_fence == fence) {
        in_fence = false;
        flush();
      }
      continue;
    }
    if (is_fence(line, this_fence)) {
      flush();
      in_fence = true;
      fence = this_fence;
      paragraph = std::string(line);
      continue;
    }
    std::string heading;
    if (const size_t level = atx_heading(line, heading)) {
      flush();
      set_heading(stack, level, heading);
      continue;
    }
    char mark = 0;
    if (paragraph_lines == 1 && is_setext_underline(line, mark)) {
      std::string title = std::string(trim(paragraph));
      paragraph.clear();
      paragraph_lines = 0;
      set_heading(stack, mark == '=' ? 1 : 2, title);
      continue;
    }
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if (!paragraph.empty()) paragraph += '\n';
    paragraph += line;
    ++paragraph_lines;
  }
  flush();
  return non_empty(std::move(out), "markdown file");
}

Result<Extracted> extract_html(std::string_view bytes) {
  if (std::memchr(bytes.data(), 0, bytes.size()) != nullptr) {
    return Error(ErrorCode::kInvalidArgument, "a binary file, not HTML (it holds NUL bytes)");
  }
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return Error(ErrorCode::kInvalidArgument, "too large for the HTML parser");
  }
  htmlDocPtr doc = htmlReadMemory(bytes.data(), static_cast<int>(bytes.size()), nullptr, nullptr,
                                  HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                      HTML_PARSE_NONET | HTML_PARSE_COMPACT);
  if (doc == nullptr) return Error(ErrorCode::kInvalidArgument, "not HTML the parser can read");
  Extracted out;
  std::string title;
  if (xmlNode* node = find_element(xmlDocGetRootElement(doc), "title", 0)) {
    text_of(node->children, title);
  }
  HtmlWalker walker(out, clean_heading(title));
  xmlNode* root = xmlDocGetRootElement(doc);
  walker.walk(root, 0);
  walker.finish();
  xmlFreeDoc(doc);
  return non_empty(std::move(out), "HTML file");
}

Result<Extracted> extract_pdf_text(std::string_view text) {
  if (Status ok = check_text(text); !ok) return ok.error();
  Extracted out;
  size_t pos = 0;
  int page = 1;
  while (pos <= text.size()) {
    size_t end = text.find('\f', pos);
    if (end == std::string_view::npos) end = text.size();
    add_paragraphs(out, text.substr(pos, end - pos), "page " + std::to_string(page));
    ++page;
    pos = end + 1;
  }
  return non_empty(std::move(out), "pdf (no text layer: a scanned pdf needs OCR first)");
}

Result<Extracted> extract_pdf(const std::string& path) {
  constexpr size_t kMaxText = 256 * 1024 * 1024;
  auto ran = run_program({"pdftotext", "-enc", "UTF-8", path, "-"}, kMaxText);
  if (!ran) return ran.error();
  if (ran->exit_code != 0) {
    std::string why(trim(ran->err));
    for (char& c : why) {
      if (c == '\n') c = ' ';
    }
    if (why.empty()) why = "exit status " + std::to_string(ran->exit_code);
    const bool encrypted = why.find("password") != std::string::npos ||
                           why.find("Permission") != std::string::npos || ran->exit_code == 3;
    return Error(
        ErrorCode::kInvalidArgument,
        std::string(encrypted ? "a password-protected pdf" : "a corrupt or unreadable pdf") +
            " (pdftotext: " + why + ")");
  }
  return extract_pdf_text(ran->out);
}

Result<Extracted> extract_document(std::string_view name, std::string_view bytes) {
  switch (document_kind(name)) {
    case DocumentKind::kMarkdown:
      return extract_markdown(bytes);
    case DocumentKind::kText:
      return extract_text(bytes);
    case DocumentKind::kHtml:
      return extract_html(bytes);
    case DocumentKind::kUnknown:
      return Error(ErrorCode::kInvalidArgument, "not a known kind (md, txt, html, pdf)");
    case DocumentKind::kPdf:
      break;
  }
  char path[] = "/tmp/keel-upload-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return Error(ErrorCode::kInternal, std::string("temp file: ") + std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  Result<Extracted> out =
      written == bytes.size()
          ? extract_pdf(path)
          : Result<Extracted>(Error(ErrorCode::kInternal, "temp file: short write"));
  ::unlink(path);
  return out;
}

Result<Extracted> extract_file(const std::string& path) {
  const DocumentKind kind = document_kind(path);
  if (kind == DocumentKind::kUnknown) {
    return Error(ErrorCode::kInvalidArgument, "not a known kind (md, txt, html, pdf)");
  }
  if (kind == DocumentKind::kPdf) {
    if (::access(path.c_str(), R_OK) != 0) {
      return Error(ErrorCode::kInvalidArgument,
                   std::string("cannot read: ") + std::strerror(errno));
    }
    return extract_pdf(path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(ErrorCode::kInvalidArgument, std::string("cannot read: ") + std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Error(ErrorCode::kInvalidArgument, "cannot read: I/O error");
  const std::string text = bytes.str();
  if (text.empty()) return Error(ErrorCode::kInvalidArgument, "an empty file");
  switch (kind) {
    case DocumentKind::kMarkdown:
      return extract_markdown(text);
    case DocumentKind::kHtml:
      return extract_html(text);
    default:
      return extract_text(text);
  }
}

}  // namespace keel::knowledge

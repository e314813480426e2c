#include "knowledge/ingest.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/log.h"
#include "http/download.h"

namespace keel::knowledge {
namespace {

namespace fs = std::filesystem;

bool has_glob(std::string_view text) { return text.find_first_of("*?[") != std::string_view::npos; }

// "docs/" + "a/b.md" -> "docs/a/b.md"
std::string join_path(std::string_view dir, std::string_view rest) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out += '/';
  out += rest;
  return out;
}

std::string resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return join_path(base_dir, path);
}

struct Stat {
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

bool stat_file(const std::string& path, Stat& out) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return false;
  out.size = info.st_size;
  out.mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec;
  return true;
}

// Files under `dir` (as written) whose kind is known, recursively, sorted.
void walk_folder(const std::string& written, const std::string& location,
                 std::vector<SourceFile>& out) {
  std::error_code ec;
  std::vector<SourceFile> found;
  for (fs::recursive_directory_iterator
           it(location, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    const std::string relative = fs::relative(it->path(), location, type_ec).generic_string();
    if (document_kind(relative) == DocumentKind::kUnknown) continue;
    found.push_back({join_path(written, relative), it->path().generic_string()});
  }
  std::sort(found.begin(), found.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  out.insert(out.end(), found.begin(), found.end());
}

void glob_files(const std::string& pattern, const std::string& base_dir,
                std::vector<SourceFile>& out) {
  // The walk starts at the longest leading run of segments without glob characters.
  size_t prefix_end = 0;
  for (size_t pos = 0; pos < pattern.size();) {
    const size_t slash = pattern.find('/', pos);
    const size_t segment_end = slash == std::string::npos ? pattern.size() : slash;
    if (has_glob(std::string_view(pattern).substr(pos, segment_end - pos))) break;
    if (slash == std::string::npos) break;
    prefix_end = slash + 1;
    pos = slash + 1;
  }
  const std::string prefix = pattern.substr(0, prefix_end);
  const std::string root = resolve(base_dir, prefix.empty() ? "." : prefix);
  const bool any_depth = pattern.find("**") != std::string::npos;
  std::error_code ec;
  std::vector<SourceFile> found;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    const std::string relative = fs::relative(it->path(), root, type_ec).generic_string();
    const std::string written = prefix + relative;
    // `**` crosses segments: matched without FNM_PATHNAME, where `*` matches '/' too.
    if (fnmatch(pattern.c_str(), written.c_str(), any_depth ? 0 : FNM_PATHNAME) != 0) continue;
    found.push_back({written, it->path().generic_string()});
  }
  std::sort(found.begin(), found.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  out.insert(out.end(), found.begin(), found.end());
}

// pdftotext reads the file itself; the other kinds are parsed from the bytes already read.
Result<Extracted> extract_bytes(const SourceFile& file, std::string_view bytes) {
  if (document_kind(file.path) == DocumentKind::kPdf) return extract_pdf(file.location);
  return extract_document(file.path, bytes);
}

Result<std::string> read_file(const std::string& location) {
  std::ifstream in(location, std::ios::binary);
  if (!in)
    return Error(ErrorCode::kInvalidArgument, std::string("cannot read: ") + std::strerror(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Error(ErrorCode::kInvalidArgument, "cannot read: I/O error");
  return bytes.str();
}

}  // namespace

std::vector<SourceFile> list_sources(const KnowledgeConfig& config, const std::string& base_dir,
                                     std::vector<std::string>& errors) {
  std::vector<SourceFile> files;
  std::set<std::string> seen;
  for (const auto& source : config.sources) {
    std::vector<SourceFile> found;
    if (has_glob(source)) {
      glob_files(source, base_dir, found);
      if (found.empty()) errors.push_back(source + ": the glob matches no files");
    } else {
      const std::string location = resolve(base_dir, source);
      std::error_code ec;
      const fs::file_status status = fs::status(location, ec);
      if (ec || !fs::exists(status)) {
        errors.push_back(source + ": no such file or folder");
      } else if (fs::is_directory(status)) {
        walk_folder(source, location, found);
        if (found.empty())
          errors.push_back(source + ": no md, txt, html or pdf files in this folder");
      } else {
        found.push_back({source, location});
      }
    }
    for (auto& file : found) {
      if (seen.insert(file.path).second) files.push_back(std::move(file));
    }
  }
  return files;
}

Task<Result<IndexedDocument>> index_document(Index& index, const FileState& file,
                                             const Extracted& document,
                                             const KnowledgeConfig& config, const Embedder& embed,
                                             CancelPtr cancel) {
  std::vector<Chunk> chunks =
      chunk_document(document, {config.chunk_tokens, config.overlap_tokens});
  auto embedded = co_await embed_chunks(std::move(chunks), config, embed, cancel);
  if (cancel && cancel->cancelled()) co_return cancel->reason();
  if (!embedded) co_return embedded.error();
  if (Status ok = index.replace_file(file, embedded->chunks, embedded->vectors); !ok)
    co_return ok.error();
  co_return IndexedDocument{static_cast<int64_t>(embedded->chunks.size()), embedded->cut};
}

Result<bool> is_stale(Index& index, const KnowledgeConfig& config, const std::string& base_dir) {
  auto known = index.files();
  if (!known) return known.error();
  std::vector<std::string> errors;
  const auto files = list_sources(config, base_dir, errors);
  if (files.size() != known->size()) return true;
  for (const auto& file : files) {
    auto it = known->find(file.path);
    Stat stat;
    if (it == known->end() || !it->second.error.empty() || !stat_file(file.location, stat) ||
        stat.size != it->second.size || stat.mtime_ns != it->second.mtime_ns) {
      return true;
    }
  }
  return false;
}

Task<Result<IngestReport>> ingest(Index& index, const KnowledgeConfig& config,
                                  const std::string& base_dir, const Embedder& embed,
                                  const ProgressFn& progress, CancelPtr cancel) {
  if (Status ok = index.use_embedding_model(config.embedding_model); !ok) co_return ok.error();
  IngestReport report;
  const auto files = list_sources(config, base_dir, report.errors);
  report.files = files.size();
  auto known = index.files();
  if (!known) co_return known.error();
  IngestProgress state;
  state.total = files.size();
  for (const auto& file : files) {
    if (cancel && cancel->cancelled()) co_return cancel->reason();
    FileState now;
    now.path = file.path;
    Stat stat;
    const auto previous = known->find(file.path);
    const bool known_ok = previous != known->end() && previous->second.error.empty();
    auto fail = [&](const std::string& why) {
      report.errors.push_back(file.path + ": " + why);
      now.error = why;
      if (Status ok = index.record_failure(now); !ok) {
        KEEL_LOG(kWarn) << "knowledge " << config.name << ": " << ok.error().message;
      }
      ++state.failed;
    };
    if (!stat_file(file.location, stat)) {
      fail(std::string("cannot read: ") + std::strerror(errno));
    } else if (known_ok && stat.size == previous->second.size &&
               stat.mtime_ns == previous->second.mtime_ns) {
      ++report.unchanged;
    } else {
      now.size = stat.size;
      now.mtime_ns = stat.mtime_ns;
      auto bytes = read_file(file.location);
      if (!bytes) {
        fail(bytes.error().message);
      } else if (bytes->empty()) {
        fail("an empty file");
      } else if (now.hash = sha256_hex(*bytes); known_ok && now.hash == previous->second.hash) {
        ++report.unchanged;  // touched, not changed: the index keeps its chunks
      } else if (auto extracted = extract_bytes(file, *bytes); !extracted) {
        fail(extracted.error().message);
      } else {
        auto indexed = co_await index_document(index, now, *extracted, config, embed, cancel);
        if (cancel && cancel->cancelled()) co_return cancel->reason();
        if (!indexed) {
          fail(indexed.error().message);
        } else {
          ++report.indexed;
          report.chunks += indexed->chunks;
          report.chunks_cut += indexed->cut;
          state.chunks += indexed->chunks;
        }
      }
    }
    ++state.done;
    state.path = file.path;
    if (progress) progress(state);
  }
  std::set<std::string> listed;
  for (const auto& file : files) listed.insert(file.path);
  for (const auto& [path, file] : *known) {
    if (listed.count(path)) continue;
    if (Status ok = index.remove_file(path); !ok) co_return ok.error();
    ++report.removed;
  }
  if (Status ok = index.publish_vectors(); !ok) co_return ok.error();
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  if (Status ok =
          index.set_ingested_at(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
      !ok) {
    co_return ok.error();
  }
  co_return report;
}

}  // namespace keel::knowledge

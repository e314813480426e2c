#include "providers/local/model_info.h"

#include <ggml.h>
#include <gguf.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <system_error>

namespace keel::local {

namespace {

namespace fs = std::filesystem;

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

// A string key's value, or "" when absent or of another type (gguf_get_val_str asserts on the
// type, and the file is untrusted).
std::string string_value(const gguf_context* ctx, const char* key) {
  int64_t id = gguf_find_key(ctx, key);
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_STRING) return {};
  const char* value = gguf_get_val_str(ctx, id);
  return value ? value : "";
}

// Collects ggml's error lines while it lives, then puts the previous callback back.
class GgmlLogCapture {
 public:
  GgmlLogCapture() {
    ggml_log_get(&previous_, &previous_data_);
    ggml_log_set(&GgmlLogCapture::collect, this);
  }
  ~GgmlLogCapture() { ggml_log_set(previous_, previous_data_); }
  GgmlLogCapture(const GgmlLogCapture&) = delete;
  GgmlLogCapture& operator=(const GgmlLogCapture&) = delete;

  // The first error: the root cause (later ones say "failed to read ...").
  const std::string& first_error() const { return first_error_; }

 private:
  static void collect(ggml_log_level level, const char* text, void* data) {
    auto* self = static_cast<GgmlLogCapture*>(data);
    if (level != GGML_LOG_LEVEL_ERROR || !text || !self->first_error_.empty()) return;
    std::string line = text;
    // "gguf_init_from_file_impl: reason\n" -> "reason"
    if (size_t colon = line.find(": "); colon != std::string::npos && line.find(' ') > colon)
      line.erase(0, colon + 2);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    self->first_error_ = line;
  }

  ggml_log_callback previous_ = nullptr;
  void* previous_data_ = nullptr;
  std::string first_error_;
};

Error invalid(const fs::path& path, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, path.string() + ": " + why);
}

}  // namespace

Result<ModelInfo> read_model_info(const fs::path& path, bool capture_ggml_log) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return Error(ErrorCode::kNotFound, path.string() + ": no such file");
  if (!fs::is_regular_file(status)) return invalid(path, "not a regular file");
  ModelInfo info;
  info.path = path;
  info.file_size = fs::file_size(path, ec);
  if (ec) return Error(ErrorCode::kInternal, path.string() + ": " + ec.message());

  // Our own look at the magic first, for a plain answer on files that are not GGUF at all.
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(ErrorCode::kInternal, path.string() + ": cannot open: " + std::strerror(errno));
    char magic[8] = {};
    in.read(magic, sizeof magic);
    if (in.gcount() < static_cast<std::streamsize>(sizeof magic))
      return invalid(path, "too short to be GGUF (" + std::to_string(info.file_size) + " bytes)");
    if (std::memcmp(magic, GGUF_MAGIC, 4) != 0) return invalid(path, "not a GGUF file (bad magic)");
  }

  gguf_init_params params{};
  params.no_alloc = true;   // header only: tensor data is never read
  params.ctx = nullptr;
  std::optional<GgmlLogCapture> capture;
  if (capture_ggml_log) capture.emplace();
  GgufPtr ctx(gguf_init_from_file(path.c_str(), params));
  std::string reason = capture ? capture->first_error() : std::string();
  capture.reset();
  if (!ctx)
    return invalid(path, "corrupt or truncated GGUF header" + (reason.empty() ? "" : " (" + reason + ")"));

  info.gguf_version = gguf_get_version(ctx.get());
  info.architecture = string_value(ctx.get(), "general.architecture");
  if (info.architecture.empty()) return invalid(path, "no general.architecture");
  info.name = string_value(ctx.get(), "general.name");
  info.size_label = string_value(ctx.get(), "general.size_label");

  int64_t n_tensors = gguf_get_n_tensors(ctx.get());
  info.tensors = static_cast<uint64_t>(std::max<int64_t>(n_tensors, 0));
  uint64_t data_end = 0;
  std::map<int, uint64_t> bytes_by_type;
  for (int64_t i = 0; i < n_tensors; ++i) {
    const int64_t* ne = gguf_get_tensor_ne(ctx.get(), i);
    uint64_t elements = 1;
    for (int dim = 0; dim < GGML_MAX_DIMS; ++dim) elements *= static_cast<uint64_t>(ne[dim]);
    info.parameters += elements;
    uint64_t size = gguf_get_tensor_size(ctx.get(), i);
    data_end = std::max<uint64_t>(data_end, gguf_get_tensor_offset(ctx.get(), i) + size);
    bytes_by_type[static_cast<int>(gguf_get_tensor_type(ctx.get(), i))] += size;
  }
  // The reader checked the header, not that the tensor data is all there.
  uint64_t needed = n_tensors > 0 ? gguf_get_data_offset(ctx.get()) + data_end : 0;
  if (info.file_size < needed)
    return invalid(path, "truncated: " + std::to_string(info.file_size) + " bytes, its tensors need " +
                             std::to_string(needed));
  auto largest = std::max_element(bytes_by_type.begin(), bytes_by_type.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
  if (largest != bytes_by_type.end()) {
    // ggml says "q4_K", "f16"; model cards and file names say Q4_K, F16.
    info.quantization = ggml_type_name(static_cast<ggml_type>(largest->first));
    for (char& c : info.quantization) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return info;
}

Result<std::vector<ModelFile>> list_model_files(const fs::path& dir, bool capture_ggml_log) {
  std::vector<ModelFile> files;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return files;
  fs::directory_iterator it(dir, ec);
  if (ec) return Error(ErrorCode::kInternal, dir.string() + ": " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Error(ErrorCode::kInternal, dir.string() + ": " + ec.message());
    const auto& entry = *it;
    if (entry.path().extension() != ".gguf") continue;
    std::error_code file_ec;
    if (!entry.is_regular_file(file_ec)) continue;
    ModelFile file;
    file.path = entry.path();
    file.file_size = entry.file_size(file_ec);
    file.info = read_model_info(entry.path(), capture_ggml_log);
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(),
            [](const ModelFile& a, const ModelFile& b) { return a.path.filename() < b.path.filename(); });
  return files;
}

std::string format_parameter_count(uint64_t parameters) {
  struct Unit {
    uint64_t scale;
    const char* suffix;
  };
  static const Unit kUnits[] = {{1000000000000ULL, "T"}, {1000000000ULL, "B"}, {1000000ULL, "M"},
                                {1000ULL, "K"}};
  for (const auto& unit : kUnits) {
    if (parameters < unit.scale) continue;
    double value = static_cast<double>(parameters) / static_cast<double>(unit.scale);
    char text[32];
    // Three significant digits at most: 7.62B, 76.2M, 596M.
    std::snprintf(text, sizeof text, value < 10 ? "%.2f" : value < 100 ? "%.1f" : "%.0f", value);
    std::string out = text;
    if (out.find('.') != std::string::npos) {
      while (out.back() == '0') out.pop_back();
      if (out.back() == '.') out.pop_back();
    }
    return out + unit.suffix;
  }
  return std::to_string(parameters);
}

}  // namespace keel::local

#include "server/file_search.h"

#include <algorithm>

#include "api/json_util.h"
#include "core/ids.h"
#include "core/text.h"

namespace keel {
namespace {

// What Toolbox::invoke needs of a toolset: a name for metrics and traces, a timeout (a search
// embeds the query through the router) and the output cap (max_num_results 50 of ~1 KiB each).
const ToolsetConfig& file_search_toolset() {
  static const ToolsetConfig config = [] {
    ToolsetConfig made;
    made.name = kFileSearchTool;
    made.kind = ToolsetKind::kBuiltin;
    made.timeout_ms = 60'000;
    made.max_output_bytes = 256 * 1024;
    return made;
  }();
  return config;
}

class FileSearchFunction final : public Tool {
 public:
  explicit FileSearchFunction(FileSearch& search, ToolSpec spec)
      : search_(search), spec_(std::move(spec)) {}
  const ToolSpec& spec() const override { return spec_; }
  Task<Result<ToolOutput>> call(const Json& arguments, CancelPtr cancel) override {
    co_return co_await search_.search(arguments, std::move(cancel));
  }

 private:
  FileSearch& search_;
  ToolSpec spec_;
};

}  // namespace

FileSearch::FileSearch(knowledge::VectorStores* stores, std::string owner,
                       FileSearchOptions options, ToolSpec spec, ResponsesStreamEncoder& encoder,
                       std::vector<ResponsesEvent>* pending)
    : stores_(stores),
      owner_(std::move(owner)),
      options_(std::move(options)),
      spec_(std::move(spec)),
      encoder_(encoder),
      pending_(pending) {}

void FileSearch::publish(std::vector<ResponsesEvent>& events) {
  if (pending_ == nullptr) return;
  for (auto& event : events) pending_->push_back(std::move(event));
  events.clear();
}

Status FileSearch::check() const {
  for (const std::string& id : options_.vector_store_ids) {
    auto found = stores_ ? stores_->get_store(owner_, id)
                         : Result<std::optional<knowledge::VectorStoreRecord>>(std::nullopt);
    if (!found) return found.error();
    if (!*found) {
      Error error(ErrorCode::kNotFound,
                  "No vector store found with id '" + truncate_utf8(id, 128) + "'.");
      error.type_code = "not_found";
      error.param = "tools";
      return error;
    }
  }
  if (std::string why = stores_ ? stores_->unavailable() : ""; !why.empty()) {
    return Error(ErrorCode::kInvalidArgument, why);
  }
  return Status::Ok();
}

OfferedTool FileSearch::offered() {
  return OfferedTool{spec_.name, kFileSearchTool, &file_search_toolset(),
                     std::make_shared<FileSearchFunction>(*this, spec_)};
}

Task<Result<ToolOutput>> FileSearch::search(const Json& arguments, CancelPtr cancel) {
  const std::string query = optional_string(arguments, "query");
  const std::string id = new_id("fs_");
  std::vector<ResponsesEvent> events;
  encoder_.file_search_begin(id, Json::array({query}), events);
  publish(events);

  std::vector<knowledge::FoundChunk> found;
  std::optional<Error> failure;
  for (const std::string& store : options_.vector_store_ids) {
    const AttributeFilter* filter = options_.filters ? &*options_.filters : nullptr;
    auto chunks =
        co_await stores_->search(owner_, store, query, options_.max_num_results, filter, cancel);
    if (!chunks) {
      failure = chunks.error();
      break;
    }
    for (auto& chunk : *chunks) found.push_back(std::move(chunk));
  }
  events.clear();
  if (failure) {
    encoder_.file_search_end(id, Json(), "failed", events);
    publish(events);
    co_return *failure;
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.passage.score > b.passage.score; });
  std::erase_if(found,
                [&](const auto& chunk) { return chunk.passage.score < options_.score_threshold; });
  if (found.size() > static_cast<size_t>(options_.max_num_results)) {
    found.resize(options_.max_num_results);
  }

  Json results = Json::array();
  std::string text;
  for (auto& chunk : found) {
    // Cited as the file: its id where a citation names the chunk (file_citation's file_id),
    // its name as the source.
    knowledge::Passage passage = std::move(chunk.passage);
    passage.chunk_id = passage.source;
    passage.source = chunk.filename;
    results.push_back({{"file_id", passage.chunk_id},
                       {"filename", passage.source},
                       {"score", passage.score},
                       {"text", passage.text},
                       {"attributes", try_parse_json(chunk.attributes).value_or(Json::object())}});
    passages_.push_back(std::move(passage));
    const knowledge::Passage& added = passages_.back();
    text += "\n[" + std::to_string(passages_.size()) + "] " + added.source;
    if (!added.heading.empty()) text += " > " + added.heading;
    text += "\n" + added.text + "\n";
  }
  text = found.empty()
             ? "No passage of the files matches \"" + query + "\"."
             : "Passages of the files that match \"" + query +
                   "\", numbered. Cite one by writing its number in square brackets right after "
                   "the statement it supports.\n" +
                   text;
  encoder_.file_search_end(id, options_.include_results ? std::move(results) : Json(), "completed",
                           events);
  publish(events);
  co_return ToolOutput{std::move(text), false};
}

}  // namespace keel

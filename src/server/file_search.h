// The Responses `file_search` tool, run by keel over its own vector stores on any vendor: the
// model is offered a function `file_search(query)`; the tool loop (tools/loop.h) runs it here,
// each call becoming a file_search_call item of the response (streamed as
// response.file_search_call.in_progress / .searching / .completed) and numbered sources in the
// tool's answer, which CitingSink (copilots/citations.h) turns into file_citation annotations
// when the model cites them.
//
//   FileSearch search(stores, owner, *req.file_search, req.file_search_spec, encoder, &pending);
//   if (Status ok = search.check(); !ok) ...;              // 404 naming an unknown store
//   copilots::CitingSink citing(client_sink, search.passages());
//   co_await run_tool_loop(router, toolbox, req.chat, model, citing, cancel, {}, trace,
//                          {search.offered()});
//
// Single-threaded: one request's, on its io thread; it must outlive the loop.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/responses/responses.h"
#include "knowledge/vector_stores.h"
#include "tools/toolbox.h"

namespace keel {

class FileSearch {
 public:
  // `stores` may be null (no vector stores configured): every store id is then unknown.
  // `pending`: where a streamed response's file_search_call events wait for the client's sink
  // to send them ahead of its next events (a tool runs in a coroutine of its own, which must
  // not write to the response itself); null when the response is not streamed.
  FileSearch(knowledge::VectorStores* stores, std::string owner, FileSearchOptions options,
             ToolSpec spec, ResponsesStreamEncoder& encoder, std::vector<ResponsesEvent>* pending);

  // Every store of the tool exists and belongs to the owner: else a 404 in OpenAI's shape
  // naming the first that does not (param tools).
  Status check() const;
  // The tool for run_tool_loop's `request_tools`.
  OfferedTool offered();
  // Every search's results in the order found: passage n (from 1) is what "[n]" cites.
  const std::vector<knowledge::Passage>& passages() const { return passages_; }

  // One call of the tool: searches every store, merges by score, records the item.
  Task<Result<ToolOutput>> search(const Json& arguments, CancelPtr cancel);

 private:
  knowledge::VectorStores* stores_;
  std::string owner_;
  FileSearchOptions options_;
  ToolSpec spec_;
  void publish(std::vector<ResponsesEvent>& events);

  ResponsesStreamEncoder& encoder_;
  std::vector<ResponsesEvent>* pending_;
  std::vector<knowledge::Passage> passages_;
};

}  // namespace keel

// The automatic tool-calling loop (DESIGN.md "A turn"), server-side: a public model whose config
// names `tools:` gets those toolsets' tools offered to the upstream; keel runs the calls of its
// own tools in parallel (Toolbox::invoke: schema check, timeout, output cap), feeds the results
// back as tool messages and asks again, until an answer or max_tool_rounds. The client sees one
// ordinary answer on its own front door, streamed or not.
//
//   ChatOutcome outcome = co_await run_tool_loop(router, toolbox, request, model_config,
//                                                client_sink, client_gone);
//
// What reaches `client`: the first round's Start, every round's text as it streams, calls of
// tools the client declared itself (mixed mode: they end the loop and go back to the client,
// with finish reason tool_calls; calls of keel's tools in that same turn are dropped), one
// Finish and the usage summed over rounds. A failure in a later round, after the client's
// stream began, reaches the client as a terminal Error event. Each round is an ordinary
// Router::chat, so retries and failover apply within it, whatever the provider kind.
#pragma once

#include "router/router.h"
#include "tools/tool_choice.h"
#include "tools/toolbox.h"

namespace keel {

// `approval` (a copilot's): tools keel offers but does not run. A call of one goes back to the
// client as an ordinary tool call, as a client tool's does; the client's result in its next
// request reaches the model as that call's tool message. An entry names a tool as models see
// it, `toolset/tool`, or a whole toolset. With a trace, each tool call is a span under
// `trace.parent` (Toolbox::invoke). `request_tools`: tools of this request only (the Responses
// file_search tool), offered and run beside the model's.
Task<ChatOutcome> run_tool_loop(Router& router, Toolbox& toolbox, ChatRequest request,
                                const ModelConfig& model, EventSink& client, CancelPtr cancel,
                                const std::vector<std::string>& approval = {},
                                TraceContext trace = {},
                                const std::vector<OfferedTool>& request_tools = {});

// Whether `tool` is named by an `approval` list (see run_tool_loop).
bool needs_approval(const OfferedTool& tool, const std::vector<std::string>& approval);

}  // namespace keel

// tool_choice for a model with `tools:`. The OpenAI parser checks tool_choice against the client's
// own tools only; a client of a model with keel's tools may also name one of those (or say
// "required" with no tools of its own). This takes such a choice out of a chat body, so that the
// parser takes the rest, and returns it; run_tool_loop then checks it against the tools it
// offers. Pure (no I/O): fuzzed by fuzz/server_tool_choice_fuzz.cpp.
//
//   std::string body = R"({"model":"agent","messages":[...],"tool_choice":"required"})";
//   auto choice = take_server_tool_choice(body);   // kRequired; body without tool_choice
#pragma once

#include <optional>
#include <string>

#include "api/chat.h"

namespace keel {

// nullopt (body untouched) for a body that is not a JSON object, has no tool_choice, or has one
// the parser judges itself (a mode string other than "required" with no client tools, a name
// among the client's tools, a malformed object).
std::optional<ToolChoice> take_server_tool_choice(std::string& body);

}  // namespace keel

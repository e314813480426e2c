// `kind: builtin`: tools keel implements itself. current_time, calculator
// (tools/builtin/calculator.h) and http_fetch (a page's text, through the egress guard).
#pragma once

#include <memory>

#include "tools/tool.h"

namespace keel {

std::unique_ptr<Toolset> make_builtin_toolset(const ToolsetConfig& config);

// A page's readable text: scripts, styles and tags dropped, entities decoded, whitespace folded.
std::string html_to_text(std::string_view html);

}  // namespace keel

// Random identifiers for requests, completions and tool calls.
//
//   std::string id = new_id("chatcmpl-");   // "chatcmpl-5f0c9a..." (24 hex digits)
#pragma once

#include <string>
#include <string_view>

namespace keel {

std::string new_id(std::string_view prefix);

}  // namespace keel

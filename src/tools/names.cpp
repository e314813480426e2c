// tool_name_for_models (tools/toolbox.h), apart so that the OpenAPI importer's fuzz target links
// it without the rest of the toolbox.
#include <cctype>

#include "tools/toolbox.h"

namespace keel {

std::string tool_name_for_models(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

}  // namespace keel

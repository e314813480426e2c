#include "tools/tool_choice.h"

#include <set>

#include "api/json_util.h"

namespace keel {

std::optional<ToolChoice> take_server_tool_choice(std::string& body) {
  std::optional<Json> parsed = try_parse_json(body);  // depth-checked, no exceptions
  if (!parsed || !parsed->is_object()) return std::nullopt;
  Json& json = *parsed;
  const auto wire = json.find("tool_choice");
  if (wire == json.end()) return std::nullopt;
  std::set<std::string> client_tools;
  if (const auto tools = json.find("tools"); tools != json.end() && tools->is_array()) {
    for (const auto& tool : *tools) {
      if (!tool.is_object()) continue;
      const auto function = tool.find("function");
      if (function == tool.end() || !function->is_object()) continue;
      const auto name = function->find("name");
      if (name != function->end() && name->is_string())
        client_tools.insert(name->get<std::string>());
    }
  }
  ToolChoice choice;
  if (*wire == "required" && client_tools.empty()) {
    choice.mode = ToolChoice::Mode::kRequired;
  } else if (wire->is_object()) {
    const auto type = wire->find("type");
    const auto function = wire->find("function");
    if (type == wire->end() || *type != "function" || function == wire->end() ||
        !function->is_object()) {
      return std::nullopt;
    }
    const auto name = function->find("name");
    if (name == function->end() || !name->is_string()) return std::nullopt;
    choice.mode = ToolChoice::Mode::kNamed;
    choice.name = name->get<std::string>();
    if (client_tools.count(choice.name)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  json.erase(wire);
  body = json.dump(-1, ' ', false, Json::error_handler_t::replace);
  return choice;
}

}  // namespace keel

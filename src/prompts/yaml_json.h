// YAML nodes as JSON values, for the readers of Prompt flow's and prompty's YAML.
#pragma once

#include <yaml-cpp/yaml.h>

#include "api/chat.h"

namespace keel {

// A scalar by YAML 1.2's core schema: null, true/false, integers and floats when plain, else
// a string (a quoted scalar is always a string).
Json yaml_scalar(const YAML::Node& node);

// A whole tree (maps keep their order); nesting deeper than 64 levels is cut to null.
Json yaml_to_json(const YAML::Node& node, int depth = 0);

}  // namespace keel

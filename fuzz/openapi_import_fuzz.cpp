// The OpenAPI importer (tools/openapi/openapi.h) over arbitrary JSON, as `spec:` files and URLs
// give it: import_openapi on the parsed document, every operation.
//
// Invariants beyond "no crash, no UB, no leak, no unbounded recursion or growth":
//  - every tool name fits every vendor's rules ([A-Za-z0-9_-], 1 to 64) and is unique;
//  - every tool's parameters are an object schema;
//  - importing twice gives the same tools;
//  - each preset's selection is a subset of the operations, under the preset's names.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

#include "api/json_util.h"
#include "fuzz_check.h"
#include "tools/openapi/openapi.h"
#include "tools/openapi/presets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto spec = keel::try_parse_json(input);
  if (!spec) return 0;
  auto first = keel::import_openapi(*spec, {});
  auto second = keel::import_openapi(*spec, {});
  FUZZ_CHECK(first.ok() == second.ok(), "the same spec imported differently");
  if (!first) return 0;
  FUZZ_CHECK(first->size() == second->size(), "the same spec gave a different number of tools");
  std::set<std::string> names;
  for (const auto& op : *first) {
    FUZZ_CHECK(!op.name.empty() && op.name.size() <= 64, "tool name length");
    for (char c : op.name) {
      FUZZ_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-',
                 "tool name character");
    }
    FUZZ_CHECK(names.insert(op.name).second, "duplicate tool name");
    FUZZ_CHECK(op.spec.parameters.is_object() && op.spec.parameters["type"] == "object",
               "parameters are not an object schema");
  }
  for (const char* name : keel::kOpenApiPresetNames) {
    const keel::OpenApiPreset* preset = keel::find_openapi_preset(name);
    FUZZ_CHECK(preset != nullptr, "a preset named in config.h has no data");
    auto selection = keel::select_preset_operations(*preset, *first);
    if (!selection) continue;
    FUZZ_CHECK(!selection->operations.empty(), "a selection without operations");
    FUZZ_CHECK(selection->operations.size() <= preset->operations.size(), "more than the preset");
    for (const auto& op : selection->operations) {
      FUZZ_CHECK(op.name.starts_with(name), "a preset tool not named by its preset");
    }
  }
  return 0;
}

// The official SDK's strict-schema transformation (lib/transform-json-schema.js), for strict
// tools and structured outputs toward Anthropic (anthropic_strict_schema in anthropic.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <set>
#include <utility>

#include "api/anthropic/anthropic.h"
#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"

namespace keel {

namespace {

bool is_primitive(const Json& value) { return !value.is_object() && !value.is_array(); }

bool supported_string_format(const Json& format) {
  static const std::set<std::string, std::less<>> kFormats = {
      "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"};
  return format.is_string() && kFormats.count(str(format)) > 0;
}

// Removes and returns `schema[key]` (a null Json when absent).
Json pop(Json& schema, const char* key) {
  auto it = schema.find(key);
  if (it == schema.end()) return Json();
  Json value = std::move(*it);
  schema.erase(it);
  return value;
}

Result<Json> strict_schema(Json schema, int depth) {
  if (depth > kMaxJsonDepth) return Error(ErrorCode::kInvalidArgument, "schema nests too deep");
  if (!schema.is_object()) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("a schema must be an object, got ") + describe(schema));
  }
  Json strict = Json::object();
  // $defs first, so that a root $ref keeps its (transformed) definitions.
  if (schema.contains("$defs")) {
    Json defs = pop(schema, "$defs");
    Json strict_defs = Json::object();
    if (defs.is_object()) {
      for (auto& [name, def] : defs.items()) {
        auto transformed = strict_schema(def, depth + 1);
        if (!transformed) return transformed.error();
        append_member(strict_defs, name, std::move(*transformed));  // keys are unique
      }
    }
    strict["$defs"] = std::move(strict_defs);
  }
  if (schema.contains("$ref")) {
    strict["$ref"] = pop(schema, "$ref");
    return strict;
  }
  if (auto it = schema.find("enum"); it != schema.end() && it->is_array() && !it->empty() &&
                                     std::all_of(it->begin(), it->end(), is_primitive)) {
    strict["enum"] = pop(schema, "enum");
  }
  if (auto it = schema.find("const"); it != schema.end() && is_primitive(*it)) {
    strict["const"] = pop(schema, "const");
  }
  const bool has_literals = strict.contains("enum") || strict.contains("const");
  const bool has_type = schema.contains("type");
  Json declared_type = pop(schema, "type");
  Json any_of = pop(schema, "anyOf");
  Json one_of = pop(schema, "oneOf");
  Json all_of = pop(schema, "allOf");
  pop(schema, "$schema");
  auto transform_each = [&](const Json& variants, const char* key) -> Status {
    Json out = Json::array();
    for (const auto& variant : variants) {
      auto transformed = strict_schema(variant, depth + 1);
      if (!transformed) return transformed.error();
      out.push_back(std::move(*transformed));
    }
    strict[key] = std::move(out);
    return Status::Ok();
  };
  if (any_of.is_array()) {
    if (auto st = transform_each(any_of, "anyOf"); !st.ok()) return st.error();
  } else if (one_of.is_array()) {
    if (auto st = transform_each(one_of, "anyOf"); !st.ok()) return st.error();
  } else if (all_of.is_array()) {
    if (auto st = transform_each(all_of, "allOf"); !st.ok()) return st.error();
  } else if (!has_literals) {
    if (!has_type) {
      return Error(ErrorCode::kInvalidArgument,
                   "JSON schema must have a type defined if anyOf/oneOf/allOf/enum/const are "
                   "not used");
    }
    strict["type"] = declared_type;
  }
  const Json type = has_literals ? Json() : declared_type;
  // The description keeps its place even when only the hint below makes one, so that keel's own
  // output, translated again, comes out the same (the fuzzer's fixed point): a null placeholder,
  // dropped at the end when nothing fills it.
  const bool had_description = schema.contains("description");
  strict["description"] = had_description ? pop(schema, "description") : Json();
  if (schema.contains("title")) strict["title"] = pop(schema, "title");
  if (type == "object") {
    Json properties = pop(schema, "properties");
    if (!properties.is_null() && !properties.is_object()) {
      return Error(ErrorCode::kInvalidArgument, "properties must be an object");
    }
    Json strict_properties = Json::object();
    if (properties.is_object()) {
      for (auto& [key, property] : properties.items()) {
        auto transformed = strict_schema(property, depth + 1);
        if (!transformed) return transformed.error();
        append_member(strict_properties, key, std::move(*transformed));  // keys are unique
      }
    }
    strict["properties"] = std::move(strict_properties);
    pop(schema, "additionalProperties");
    strict["additionalProperties"] = false;
    if (schema.contains("required")) strict["required"] = pop(schema, "required");
  } else if (type == "string") {
    if (schema.contains("format")) {
      Json format = pop(schema, "format");
      if (supported_string_format(format)) {
        strict["format"] = std::move(format);
      } else {
        schema["format"] = std::move(format);
      }
    }
  } else if (type == "array") {
    if (schema.contains("items")) {
      auto items = strict_schema(pop(schema, "items"), depth + 1);
      if (!items) return items.error();
      strict["items"] = std::move(*items);
    }
    if (schema.contains("minItems")) {
      Json min_items = pop(schema, "minItems");
      if (min_items == Json(0) || min_items == Json(1)) {
        strict["minItems"] = std::move(min_items);
      } else {
        schema["minItems"] = std::move(min_items);
      }
    }
  }
  if (!schema.empty()) {  // what Anthropic does not enforce becomes a hint in the description
    std::string hint = "{";
    bool first = true;
    for (const auto& [key, value] : schema.items()) {
      if (!first) hint += ", ";
      first = false;
      hint += key + ": " + value.dump();
    }
    hint += "}";
    std::string description = strict.contains("description") && strict["description"].is_string()
                                  ? str(strict["description"]) + "\n\n"
                                  : std::string();
    strict["description"] = description + hint;
  } else if (!had_description) {
    strict.erase("description");
  }
  return strict;
}

}  // namespace

Result<Json> anthropic_strict_schema(const Json& schema) {
  try {
    return strict_schema(schema, 0);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("invalid schema: ") + e.what());
  }
}

}  // namespace keel

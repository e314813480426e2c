// A small JSON Schema checker for OpenAI's published OpenAPI schemas
// (../shared/specs/openai-openapi.yaml), shared by the golden tests of the OpenAI wire formats
// (openai_golden_test.cpp, responses_test.cpp).
//
//   const SchemaChecker* schemas = openai_schemas();     // nullptr when the spec is absent
//   if (schemas) EXPECT_SCHEMA(schemas, body, "Response");
#pragma once

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "api/chat.h"

namespace keel {
namespace {

const std::filesystem::path kSpecPath =
    std::filesystem::path(KEEL_SOURCE_DIR) / ".." / "shared" / "specs" / "openai-openapi.yaml";

// ---- a small JSON Schema (2020-12 / OpenAPI 3.1 subset) checker ------------------------------
// Enough of the vocabulary for OpenAI's response schemas: $ref, allOf/anyOf/oneOf, type,
// nullable, enum, const, required, properties, additionalProperties, items, min/maxItems,
// minimum/maximum. Formats and patterns are not checked.

Json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& item : node) out[item.first.as<std::string>()] = yaml_to_json(item.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") return text;  // quoted: always a string
      if (text == "true") return true;
      if (text == "false") return false;
      if (text == "null" || text == "~") return nullptr;
      Json number = Json::parse(text, nullptr, false);
      if (!number.is_discarded() && number.is_number()) return number;
      return text;
    }
    default:
      return nullptr;
  }
}

class SchemaChecker {
 public:
  explicit SchemaChecker(Json schemas) : schemas_(std::move(schemas)) {}

  // Empty when `value` matches the named component schema, else the first problems found.
  std::vector<std::string> check(const Json& value, const std::string& schema_name) const {
    std::vector<std::string> problems;
    validate(value, {{"$ref", "#/components/schemas/" + schema_name}}, "$", problems);
    return problems;
  }

 private:
  static bool has_type(const Json& value, const std::string& type) {
    if (type == "null") return value.is_null();
    if (type == "object") return value.is_object();
    if (type == "array") return value.is_array();
    if (type == "string") return value.is_string();
    if (type == "boolean") return value.is_boolean();
    if (type == "integer") {
      return value.is_number_integer() ||
             (value.is_number_float() && value.get<double>() == std::trunc(value.get<double>()));
    }
    if (type == "number") return value.is_number();
    return false;
  }

  bool matches(const Json& value, const Json& schema) const {
    std::vector<std::string> problems;
    validate(value, schema, "$", problems);
    return problems.empty();
  }

  void validate(const Json& value, const Json& schema, const std::string& path,
                std::vector<std::string>& problems) const {
    if (!schema.is_object()) return;
    if (value.is_null() && schema.value("nullable", false)) return;
    if (auto ref = schema.find("$ref"); ref != schema.end()) {
      const std::string prefix = "#/components/schemas/";
      std::string target = ref->get<std::string>();
      if (target.rfind(prefix, 0) != 0 || !schemas_.contains(target.substr(prefix.size()))) {
        problems.push_back(path + ": unresolvable $ref " + target);
        return;
      }
      validate(value, schemas_.at(target.substr(prefix.size())), path, problems);
    }
    if (auto all = schema.find("allOf"); all != schema.end()) {
      for (const auto& sub : *all) validate(value, sub, path, problems);
    }
    if (auto any = schema.find("anyOf"); any != schema.end()) {
      bool ok = std::any_of(any->begin(), any->end(),
                            [&](const Json& sub) { return matches(value, sub); });
      if (!ok) problems.push_back(path + ": matches none of anyOf");
    }
    if (auto one = schema.find("oneOf"); one != schema.end()) {
      auto count = std::count_if(one->begin(), one->end(),
                                 [&](const Json& sub) { return matches(value, sub); });
      if (count != 1) {
        problems.push_back(path + ": matches " + std::to_string(count) + " of oneOf (want 1)");
      }
    }
    if (auto type = schema.find("type"); type != schema.end()) {
      bool ok = false;
      if (type->is_string()) ok = has_type(value, type->get<std::string>());
      if (type->is_array()) {
        for (const auto& t : *type) ok = ok || has_type(value, t.get<std::string>());
      }
      if (!ok) {
        problems.push_back(path + ": expected type " + type->dump() + ", got " + value.dump());
        return;
      }
    }
    if (auto options = schema.find("enum"); options != schema.end()) {
      if (std::find(options->begin(), options->end(), value) == options->end()) {
        problems.push_back(path + ": " + value.dump() + " is not in enum " + options->dump());
      }
    }
    if (auto constant = schema.find("const"); constant != schema.end() && *constant != value) {
      problems.push_back(path + ": expected const " + constant->dump());
    }
    if (value.is_number()) {
      if (auto min = schema.find("minimum");
          min != schema.end() && min->is_number() && value.get<double>() < min->get<double>()) {
        problems.push_back(path + ": below minimum");
      }
      if (auto max = schema.find("maximum");
          max != schema.end() && max->is_number() && value.get<double>() > max->get<double>()) {
        problems.push_back(path + ": above maximum");
      }
    }
    if (value.is_object()) {
      if (auto required = schema.find("required"); required != schema.end()) {
        for (const auto& key : *required) {
          if (!value.contains(key.get<std::string>())) {
            problems.push_back(path + ": missing required " + key.get<std::string>());
          }
        }
      }
      const Json* properties = nullptr;
      if (auto it = schema.find("properties"); it != schema.end()) properties = &*it;
      auto additional = schema.find("additionalProperties");
      for (const auto& [key, member] : value.items()) {
        if (properties && properties->contains(key)) {
          validate(member, properties->at(key), path + "." + key, problems);
        } else if (additional != schema.end()) {
          if (additional->is_boolean() && !additional->get<bool>()) {
            problems.push_back(path + ": unexpected property " + key);
          } else if (additional->is_object()) {
            validate(member, *additional, path + "." + key, problems);
          }
        }
      }
    }
    if (value.is_array()) {
      if (auto min = schema.find("minItems"); min != schema.end() && value.size() < *min) {
        problems.push_back(path + ": fewer than minItems");
      }
      if (auto max = schema.find("maxItems"); max != schema.end() && value.size() > *max) {
        problems.push_back(path + ": more than maxItems");
      }
      if (auto items = schema.find("items"); items != schema.end()) {
        for (size_t i = 0; i < value.size(); ++i) {
          validate(value[i], *items, path + "[" + std::to_string(i) + "]", problems);
        }
      }
    }
  }

  Json schemas_;
};

// Loaded once per process; nullptr when the spec is absent (the schema checks then skip).
const SchemaChecker* openai_schemas() {
  static const SchemaChecker* checker = []() -> const SchemaChecker* {
    if (!std::filesystem::exists(kSpecPath)) return nullptr;
    YAML::Node spec = YAML::LoadFile(kSpecPath.string());
    return new SchemaChecker(yaml_to_json(spec["components"]["schemas"]));
  }();
  return checker;
}

#define EXPECT_SCHEMA(checker, value, schema_name)                              \
  do {                                                                          \
    auto problems = (checker)->check((value), (schema_name));                   \
    EXPECT_TRUE(problems.empty()) << schema_name << ": " << problems.front()    \
                                  << (problems.size() > 1 ? " (and more)" : "") \
                                  << "\nvalue: " << (value).dump();             \
  } while (false)

}  // namespace
}  // namespace keel

#include "tools/schema.h"

#include <cmath>
#include <set>

#include "api/json_util.h"

namespace keel {

namespace {

constexpr int kMaxDepth = 64;  // $ref chains and nesting: a recursive schema ends here

bool has_type(const Json& value, const std::string& type) {
  if (type == "number") return value.is_number();
  if (type == "integer") {
    if (value.is_number_integer()) return true;
    if (!value.is_number_float()) return false;
    const double d = value.get<double>();
    return std::isfinite(d) && std::floor(d) == d;
  }
  if (type == "null") return value.is_null();
  if (type == "boolean") return value.is_boolean();
  if (type == "string") return value.is_string();
  if (type == "array") return value.is_array();
  if (type == "object") return value.is_object();
  return false;
}

size_t code_points(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) count += (c & 0xc0) != 0x80;
  return count;
}

class Validator {
 public:
  explicit Validator(const Json& root) : root_(root) {}

  // An empty string when `value` passes; else the first failure.
  std::string check(const Json& schema, const Json& value, const std::string& path, int depth) {
    if (depth > kMaxDepth) return path + ": schema nested too deeply";
    if (schema.is_boolean()) return schema.get<bool>() ? "" : path + ": not allowed";
    if (!schema.is_object()) return "";
    if (auto ref = schema.find("$ref"); ref != schema.end() && ref->is_string()) {
      const Json* target = resolve(ref->get<std::string>());
      if (target == nullptr) return path + ": unresolvable $ref " + ref->get<std::string>();
      if (auto failure = check(*target, value, path, depth + 1); !failure.empty()) return failure;
    }
    if (auto type = schema.find("type"); type != schema.end()) {
      bool matched = false;
      std::string wanted;
      const auto consider = [&](const Json& entry) {
        if (!entry.is_string()) return;
        wanted += (wanted.empty() ? "" : " or ") + entry.get<std::string>();
        matched = matched || has_type(value, entry.get<std::string>());
      };
      if (type->is_array()) {
        for (const auto& entry : *type) consider(entry);
      } else {
        consider(*type);
      }
      if (!matched && !wanted.empty()) {
        return path + ": expected " + article(wanted) + ", got " + describe(value);
      }
    }
    if (auto options = schema.find("enum"); options != schema.end() && options->is_array()) {
      if (std::find(options->begin(), options->end(), value) == options->end()) {
        return path + ": must be one of " + options->dump();
      }
    }
    if (auto constant = schema.find("const"); constant != schema.end() && *constant != value) {
      return path + ": must be " + constant->dump();
    }
    if (value.is_number()) {
      if (auto failure = check_number(schema, value.get<double>(), path); !failure.empty()) {
        return failure;
      }
    }
    if (value.is_string()) {
      const size_t length = code_points(value.get_ref<const std::string&>());
      if (auto min = bound(schema, "minLength"); min && length < *min) {
        return path + ": shorter than " + std::to_string(*min) + " characters";
      }
      if (auto max = bound(schema, "maxLength"); max && length > *max) {
        return path + ": longer than " + std::to_string(*max) + " characters";
      }
    }
    if (value.is_array()) {
      if (auto failure = check_array(schema, value, path, depth); !failure.empty()) return failure;
    }
    if (value.is_object()) {
      if (auto failure = check_object(schema, value, path, depth); !failure.empty()) return failure;
    }
    return check_combinations(schema, value, path, depth);
  }

 private:
  static std::string article(const std::string& type) {
    const bool vowel = !type.empty() && std::string("aeiou").find(type[0]) != std::string::npos;
    return (vowel ? "an " : "a ") + type;
  }

  static std::optional<size_t> bound(const Json& schema, const char* key) {
    auto it = schema.find(key);
    if (it == schema.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<size_t>();
  }

  const Json* resolve(const std::string& ref) const { return local_ref(root_, ref); }

  static std::string check_number(const Json& schema, double number, const std::string& path) {
    // The bound as the schema wrote it ("10", not "10.0").
    const auto limit = [&](const char* key) -> const Json* {
      auto it = schema.find(key);
      return it == schema.end() || !it->is_number() ? nullptr : &*it;
    };
    if (const Json* min = limit("minimum"); min && number < min->get<double>()) {
      return path + ": less than " + min->dump();
    }
    if (const Json* max = limit("maximum"); max && number > max->get<double>()) {
      return path + ": more than " + max->dump();
    }
    if (const Json* min = limit("exclusiveMinimum"); min && number <= min->get<double>()) {
      return path + ": must be more than " + min->dump();
    }
    if (const Json* max = limit("exclusiveMaximum"); max && number >= max->get<double>()) {
      return path + ": must be less than " + max->dump();
    }
    if (const Json* step = limit("multipleOf"); step && step->get<double>() > 0) {
      const double quotient = number / step->get<double>();
      if (std::fabs(quotient - std::round(quotient)) > 1e-9) {
        return path + ": not a multiple of " + step->dump();
      }
    }
    return "";
  }

  std::string check_array(const Json& schema, const Json& value, const std::string& path,
                          int depth) {
    if (auto min = bound(schema, "minItems"); min && value.size() < *min) {
      return path + ": fewer than " + std::to_string(*min) + " items";
    }
    if (auto max = bound(schema, "maxItems"); max && value.size() > *max) {
      return path + ": more than " + std::to_string(*max) + " items";
    }
    if (auto unique = schema.find("uniqueItems");
        unique != schema.end() && unique->is_boolean() && unique->get<bool>()) {
      std::set<std::string> seen;
      for (const auto& item : value) {
        if (!seen.insert(item.dump()).second) return path + ": items are not unique";
      }
    }
    size_t first = 0;
    if (auto prefix = schema.find("prefixItems"); prefix != schema.end() && prefix->is_array()) {
      for (; first < prefix->size() && first < value.size(); ++first) {
        auto failure = check((*prefix)[first], value[first],
                             path + "[" + std::to_string(first) + "]", depth + 1);
        if (!failure.empty()) return failure;
      }
    }
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = first; i < value.size(); ++i) {
        auto failure = check(*items, value[i], path + "[" + std::to_string(i) + "]", depth + 1);
        if (!failure.empty()) return failure;
      }
    }
    return "";
  }

  std::string check_object(const Json& schema, const Json& value, const std::string& path,
                           int depth) {
    if (auto required = schema.find("required"); required != schema.end() && required->is_array()) {
      for (const auto& name : *required) {
        if (name.is_string() && !value.contains(name.get<std::string>())) {
          return path + ": missing required property \"" + name.get<std::string>() + "\"";
        }
      }
    }
    if (auto min = bound(schema, "minProperties"); min && value.size() < *min) {
      return path + ": fewer than " + std::to_string(*min) + " properties";
    }
    if (auto max = bound(schema, "maxProperties"); max && value.size() > *max) {
      return path + ": more than " + std::to_string(*max) + " properties";
    }
    const auto properties = schema.find("properties");
    const bool has_properties = properties != schema.end() && properties->is_object();
    const auto additional = schema.find("additionalProperties");
    for (const auto& [name, member] : value.items()) {
      const std::string member_path = path + "." + name;
      if (has_properties && properties->contains(name)) {
        auto failure = check((*properties)[name], member, member_path, depth + 1);
        if (!failure.empty()) return failure;
      } else if (additional != schema.end()) {
        if (additional->is_boolean() && !additional->get<bool>()) {
          return member_path + ": unknown property";
        }
        auto failure = check(*additional, member, member_path, depth + 1);
        if (!failure.empty()) return failure;
      }
    }
    return "";
  }

  std::string check_combinations(const Json& schema, const Json& value, const std::string& path,
                                 int depth) {
    if (auto all = schema.find("allOf"); all != schema.end() && all->is_array()) {
      for (const auto& sub : *all) {
        if (auto failure = check(sub, value, path, depth + 1); !failure.empty()) return failure;
      }
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      auto options = schema.find(key);
      if (options == schema.end() || !options->is_array() || options->empty()) continue;
      size_t passed = 0;
      std::string first_failure;
      for (const auto& sub : *options) {
        auto failure = check(sub, value, path, depth + 1);
        if (failure.empty()) {
          ++passed;
        } else if (first_failure.empty()) {
          first_failure = failure;
        }
      }
      if (passed == 0) return path + ": matches none of " + key + " (" + first_failure + ")";
      if (std::string(key) == "oneOf" && passed > 1) {
        return path + ": matches more than one of oneOf";
      }
    }
    if (auto negated = schema.find("not"); negated != schema.end()) {
      if (check(*negated, value, path, depth + 1).empty()) return path + ": matches \"not\"";
    }
    return "";
  }

  const Json& root_;
};

}  // namespace

Status validate_json_schema(const Json& schema, const Json& value) {
  std::string failure = Validator(schema).check(schema, value, "arguments", 0);
  if (failure.empty()) return Status::Ok();
  return Status(ErrorCode::kInvalidArgument, std::move(failure));
}

}  // namespace keel

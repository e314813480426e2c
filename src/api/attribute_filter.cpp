#include "api/attribute_filter.h"

#include <algorithm>

namespace keel {
namespace {

constexpr int kMaxDepth = 8;
constexpr size_t kMaxAttributes = 16;
constexpr size_t kMaxKeyBytes = 64;
constexpr size_t kMaxStringBytes = 512;

bool is_scalar(const Json& value) {
  return value.is_string() || value.is_number() || value.is_boolean();
}

// -1, 0 or 1 when `a` and `b` are two numbers or two strings; nullopt otherwise.
std::optional<int> order(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return std::nullopt;
}

bool same(const Json& a, const Json& b) {
  if (a.is_boolean() || b.is_boolean()) return a.is_boolean() && b.is_boolean() && a == b;
  return order(a, b) == 0;
}

Result<AttributeFilter> parse(const Json& json, const std::string& param, int depth) {
  if (!json.is_object()) return wrong_type(param, "a filter object", json);
  const Json* type = member(json, "type");
  if (type == nullptr || !type->is_string()) {
    return invalid(param + ".type",
                   "a filter needs a 'type': eq, ne, gt, gte, lt, lte, in, nin, "
                   "and or or");
  }
  AttributeFilter filter;
  filter.type = type->get<std::string>();
  if (filter.type == "and" || filter.type == "or") {
    if (depth >= kMaxDepth) {
      return invalid(param, "compound filters nest at most " + std::to_string(kMaxDepth) + " deep");
    }
    const Json* filters = member(json, "filters");
    if (filters == nullptr || !filters->is_array() || filters->empty()) {
      return invalid(param + ".filters", "a compound filter needs a non-empty 'filters' array");
    }
    for (size_t i = 0; i < filters->size(); ++i) {
      auto inner = parse((*filters)[i], indexed(param + ".filters", i), depth + 1);
      if (!inner) return inner.error();
      filter.filters.push_back(std::move(*inner));
    }
    return filter;
  }
  static const std::vector<std::string> kComparisons = {"eq", "ne",  "gt", "gte",
                                                        "lt", "lte", "in", "nin"};
  if (std::find(kComparisons.begin(), kComparisons.end(), filter.type) == kComparisons.end()) {
    return invalid(param + ".type", "unknown filter type " + echo(filter.type) +
                                        ": eq, ne, gt, gte, lt, lte, in, nin, and or or");
  }
  const Json* key = member(json, "key");
  if (key == nullptr || !key->is_string()) {
    return invalid(param + ".key", "a comparison filter needs a 'key' string");
  }
  filter.key = key->get<std::string>();
  const Json* value = member(json, "value");
  if (value == nullptr) return invalid(param + ".value", "a comparison filter needs a 'value'");
  const bool list = filter.type == "in" || filter.type == "nin";
  if (list) {
    if (!value->is_array() || !std::all_of(value->begin(), value->end(), [](const Json& v) {
          return v.is_string() || v.is_number();
        })) {
      return invalid(param + ".value",
                     "'" + filter.type + "' needs an array of strings and numbers as its value");
    }
  } else if (!is_scalar(*value)) {
    return wrong_type(param + ".value", "a string, number or boolean", *value);
  }
  filter.value = *value;
  return filter;
}

}  // namespace

bool AttributeFilter::matches(const Json& attributes) const {
  if (type == "and") {
    return std::all_of(filters.begin(), filters.end(),
                       [&](const AttributeFilter& f) { return f.matches(attributes); });
  }
  if (type == "or") {
    return std::any_of(filters.begin(), filters.end(),
                       [&](const AttributeFilter& f) { return f.matches(attributes); });
  }
  const Json* attribute = attributes.is_object() ? member(attributes, key.c_str()) : nullptr;
  if (type == "in" || type == "nin") {
    const bool found =
        attribute != nullptr &&
        std::any_of(value.begin(), value.end(), [&](const Json& v) { return same(*attribute, v); });
    return type == "in" ? found : !found;
  }
  if (type == "eq" || type == "ne") {
    const bool equal = attribute != nullptr && same(*attribute, value);
    return type == "eq" ? equal : !equal;
  }
  const std::optional<int> c = attribute ? order(*attribute, value) : std::nullopt;
  if (!c) return false;
  if (type == "gt") return *c > 0;
  if (type == "gte") return *c >= 0;
  if (type == "lt") return *c < 0;
  return *c <= 0;  // lte
}

Result<AttributeFilter> parse_attribute_filter(const Json& json, const std::string& param) {
  return parse(json, param, 0);
}

Result<Json> parse_attributes(const Json& json, const std::string& param) {
  if (json.is_null()) return Json::object();
  if (!json.is_object()) return wrong_type(param, "an object", json);
  if (json.size() > kMaxAttributes) {
    return invalid(param, "at most " + std::to_string(kMaxAttributes) + " attributes");
  }
  for (const auto& [key, value] : json.items()) {
    if (key.size() > kMaxKeyBytes) {
      return invalid(param, "attribute keys are at most 64 characters: " + echo(key));
    }
    if (!is_scalar(value)) {
      return wrong_type(param + "." + key, "a string, number or boolean", value);
    }
    if (value.is_string() && value.get_ref<const std::string&>().size() > kMaxStringBytes) {
      return invalid(param + "." + key, "attribute values are at most 512 characters");
    }
  }
  return json;
}

}  // namespace keel

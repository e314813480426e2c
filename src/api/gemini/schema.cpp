// JSON Schema -> Gemini Schema (json_schema_to_gemini in gemini.h). Client schemas are
// untrusted: inlining is bounded in depth and size, and nothing throws out.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <set>
#include <unordered_set>
#include <utility>

#include "api/gemini/gemini.h"
#include "api/gemini/internal.h"
#include "api/json_util.h"

namespace keel {

using namespace gemini_internal;

namespace {

constexpr int kMaxSchemaDepth = 64;  // nesting of the converted schema, $ref inlined

constexpr size_t kMaxSchemaNodes = 5000;  // bounds $ref fan-out (A -> 2xB -> 4xC ...)

constexpr size_t kMaxHintValueBytes = 200;

// Keywords Gemini's Schema has and keel copies as they are (after checking their type).
const std::set<std::string, std::less<>>& copied_keywords() {
  static const std::set<std::string, std::less<>> kCopied = {
      "title",         "description", "default",  "example",         "pattern",
      "minLength",     "maxLength",   "minItems", "maxItems",        "minProperties",
      "maxProperties", "minimum",     "maximum",  "propertyOrdering"};
  return kCopied;
}

// Keywords that constrain values but that Gemini's Schema cannot express: removed, and written
// into the description so the model still sees them.
const std::set<std::string, std::less<>>& hinted_keywords() {
  static const std::set<std::string, std::less<>> kHinted = {"exclusiveMinimum",
                                                             "exclusiveMaximum",
                                                             "multipleOf",
                                                             "uniqueItems",
                                                             "contains",
                                                             "minContains",
                                                             "maxContains",
                                                             "prefixItems",
                                                             "additionalItems",
                                                             "patternProperties",
                                                             "propertyNames",
                                                             "dependentRequired",
                                                             "dependentSchemas",
                                                             "dependencies",
                                                             "not",
                                                             "if",
                                                             "then",
                                                             "else"};
  return kHinted;
}

// Annotation keywords whose value, in allOf merges, is taken from the first schema that has it
// rather than required to agree.
bool is_annotation(const std::string& key) {
  static const std::set<std::string, std::less<>> kAnnotations = {
      "title",      "description", "default",   "examples", "example", "$comment",
      "deprecated", "readOnly",    "writeOnly", "$id",      "$schema", "$anchor"};
  return kAnnotations.count(key) > 0;
}

// Per-type keywords, for splitting {"type": ["string", "integer"], ...} into anyOf branches.
const char* keyword_type(const std::string& key) {
  static const std::map<std::string, const char*, std::less<>> kOwner = {
      {"properties", "object"},
      {"required", "object"},
      {"minProperties", "object"},
      {"maxProperties", "object"},
      {"additionalProperties", "object"},
      {"patternProperties", "object"},
      {"propertyNames", "object"},
      {"propertyOrdering", "object"},
      {"dependentRequired", "object"},
      {"dependentSchemas", "object"},
      {"unevaluatedProperties", "object"},
      {"items", "array"},
      {"prefixItems", "array"},
      {"minItems", "array"},
      {"maxItems", "array"},
      {"uniqueItems", "array"},
      {"contains", "array"},
      {"minContains", "array"},
      {"maxContains", "array"},
      {"unevaluatedItems", "array"},
      {"minLength", "string"},
      {"maxLength", "string"},
      {"pattern", "string"},
      {"minimum", "number"},
      {"maximum", "number"},
      {"exclusiveMinimum", "number"},
      {"exclusiveMaximum", "number"},
      {"multipleOf", "number"}};
  auto it = kOwner.find(key);
  return it == kOwner.end() ? nullptr : it->second;
}

bool belongs_to_type(const std::string& key, const std::string& type) {
  const char* owner = keyword_type(key);
  if (!owner) return false;
  if (std::string_view(owner) == "number") return type == "number" || type == "integer";
  return type == owner;
}

std::optional<std::string> gemini_type(const std::string& json_type) {
  if (json_type == "string") return "STRING";
  if (json_type == "number") return "NUMBER";
  if (json_type == "integer") return "INTEGER";
  if (json_type == "boolean") return "BOOLEAN";
  if (json_type == "array") return "ARRAY";
  if (json_type == "object") return "OBJECT";
  return std::nullopt;
}

// Formats Gemini accepts, per type; any other format is described instead.
bool format_supported(const std::string& type, const std::string& format) {
  if (type == "STRING") return format == "enum" || format == "date-time";
  if (type == "NUMBER") return format == "float" || format == "double";
  if (type == "INTEGER") return format == "int32" || format == "int64";
  return false;
}

bool is_null_schema(const Json& schema) {
  if (!schema.is_object()) return false;
  const Json* type = member(schema, "type");
  if (type && type->is_string() && str(*type) == "null") return true;
  if (auto constant = schema.find("const"); constant != schema.end() && constant->is_null()) {
    return true;
  }
  const Json* options = member(schema, "enum");
  return options && options->is_array() && options->size() == 1 && (*options)[0].is_null();
}

std::string hint_value(const Json& value) {
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  return truncate_utf8(text, kMaxHintValueBytes);
}

class SchemaConverter {
 public:
  // The root counts as being expanded, so {"$ref": "#"} anywhere below it is recursion.
  explicit SchemaConverter(const Json& root) : root_(root), ref_stack_{"#"} {}

  Status convert(const Json& schema, const std::string& path, int depth, Json& out) {
    if (++nodes_ > kMaxSchemaNodes) {
      return invalid(path, path + " is too large once its $ref are inlined (more than " +
                               std::to_string(kMaxSchemaNodes) + " schemas) for " + kVendor);
    }
    if (depth > kMaxSchemaDepth) {
      return invalid(path, path + " nests deeper than " + std::to_string(kMaxSchemaDepth) +
                               " levels once its $ref are inlined, too deep for " + kVendor);
    }
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) {
        return unsupported(path, path + ": the schema 'false' (no value is valid)");
      }
      out = Json::object();  // 'true': anything
      return Status::Ok();
    }
    if (!schema.is_object()) return invalid(path, path + " must be a JSON Schema object");

    // 1. $ref and allOf -> one merged schema. The refs stay on the stack while the subtree
    //    converts, so a ref met again below is recursion.
    //    A schema with neither is used in place (no copy).
    size_t pushed_before = ref_stack_.size();
    Status status = Status::Ok();
    if (schema.contains("$ref") || schema.contains("allOf")) {
      Json node;
      status = resolve(schema, path, node);
      if (status.ok()) status = convert_resolved(node, path, depth, out);
    } else {
      status = convert_resolved(schema, path, depth, out);
    }
    ref_stack_.resize(pushed_before);
    return status;
  }

 private:
  // Follows $ref (sibling keywords override the target's) and merges allOf members into one
  // schema. Pushes each ref followed onto ref_stack_.
  Status resolve(const Json& schema, const std::string& path, Json& node) {
    node = schema;
    for (int hops = 0;; ++hops) {
      if (hops > kMaxSchemaDepth) return invalid(path, path + ": too many chained $ref");
      const Json* ref = member(node, "$ref");
      if (!ref) break;
      if (!ref->is_string()) return invalid(path + ".$ref", path + ".$ref must be a string");
      std::string name = str(*ref);
      if (std::find(ref_stack_.begin(), ref_stack_.end(), name) != ref_stack_.end()) {
        return unsupported(path + ".$ref", "the recursive $ref " + echo(name) + " at " + path +
                                               " (it cannot be inlined)");
      }
      const Json* target = lookup(name);
      if (!target) {
        return invalid(path + ".$ref", path + ".$ref " + echo(name) +
                                           " does not point into this schema (only local '#/...' "
                                           "references can be inlined for " +
                                           kVendor + ")");
      }
      ref_stack_.push_back(name);
      Json siblings = node;
      siblings.erase("$ref");
      if (target->is_boolean()) {
        if (!target->get<bool>()) return unsupported(path, path + ": the schema 'false'");
        node = std::move(siblings);
        continue;
      }
      if (!target->is_object())
        return invalid(path + ".$ref", path + ".$ref " + echo(name) + " is not a schema object");
      node = *target;
      assign_members(node, siblings);
    }
    if (const Json* all = member(node, "allOf")) {
      if (!all->is_array() || all->empty()) {
        return invalid(path + ".allOf", path + ".allOf must be a non-empty array");
      }
      Json members = *all;
      node.erase("allOf");
      for (size_t i = 0; i < members.size(); ++i) {
        std::string member_path = indexed(path + ".allOf", i);
        Json resolved_member;
        if (members[i].is_boolean() && members[i].get<bool>()) continue;
        if (!members[i].is_object()) {
          return invalid(member_path, member_path + " must be a JSON Schema object");
        }
        if (auto st = resolve(members[i], member_path, resolved_member); !st.ok()) return st;
        if (auto st = merge_all_of(resolved_member, member_path, node); !st.ok()) return st;
      }
    }
    return Status::Ok();
  }

  // Intersects `from` (an allOf member) into `into`: properties and required are unions; other
  // keywords must agree, except annotations, where the schema holding allOf wins.
  // Objects' members are found through MemberIndex: a client's schema may be large.
  Status merge_all_of(const Json& from, const std::string& path, Json& into) {
    MemberIndex keywords(into);
    for (const auto& [key, value] : from.items()) {
      if (key == "properties") {
        if (!value.is_object())
          return invalid(path + ".properties", path + ".properties must be an object");
        Json& properties = keywords["properties"];
        if (properties.is_null()) properties = Json::object();
        if (!properties.is_object()) return invalid(path, path + ": properties must be an object");
        MemberIndex known(properties);
        for (const auto& [name, property] : value.items()) {
          Json* existing = known.find(name);
          if (existing && !same_json(*existing, property)) {
            return unsupported(path, "allOf members that define property " + echo(name) +
                                         " differently (at " + path + ")");
          }
          known[name] = property;
        }
      } else if (key == "required") {
        if (!value.is_array())
          return invalid(path + ".required", path + ".required must be an array");
        Json& required = keywords["required"];
        if (required.is_null()) required = Json::array();
        if (!required.is_array()) return invalid(path, path + ": required must be an array");
        for (const auto& name : value) {
          if (std::find(required.begin(), required.end(), name) == required.end()) {
            required.push_back(name);
          }
        }
      } else if (Json* existing = keywords.find(key); !existing) {
        keywords[key] = value;
      } else if (!same_json(*existing, value) && !is_annotation(key)) {
        return unsupported(path,
                           "allOf members that disagree on " + echo(key) + " (at " + path + ")");
      }
    }
    return Status::Ok();
  }

  const Json* lookup(const std::string& ref) const {
    if (ref.empty() || ref[0] != '#') return nullptr;
    if (ref == "#") return &root_;
    try {
      Json::json_pointer pointer(ref.substr(1));
      if (!root_.contains(pointer)) return nullptr;
      return &root_.at(pointer);
    } catch (const std::exception&) {
      return nullptr;
    }
  }

  // `node` has no $ref or allOf left. Keywords handled here (nullable, const, anyOf, ...) are
  // not in copied_keywords() or hinted_keywords(), so the final loop drops them.
  Status convert_resolved(const Json& node, const std::string& path, int depth, Json& out) {
    out = Json::object();
    std::vector<std::string> hints;
    Json property_ordering;  // the properties' names in the schema's order, when it has several
    bool nullable = false;
    if (const Json* flag = member(node, "nullable")) {
      if (!flag->is_boolean())
        return invalid(path + ".nullable", path + ".nullable must be a boolean");
      nullable = flag->get<bool>();
    }

    // const -> enum of one.
    Json const_enum;
    const Json* options = member(node, "enum");
    if (auto it = node.find("const"); it != node.end()) {
      const_enum = Json::array({*it});
      options = &const_enum;
    }

    // type: ["x", "null"] -> type x + nullable; several types -> anyOf, one branch per type with
    // that type's keywords.
    const Json* json_type = member(node, "type");
    Json single_type;
    if (json_type && json_type->is_array()) {
      const Json* type = json_type;
      std::vector<std::string> types;
      for (const auto& t : *type) {
        if (!t.is_string()) return invalid(path + ".type", path + ".type must hold strings");
        if (str(t) == "null") {
          nullable = true;
        } else if (std::find(types.begin(), types.end(), str(t)) == types.end()) {
          types.push_back(str(t));
        }
      }
      if (types.empty()) {
        return unsupported(path + ".type", path + ": a schema whose only type is null");
      }
      if (types.size() == 1) {
        single_type = types.front();
        json_type = &single_type;
      } else {
        if (member(node, "anyOf") || member(node, "oneOf")) {
          return unsupported(path, path + ": a list of types together with anyOf/oneOf");
        }
        Json branches = Json::array();
        for (const auto& t : types) {
          Json branch = {{"type", t}};
          for (const auto& [key, value] : node.items()) {
            if (belongs_to_type(key, t)) append_member(branch, key, value);  // never "type"
          }
          if (options && options->is_array()) {
            Json kept = Json::array();
            for (const auto& option : *options) {
              if (value_has_type(option, t)) kept.push_back(option);
            }
            if (!kept.empty()) branch["enum"] = std::move(kept);
          }
          if (const Json* format = member(node, "format"); format && format_fits(*format, t)) {
            branch["format"] = *format;
          }
          branches.push_back(std::move(branch));
        }
        Json general = Json::object();
        for (const auto& [key, value] : node.items()) {
          if (key != "type" && key != "enum" && key != "const" && key != "format" &&
              key != "nullable" && !keyword_type(key)) {
            append_member(general, key, value);  // the node's keys are unique
          }
        }
        general["anyOf"] = std::move(branches);
        if (nullable) general["nullable"] = true;
        return convert_resolved(general, path, depth, out);
      }
    }

    // anyOf / oneOf: null branches -> nullable; one branch left -> inlined; else anyOf.
    const Json* any_of = member(node, "anyOf");
    const Json* one_of = member(node, "oneOf");
    if (any_of && one_of) return unsupported(path, path + ": anyOf together with oneOf");
    if (any_of || one_of) {
      const char* key = any_of ? "anyOf" : "oneOf";
      const Json& list = any_of ? *any_of : *one_of;
      std::string list_path = path + "." + key;
      if (!list.is_array() || list.empty()) {
        return invalid(list_path, list_path + " must be a non-empty array");
      }
      if (json_type) {
        return unsupported(path, path + ": type together with " + std::string(key));
      }
      std::vector<std::pair<const Json*, std::string>> branches;
      for (size_t i = 0; i < list.size(); ++i) {
        if (is_null_schema(list[i])) {
          nullable = true;
        } else {
          branches.emplace_back(&list[i], indexed(list_path, i));
        }
      }
      if (branches.empty()) {
        return unsupported(list_path, list_path + ": a schema whose only type is null");
      }
      if (branches.size() == 1) {
        if (auto st = convert(*branches[0].first, branches[0].second, depth + 1, out); !st.ok()) {
          return st;
        }
        if (out.value("nullable", false)) nullable = true;
      } else {
        Json converted = Json::array();
        for (const auto& [branch, branch_path] : branches) {
          Json item;
          if (auto st = convert(*branch, branch_path, depth + 1, item); !st.ok()) return st;
          converted.push_back(std::move(item));
        }
        out["anyOf"] = std::move(converted);
      }
    }

    // type.
    std::string type;
    if (json_type) {
      if (!json_type->is_string()) return invalid(path + ".type", path + ".type must be a string");
      if (str(*json_type) == "null") {
        return unsupported(path + ".type", path + ": a schema whose only type is null");
      }
      auto mapped = gemini_type(str(*json_type));
      if (!mapped) {
        return invalid(path + ".type",
                       path + ".type " + echo(str(*json_type)) + " is not a JSON Schema type");
      }
      type = *mapped;
    } else if (member(node, "properties")) {
      type = "OBJECT";
    } else if (member(node, "items")) {
      type = "ARRAY";
    }

    // enum.
    if (options) {
      if (auto st = convert_enum(*options, path + ".enum", type, nullable, hints, out); !st.ok()) {
        return st;
      }
    }
    if (!type.empty()) out["type"] = type;

    // properties, items.
    if (const Json* properties = member(node, "properties")) {
      if (!properties->is_object()) {
        return invalid(path + ".properties", path + ".properties must be an object");
      }
      Json converted = Json::object();
      for (const auto& [name, property] : properties->items()) {
        Json item;
        if (auto st = convert(property, path + ".properties." + name, depth + 1, item); !st.ok()) {
          return st;
        }
        append_member(converted, name, std::move(item));  // the schema's keys are unique
      }
      // Gemini answers with properties in alphabetical order unless propertyOrdering says
      // otherwise (ai.google.dev "Structured output"); the client's order is the schema's.
      if (converted.size() > 1 && !member(node, "propertyOrdering")) {
        Json ordering = Json::array();
        for (const auto& [name, property] : converted.items()) ordering.push_back(name);
        property_ordering = std::move(ordering);
      }
      if (!converted.empty()) out["properties"] = std::move(converted);
    }
    if (const Json* items = member(node, "items")) {
      if (items->is_boolean()) {  // true: any items; false: none beyond prefixItems
        if (!items->get<bool>()) hints.push_back("items: false");
      } else if (items->is_array()) {  // draft-04 tuple form: a constraint Gemini cannot express
        hints.push_back("items: " + hint_value(*items));
      } else {
        Json item;
        if (auto st = convert(*items, path + ".items", depth + 1, item); !st.ok()) return st;
        out["items"] = std::move(item);
      }
    }
    // required: only names that properties defines (Gemini rejects the others).
    if (const Json* required = member(node, "required")) {
      if (!required->is_array())
        return invalid(path + ".required", path + ".required must be an array");
      Json kept = Json::array();
      std::unordered_set<std::string_view> defined, seen;
      if (const Json* properties = member(out, "properties")) {
        for (const auto& [name, property] : properties->items()) defined.insert(name);
      }
      for (const auto& name : *required) {
        if (!name.is_string())
          return invalid(path + ".required", path + ".required must hold strings");
        if (defined.count(str(name)) && seen.insert(str(name)).second) kept.push_back(name);
      }
      if (!kept.empty()) out["required"] = std::move(kept);
    }

    // format.
    if (const Json* format = member(node, "format")) {
      if (!format->is_string()) return invalid(path + ".format", path + ".format must be a string");
      if (out.contains("format")) {
        // convert_enum chose format "enum" for a numeric enum.
      } else if (format_supported(type, str(*format))) {
        out["format"] = *format;
      } else {
        hints.push_back("format: " + str(*format));
      }
    }

    // Everything else: copied, described, or dropped.
    for (const auto& [key, value] : node.items()) {
      if (key == "type" || key == "enum" || key == "properties" || key == "items" ||
          key == "required" || key == "format" || value.is_null()) {
        continue;
      }
      if (copied_keywords().count(key)) {
        if (auto st = check_copied(key, value, path); !st.ok()) return st;
        if (!out.contains(key) || key == "description" || key == "title") out[key] = value;
      } else if (hinted_keywords().count(key)) {
        hints.push_back(key + ": " + hint_value(value));
      } else if ((key == "additionalProperties" || key == "unevaluatedProperties" ||
                  key == "unevaluatedItems") &&
                 !value.is_boolean()) {
        hints.push_back(key + ": " + hint_value(value));  // a map's value schema
      }
      // Anything else is an annotation or a keyword Gemini does not know ($schema, $id, $defs,
      // definitions, examples, readOnly, strict, additionalProperties: bool, x-...): dropped.
    }

    if (!hints.empty()) {
      std::string joined;
      for (const auto& hint : hints) joined += (joined.empty() ? "" : "; ") + hint;
      std::string description = out.contains("description") ? str(out["description"]) : "";
      out["description"] =
          description.empty() ? "(" + joined + ")" : description + " (" + joined + ")";
    }
    if (nullable) out["nullable"] = true;
    if (!property_ordering.is_null()) out["propertyOrdering"] = std::move(property_ordering);
    return Status::Ok();
  }

  static bool value_has_type(const Json& value, const std::string& type) {
    if (type == "string") return value.is_string();
    if (type == "integer") return value.is_number_integer() || value.is_number_unsigned();
    if (type == "number") return value.is_number();
    if (type == "boolean") return value.is_boolean();
    if (type == "array") return value.is_array();
    if (type == "object") return value.is_object();
    return false;
  }

  static bool format_fits(const Json& format, const std::string& type) {
    if (!format.is_string()) return false;
    auto mapped = gemini_type(type);
    return mapped && format_supported(*mapped, str(format));
  }

  // Gemini's enum holds strings. Strings stay; numbers follow Gemini's documented numeric enum
  // ({type: INTEGER, format: enum, enum: ["101", "201"]}); booleans become type BOOLEAN.
  Status convert_enum(const Json& options, const std::string& path, std::string& type,
                      bool& nullable, std::vector<std::string>& hints, Json& out) {
    if (!options.is_array()) return invalid(path, path + " must be an array");
    std::vector<const Json*> values;
    for (const auto& option : options) {
      if (option.is_null()) {
        nullable = true;
      } else {
        values.push_back(&option);
      }
    }
    if (values.empty()) return unsupported(path, path + ": an enum whose only value is null");
    auto all = [&](auto predicate) { return std::all_of(values.begin(), values.end(), predicate); };
    if (all([](const Json* v) { return v->is_string(); })) {
      Json strings = Json::array();
      for (const Json* v : values) strings.push_back(*v);
      out["enum"] = std::move(strings);
      if (type.empty()) type = "STRING";
      return Status::Ok();
    }
    if (all([](const Json* v) { return v->is_number(); })) {
      bool integral =
          all([](const Json* v) { return v->is_number_integer() || v->is_number_unsigned(); });
      if (type.empty() || type == "INTEGER" || type == "NUMBER") {
        if (type.empty()) type = integral ? "INTEGER" : "NUMBER";
        Json strings = Json::array();
        for (const Json* v : values) strings.push_back(v->dump());
        out["enum"] = std::move(strings);
        out["format"] = "enum";
        return Status::Ok();
      }
    }
    if (all([](const Json* v) { return v->is_boolean(); }) && (type.empty() || type == "BOOLEAN")) {
      type = "BOOLEAN";
      bool has_true =
          std::any_of(values.begin(), values.end(), [](const Json* v) { return v->get<bool>(); });
      bool has_false =
          std::any_of(values.begin(), values.end(), [](const Json* v) { return !v->get<bool>(); });
      if (has_true != has_false)
        hints.push_back(std::string("must be ") + (has_true ? "true" : "false"));
      return Status::Ok();
    }
    return unsupported(path, path +
                                 ": an enum or const mixing value types, or holding arrays "
                                 "or objects");
  }

  static Status check_copied(const std::string& key, const Json& value, const std::string& path) {
    std::string param = path + "." + key;
    if (key == "title" || key == "description" || key == "pattern") {
      if (!value.is_string()) return invalid(param, param + " must be a string");
    } else if (key == "minimum" || key == "maximum") {
      if (!value.is_number()) return invalid(param, param + " must be a number");
    } else if (key == "propertyOrdering") {
      if (!value.is_array() ||
          !std::all_of(value.begin(), value.end(), [](const Json& v) { return v.is_string(); })) {
        return invalid(param, param + " must be an array of strings");
      }
    } else if (key.rfind("min", 0) == 0 || key.rfind("max", 0) == 0) {
      bool whole = value.is_number_unsigned() ||
                   (value.is_number_integer() && value.get<int64_t>() >= 0) ||
                   (value.is_number_float() && value.get<double>() >= 0 &&
                    value.get<double>() == std::trunc(value.get<double>()));
      if (!whole) return invalid(param, param + " must be a non-negative integer");
    }
    return Status::Ok();
  }

  const Json& root_;
  std::vector<std::string> ref_stack_;
  size_t nodes_ = 0;
};

}  // namespace

Result<Json> json_schema_to_gemini(const Json& schema, const std::string& path) {
  try {
    SchemaConverter converter(schema);
    Json out;
    if (auto st = converter.convert(schema, path, 0, out); !st.ok()) return st.error();
    return out;
  } catch (const std::exception& e) {
    return invalid(path, path + " could not be converted for " + kVendor + ": " + e.what());
  }
}

}  // namespace keel

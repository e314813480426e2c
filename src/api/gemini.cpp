// The Gemini wire format <-> native types. See gemini.h for the contract and
// tests/golden/gemini/README.md for every conversion rule and where it comes from.
//
// Untrusted bytes come in through gemini_response_from_wire, GeminiStreamDecoder::decode and
// gemini_error_message; client schemas and tool arguments come in through
// chat_request_to_gemini. None of them throws: JSON is depth-checked before it is parsed, every
// value's type is checked before it is read, schema inlining is bounded in depth and size, and
// each public function also catches at its own boundary as a last line of defence.
#include "api/gemini.h"

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

#include "api/json_util.h"
#include "api/openai_chat.h"  // upstream_error_message, for bodies that are not Gemini's shape

namespace keel {
namespace {

constexpr int kMaxSchemaDepth = 64;       // nesting of the converted schema, $ref inlined
constexpr size_t kMaxSchemaNodes = 5000;  // bounds $ref fan-out (A -> 2xB -> 4xC ...)
constexpr size_t kMaxHintValueBytes = 200;
constexpr size_t kMaxFunctionNameBytes = 128;
constexpr const char* kVendor = "provider kind gemini";
constexpr const char* kSyntheticThoughtSignature = "skip_thought_signature_validator";
constexpr const char* kSingleCallInstruction =
    "Call at most one function in each turn; never several at once.";

// ---- small helpers (the shared JSON ones are in json_util.h) -------------------------------

// "<what> is not supported by provider kind gemini", the one phrasing for refused features.
Error unsupported(std::string param, const std::string& what) {
  return invalid(std::move(param), what + " is not supported by " + kVendor);
}

// ---- JSON Schema -> Gemini Schema ----------------------------------------------------------

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

// ---- requests ------------------------------------------------------------------------------

// Gemini: "Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain
// underscores, dots, colons and dashes, with a maximum length of 128" (FunctionDeclaration.name).
bool valid_function_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxFunctionNameBytes) return false;
  auto c0 = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(c0) || c0 == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
  });
}

// Passthrough fields: refused when they would change what the client gets, mapped when Gemini
// has the same knob, ignored otherwise (see the README's list).
Status check_passthrough(const Json& passthrough, Json& generation_config) {
  if (!passthrough.is_object()) return Status::Ok();
  for (const auto& [key, value] : passthrough.items()) {
    if (value.is_null()) continue;
    if (key == "logprobs") {
      if (!(value.is_boolean() && !value.get<bool>())) return unsupported(key, "logprobs");
    } else if (key == "top_logprobs") {
      if (!(value.is_number() && value.get<double>() == 0)) return unsupported(key, "top_logprobs");
    } else if (key == "logit_bias") {
      if (!(value.is_object() && value.empty())) return unsupported(key, "logit_bias");
    } else if (key == "n") {
      if (!(value.is_number() && value.get<double>() == 1)) return unsupported(key, "n > 1");
    } else if (key == "modalities") {
      bool text_only = value.is_array() &&
                       std::all_of(value.begin(), value.end(),
                                   [](const Json& m) { return m.is_string() && str(m) == "text"; });
      if (!text_only) return unsupported(key, "modalities other than text");
    } else if (key == "audio") {
      return unsupported(key, "audio output");
    } else if (key == "web_search_options") {
      return unsupported(key, "web_search_options");
    } else if (key == "functions" || key == "function_call") {
      return unsupported(key, "the legacy '" + key + "' field (use tools and tool_choice)");
    } else if (key == "top_k") {
      if (!value.is_number() || value.get<double>() < 0) {
        return invalid(key, "top_k must be a non-negative number");
      }
      generation_config["topK"] = value;
    }
    // Everything else (user, metadata, store, service_tier, prompt_cache_key, safety_identifier,
    // reasoning_effort, verbosity, prediction, max_completion_tokens, unknown vendor fields)
    // does not change what a correct answer is: ignored.
  }
  return Status::Ok();
}

// image/png from "...photo.PNG?x=1#y"; empty when the extension is unknown.
std::string mime_from_url(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {"png", "image/png"},   {"jpg", "image/jpeg"},     {"jpeg", "image/jpeg"},
      {"webp", "image/webp"}, {"gif", "image/gif"},      {"heic", "image/heic"},
      {"heif", "image/heif"}, {"pdf", "application/pdf"}};
  auto it = kTypes.find(ascii_lower(path.substr(dot + 1)));
  return it == kTypes.end() ? std::string() : it->second;
}

Status image_part(const ContentPart& part, const std::string& path, Json& out) {
  const std::string& url = part.image_url;
  std::string scheme =
      ascii_lower(url.substr(0, url.find(':') == std::string::npos ? 0 : url.find(':')));
  if (scheme == "data") {
    // data:[<mime>][;base64],<data>
    size_t comma = url.find(',');
    if (comma == std::string::npos) return invalid(path, path + ": the data: URL has no ','");
    std::string meta = url.substr(5, comma - 5);
    const std::string kBase64 = ";base64";
    if (meta.size() < kBase64.size() ||
        ascii_lower(meta.substr(meta.size() - kBase64.size())) != kBase64) {
      return unsupported(path, path + ": a data: URL that is not base64");
    }
    std::string mime = meta.substr(0, meta.size() - kBase64.size());
    mime = mime.substr(0, mime.find(';'));
    if (mime.empty()) return invalid(path, path + ": the data: URL names no media type");
    out = {{"inlineData", {{"mimeType", ascii_lower(mime)}, {"data", url.substr(comma + 1)}}}};
    return Status::Ok();
  }
  if (scheme == "https" || scheme == "http" || scheme == "gs") {
    std::string mime = mime_from_url(url);
    if (mime.empty()) {
      return invalid(path, path + ": " + kVendor +
                               " needs an image's media type, and it cannot be told from this "
                               "URL's extension (known: .png .jpg .jpeg .webp .gif .heic .heif "
                               ".pdf); send the image as a data: URL instead");
    }
    out = {{"fileData", {{"mimeType", mime}, {"fileUri", url}}}};
    return Status::Ok();
  }
  return unsupported(path, path + ": an image URL with scheme " + echo(scheme));
}

// A tool result -> the functionResponse.response value: {"result": JSON or text}, or for a
// failed tool (is_error) {"error": JSON or text}, the key FunctionResponse.response's
// documentation (@google/genai) names for error details.
Json tool_result_value(const Message& message) {
  const char* key = message.is_error ? "error" : "result";
  std::string text = message.text();
  if (auto parsed = try_parse_json(text)) return {{key, std::move(*parsed)}};
  return {{key, std::move(text)}};
}

Status convert_messages(const ChatRequest& req, const GeminiRequestOptions& options,
                        Json& system_parts, Json& contents) {
  std::map<std::string, std::string, std::less<>> call_names;  // tool call id -> function name
  bool last_was_tool = false;
  for (size_t i = 0; i < req.messages.size(); ++i) {
    const Message& message = req.messages[i];
    const std::string path = indexed("messages", i);
    bool is_tool = message.role == Role::kTool;
    switch (message.role) {
      case Role::kSystem:
      case Role::kDeveloper:
        for (const auto& part : message.content) {
          if (part.type == ContentPart::Type::kText && !part.text.empty()) {
            system_parts.push_back({{"text", part.text}});
          }
        }
        break;
      case Role::kUser: {
        Json parts = Json::array();
        for (size_t k = 0; k < message.content.size(); ++k) {
          const ContentPart& part = message.content[k];
          if (part.type == ContentPart::Type::kText) {
            if (!part.text.empty()) parts.push_back({{"text", part.text}});
          } else {
            Json image;
            if (auto st = image_part(part, indexed(path + ".content", k), image); !st.ok()) {
              return st;
            }
            parts.push_back(std::move(image));
          }
        }
        if (!parts.empty()) contents.push_back({{"role", "user"}, {"parts", std::move(parts)}});
        break;
      }
      case Role::kAssistant: {
        Json parts = Json::array();
        // Gemini's own thought parts go back as they came, each with its signature; another
        // vendor's reasoning is not Gemini's to read.
        std::string call_signature;  // a functionCall part's own, for the turn's first call
        for (const ReasoningPart& reasoning : message.reasoning) {
          if (reasoning.vendor != kVendorGemini) continue;
          if (reasoning.text.empty()) {
            if (call_signature.empty()) call_signature = reasoning.signature;
            continue;
          }
          Json part = {{"text", reasoning.text}, {"thought", true}};
          if (!reasoning.signature.empty()) part["thoughtSignature"] = reasoning.signature;
          parts.push_back(std::move(part));
        }
        std::string text = message.text();
        if (!text.empty()) parts.push_back({{"text", text}});
        for (size_t k = 0; k < message.tool_calls.size(); ++k) {
          const ToolCall& call = message.tool_calls[k];
          std::string call_path = indexed(path + ".tool_calls", k);
          Json args = Json::object();
          if (!call.arguments.empty()) {
            auto parsed = try_parse_json(call.arguments);
            if (!parsed || !parsed->is_object()) {
              return invalid(call_path + ".function.arguments",
                             call_path + " (id " + echo(call.id) + ", function " + echo(call.name) +
                                 "): arguments must be a JSON object for " + kVendor);
            }
            args = std::move(*parsed);
          }
          Json function_call = {{"name", call.name}, {"args", std::move(args)}};
          if (!call.id.empty()) function_call["id"] = call.id;
          Json part = {{"functionCall", std::move(function_call)}};
          if (k == 0 && !call_signature.empty()) {
            part["thoughtSignature"] = call_signature;  // on the part that carried it
          } else if (k == 0 && options.synthetic_thought_signatures) {
            part["thoughtSignature"] = kSyntheticThoughtSignature;
          }
          parts.push_back(std::move(part));
          if (!call.id.empty()) call_names[call.id] = call.name;
        }
        if (!parts.empty()) contents.push_back({{"role", "model"}, {"parts", std::move(parts)}});
        break;
      }
      case Role::kTool: {
        auto name = call_names.find(message.tool_call_id);
        if (name == call_names.end()) {
          return invalid(path + ".tool_call_id",
                         path + ".tool_call_id " + echo(message.tool_call_id) +
                             " matches no tool call of an earlier assistant message; " + kVendor +
                             " needs the function's name for a tool result");
        }
        Json response = {{"id", message.tool_call_id},
                         {"name", name->second},
                         {"response", tool_result_value(message)}};
        // Images in a tool result (an Anthropic tool_result may hold them) travel as the
        // function response's own parts (FunctionResponse.parts in @google/genai: inlineData or
        // fileData, the shapes a user turn's images take).
        Json media = Json::array();
        for (size_t k = 0; k < message.content.size(); ++k) {
          const ContentPart& content = message.content[k];
          if (content.type != ContentPart::Type::kImage) continue;
          Json image;
          if (auto st = image_part(content, indexed(path + ".content", k), image); !st.ok()) {
            return st;
          }
          media.push_back(std::move(image));
        }
        if (!media.empty()) response["parts"] = std::move(media);
        Json part = {{"functionResponse", std::move(response)}};
        if (last_was_tool && !contents.empty()) {
          contents.back()["parts"].push_back(std::move(part));
        } else {
          contents.push_back({{"role", "user"}, {"parts", Json::array({std::move(part)})}});
        }
        break;
      }
    }
    last_was_tool = is_tool;
  }
  if (contents.empty()) {
    return invalid("messages", std::string("messages hold no user or assistant content; ") +
                                   kVendor + " needs at least one");
  }
  return Status::Ok();
}

Status convert_tools(const ChatRequest& req, Json& body) {
  if (req.tools.empty()) return Status::Ok();
  Json declarations = Json::array();
  for (size_t i = 0; i < req.tools.size(); ++i) {
    const ToolSpec& tool = req.tools[i];
    std::string path = indexed("tools", i) + ".function";
    if (!valid_function_name(tool.name)) {
      return invalid(path + ".name",
                     path + ".name " + echo(tool.name) + " is not a valid function name for " +
                         kVendor +
                         " (start with a letter or '_'; then letters, digits, '_', '.', "
                         "':', '-'; at most 128 characters)");
    }
    Json declaration = {{"name", tool.name}};
    if (!tool.description.empty()) declaration["description"] = tool.description;
    if (!tool.parameters.is_null() && !(tool.parameters.is_object() && tool.parameters.empty())) {
      auto schema = json_schema_to_gemini(tool.parameters, path + ".parameters");
      if (!schema) return schema.error();
      // A function without parameters leaves them unset (an OBJECT with no properties is
      // rejected by Gemini).
      bool empty_object = schema->value("type", "") == "OBJECT" &&
                          !schema->contains("properties") && !schema->contains("anyOf");
      if (!empty_object) declaration["parameters"] = std::move(*schema);
    }
    declarations.push_back(std::move(declaration));
  }
  body["tools"] = Json::array({{{"functionDeclarations", std::move(declarations)}}});

  Json config;
  switch (req.tool_choice.mode) {
    case ToolChoice::Mode::kUnset:
      break;
    case ToolChoice::Mode::kAuto:
      config = {{"mode", "AUTO"}};
      break;
    case ToolChoice::Mode::kNone:
      config = {{"mode", "NONE"}};
      break;
    case ToolChoice::Mode::kRequired:
      config = {{"mode", "ANY"}};
      break;
    case ToolChoice::Mode::kNamed:
      config = {{"mode", "ANY"}, {"allowedFunctionNames", Json::array({req.tool_choice.name})}};
      break;
  }
  if (!config.is_null()) body["toolConfig"] = {{"functionCallingConfig", std::move(config)}};
  return Status::Ok();
}

// thinkingConfig from the native reasoning config (docs/dev.md's table): a budget, or one from
// the effort; adaptive is Gemini's dynamic budget (-1); disabled is 0; a summary alone leaves
// the model's own budget. Thoughts are included when the client can show them (thinking asked
// for as such, or a summary).
void convert_thinking(const ReasoningConfig& reasoning, Json& config) {
  using Mode = ReasoningConfig::Mode;
  if (!reasoning.is_set() && reasoning.summary.empty()) return;
  Json thinking = Json::object();
  switch (reasoning.mode) {
    case Mode::kDisabled:
      thinking["thinkingBudget"] = 0;
      break;
    case Mode::kAdaptive:
      thinking["thinkingBudget"] = -1;
      break;
    case Mode::kEnabled:
      thinking["thinkingBudget"] =
          reasoning.budget_tokens.value_or(reasoning_budget_for_effort(reasoning.effort));
      break;
    case Mode::kUnset:  // an effort, or only a summary asked for (the model's own budget)
      if (!reasoning.effort.empty()) {
        thinking["thinkingBudget"] = reasoning_budget_for_effort(reasoning.effort);
      }
      break;
  }
  const bool asked = reasoning.mode == Mode::kEnabled || reasoning.mode == Mode::kAdaptive ||
                     !reasoning.summary.empty();
  const Json* budget = member(thinking, "thinkingBudget");
  if (asked && reasoning.summary != "none" && !(budget && *budget == Json(0))) {
    thinking["includeThoughts"] = true;
  }
  config["thinkingConfig"] = std::move(thinking);
}

Status convert_generation_config(const ChatRequest& req, Json& config) {
  convert_thinking(req.reasoning, config);
  const Sampling& sampling = req.sampling;
  if (sampling.temperature) config["temperature"] = *sampling.temperature;
  if (sampling.top_p) config["topP"] = *sampling.top_p;
  if (sampling.max_tokens) {
    if (*sampling.max_tokens > std::numeric_limits<int32_t>::max()) {
      return invalid("max_tokens",
                     std::string("max_tokens is larger than ") + kVendor + " accepts (2147483647)");
    }
    config["maxOutputTokens"] = *sampling.max_tokens;
  }
  if (!sampling.stop.empty()) config["stopSequences"] = sampling.stop;
  // Gemini's seed is an int32; a wider seed is folded into it (still deterministic).
  if (sampling.seed) config["seed"] = static_cast<int32_t>(static_cast<uint32_t>(*sampling.seed));
  if (sampling.presence_penalty) config["presencePenalty"] = *sampling.presence_penalty;
  if (sampling.frequency_penalty) config["frequencyPenalty"] = *sampling.frequency_penalty;
  if (req.response_format) {
    const ResponseFormat& format = *req.response_format;
    if (format.type == ResponseFormat::Type::kJsonObject) {
      config["responseMimeType"] = "application/json";
    } else if (format.type == ResponseFormat::Type::kJsonSchema) {
      config["responseMimeType"] = "application/json";
      if (!format.schema.is_null() && !(format.schema.is_object() && format.schema.empty())) {
        auto schema = json_schema_to_gemini(format.schema, "response_format.json_schema.schema");
        if (!schema) return schema.error();
        config["responseSchema"] = std::move(*schema);
      }
    }
  }
  return Status::Ok();
}

// ---- responses -----------------------------------------------------------------------------

FinishReason finish_from_gemini(const std::string& reason, bool has_tool_calls) {
  static const std::set<std::string, std::less<>> kFiltered = {"SAFETY",
                                                               "RECITATION",
                                                               "BLOCKLIST",
                                                               "PROHIBITED_CONTENT",
                                                               "SPII",
                                                               "IMAGE_SAFETY",
                                                               "IMAGE_PROHIBITED_CONTENT",
                                                               "IMAGE_RECITATION"};
  static const std::set<std::string, std::less<>> kFailed = {
      "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"};
  if (reason == "MAX_TOKENS" || reason == "CONTINUATION") return FinishReason::kLength;
  if (kFiltered.count(reason)) return FinishReason::kContentFilter;
  if (kFailed.count(reason)) return FinishReason::kError;
  // STOP, OTHER, LANGUAGE, FINISH_REASON_UNSPECIFIED and reasons added later.
  return has_tool_calls ? FinishReason::kToolCalls : FinishReason::kStop;
}

std::optional<int64_t> read_count(const Json& object, const char* key) {
  const Json* value = member(object, key);
  if (!value) return 0;
  if (value->is_number_unsigned()) {
    return static_cast<int64_t>(std::min<uint64_t>(value->get<uint64_t>(), 9000000000000000000ull));
  }
  if (value->is_number_integer()) return std::max<int64_t>(value->get<int64_t>(), 0);
  if (value->is_number_float() && std::isfinite(value->get<double>())) {
    return static_cast<int64_t>(std::clamp(value->get<double>(), 0.0, 9.0e18));
  }
  if (value->is_string()) {  // proto3 JSON may quote int64s
    int64_t parsed = 0;
    const std::string& text = str(*value);
    if (text.empty() || text.size() > 18 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    for (char c : text) parsed = parsed * 10 + (c - '0');
    return parsed;
  }
  return std::nullopt;
}

// usageMetadata -> Usage. completion_tokens counts thinking tokens too, as OpenAI's does with
// reasoning tokens (Gemini bills thoughtsTokenCount as output).
Result<Usage> usage_from_gemini(const Json& wire) {
  if (!wire.is_object()) return bad_gateway("usageMetadata is not an object");
  auto prompt = read_count(wire, "promptTokenCount");
  auto candidates = read_count(wire, "candidatesTokenCount");
  auto thoughts = read_count(wire, "thoughtsTokenCount");
  auto tool_use = read_count(wire, "toolUsePromptTokenCount");
  auto total = read_count(wire, "totalTokenCount");
  auto cached = read_count(wire, "cachedContentTokenCount");
  if (!prompt || !candidates || !thoughts || !tool_use || !total || !cached) {
    return bad_gateway("usageMetadata counts are not numbers");
  }
  Usage usage;
  usage.prompt_tokens = clamp_tokens(*prompt) + clamp_tokens(*tool_use);
  usage.completion_tokens = clamp_tokens(*candidates) + clamp_tokens(*thoughts);
  usage.total_tokens =
      member(wire, "totalTokenCount") ? *total : usage.prompt_tokens + usage.completion_tokens;
  if (member(wire, "cachedContentTokenCount")) usage.cached_tokens = *cached;
  usage.present = true;
  return usage;
}

// FNV-1a, for deterministic tool-call ids.
uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 1469598103934665603ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

// A tool-call id for a functionCall part that carries none: deterministic (the same response
// gives the same ids, streamed or not), unique within the response (the index), distinct across
// a thread's turns (the responseId), and short and plain enough for every vendor's id rules
// (OpenAI: at most 40 characters; Anthropic: [a-zA-Z0-9_-]).
std::string generated_tool_id(const std::string& response_id, int index, const std::string& name,
                              const std::string& args) {
  std::string key = response_id + '\x1f' + std::to_string(index) + '\x1f' + name + '\x1f' + args;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fnv1a(key)));
  return "call_" + std::string(hex) + "_" + std::to_string(index);
}

ErrorCode code_for_status(const std::string& status) {
  if (status == "RESOURCE_EXHAUSTED") return ErrorCode::kResourceExhausted;
  if (status == "UNAVAILABLE") return ErrorCode::kUnavailable;
  if (status == "DEADLINE_EXCEEDED") return ErrorCode::kDeadlineExceeded;
  return ErrorCode::kBadGateway;
}

// {"error": {...}} (or [{"error": {...}}]) -> the error object; nullptr otherwise.
const Json* error_object(const Json& body) {
  const Json* object = &body;
  if (body.is_array() && body.size() == 1) object = &body[0];
  const Json* error = member(*object, "error");
  return error && error->is_object() ? error : nullptr;
}

std::string error_text(const Json& error) {
  std::string message = optional_string(error, "message");
  std::string status = optional_string(error, "status");
  if (message.empty())
    message = status.empty() ? std::string("(no message)") : status;
  else if (!status.empty())
    message += " (" + status + ")";
  return truncate_utf8(message, kMaxUpstreamMessageBytes);
}

struct ToolPart {
  std::string id, name, args;
};

// Decodes one GenerateContentResponse (a whole answer, or one stream chunk) into events,
// validating everything before emitting anything.
Status decode_response(const Json& body, GeminiStreamDecoder::State& state,
                       std::vector<ChatEvent>& out, const std::string& prefix) {
  if (!body.is_object()) return bad_gateway(prefix + "the body is not a JSON object");
  const Json* candidates = member(body, "candidates");
  if (candidates && !candidates->is_array())
    return bad_gateway(prefix + "candidates is not an array");
  const Json* candidate = nullptr;
  if (candidates) {
    for (const auto& item : *candidates) {
      if (!item.is_object()) return bad_gateway(prefix + "a candidate is not an object");
      const Json* index = member(item, "index");
      if (!index || (index->is_number() && index->get<double>() == 0)) {
        candidate = &item;
        break;
      }
    }
  }
  std::vector<std::string> texts;
  std::vector<ToolPart> tools;
  // Thought parts and functionCall signatures, in order. A signature ends its reasoning part;
  // a call's signature is a part of its own.
  struct Thought {
    std::string text, signature;
    bool of_call = false;
  };
  std::vector<Thought> thoughts;
  std::string finish_reason;
  if (candidate) {
    if (const Json* content = member(*candidate, "content")) {
      if (!content->is_object()) return bad_gateway(prefix + "candidate content is not an object");
      const Json* parts = member(*content, "parts");
      if (parts && !parts->is_array()) return bad_gateway(prefix + "content.parts is not an array");
      for (const auto& part : parts ? *parts : Json::array()) {
        if (!part.is_object()) return bad_gateway(prefix + "a part is not an object");
        const Json* thought = member(part, "thought");
        bool is_thought = thought && thought->is_boolean() && thought->get<bool>();
        const Json* signature = member(part, "thoughtSignature");
        if (signature && !signature->is_string()) {
          return bad_gateway(prefix + "a part's thoughtSignature is not a string");
        }
        if (const Json* text = member(part, "text")) {
          if (!text->is_string()) return bad_gateway(prefix + "a part's text is not a string");
          if (is_thought) {
            thoughts.push_back({str(*text), signature ? str(*signature) : std::string()});
          } else if (!str(*text).empty()) {
            texts.push_back(str(*text));
          }
          // A signature on a text part is not kept: Gemini does not require it back.
        }
        if (const Json* call = member(part, "functionCall")) {
          if (!call->is_object()) return bad_gateway(prefix + "functionCall is not an object");
          const Json* name = member(*call, "name");
          if (!name || !name->is_string() || str(*name).empty()) {
            return bad_gateway(prefix + "a functionCall has no name");
          }
          const Json* args = member(*call, "args");
          if (args && !args->is_object())
            return bad_gateway(prefix + "functionCall.args is not an object");
          ToolPart tool;
          tool.name = str(*name);
          tool.args = args ? args->dump(-1, ' ', false, Json::error_handler_t::replace) : "{}";
          tool.id = optional_string(*call, "id");
          // Its signature is a reasoning part of its own, before the turn's content; it goes
          // back on the turn's first call (convert_messages).
          if (signature && !str(*signature).empty()) {
            thoughts.push_back({"", str(*signature), true});
          }
          tools.push_back(std::move(tool));
        }
        // Other parts (inlineData, executableCode, ...) come only from features keel does not
        // request; they are skipped.
      }
    }
    if (const Json* reason = member(*candidate, "finishReason")) {
      if (!reason->is_string()) return bad_gateway(prefix + "finishReason is not a string");
      finish_reason = str(*reason);
    }
  }
  std::string block_reason;
  if (const Json* feedback = member(body, "promptFeedback")) {
    if (!feedback->is_object()) return bad_gateway(prefix + "promptFeedback is not an object");
    block_reason = optional_string(*feedback, "blockReason");
  }
  std::optional<Usage> usage;
  if (const Json* wire_usage = member(body, "usageMetadata")) {
    auto parsed = usage_from_gemini(*wire_usage);
    if (!parsed) return bad_gateway(prefix + parsed.error().message);
    usage = *parsed;
  }

  if (!state.started) {
    state.started = true;
    state.response_id = optional_string(body, "responseId");
    ChatEvent& start = ChatEvent::start(out.emplace_back(), state.response_id,
                                        optional_string(body, "modelVersion"));
    if (usage && member(*member(body, "usageMetadata"), "promptTokenCount")) {
      // A stream's first chunk already counts the prompt: the client may read it at the start.
      start.usage.prompt_tokens = usage->prompt_tokens;
      start.usage.cached_tokens = usage->cached_tokens;
      start.usage.present = true;
    }
  }
  if (state.finished) {  // content after Finish is not the documented order; only usage counts
    if (usage) state.usage = usage;
    return Status::Ok();
  }
  for (Thought& thought : thoughts) {
    if (state.reasoning_count > 1023) break;
    if (thought.of_call && state.reasoning_text) ++state.reasoning_count;
    if (!thought.text.empty()) {
      state.reasoning_text = true;
      out.push_back(ChatEvent::reasoning_delta(state.reasoning_count, std::move(thought.text)));
    }
    if (!thought.signature.empty()) {
      state.reasoning_text = false;
      out.push_back(ChatEvent::reasoning_signature(state.reasoning_count++,
                                                   std::move(thought.signature), kVendorGemini));
    }
  }
  for (auto& text : texts) out.push_back(ChatEvent::text_delta(std::move(text)));
  for (auto& tool : tools) {
    if (state.single_tool_call && state.tool_count > 0) break;  // the promise: one call a turn
    int index = state.tool_count++;
    std::string id = tool.id.empty()
                         ? generated_tool_id(state.response_id, index, tool.name, tool.args)
                         : tool.id;
    out.push_back(ChatEvent::tool_call_start(index, std::move(id), std::move(tool.name)));
    out.push_back(ChatEvent::tool_args_delta(index, std::move(tool.args)));
  }
  if (!finish_reason.empty()) {
    state.finished = true;
    out.push_back(ChatEvent::finished(finish_from_gemini(finish_reason, state.tool_count > 0)));
  } else if (!candidate && !block_reason.empty() && block_reason != "BLOCKED_REASON_UNSPECIFIED") {
    state.finished = true;  // the prompt itself was blocked: no candidates at all
    out.push_back(ChatEvent::finished(FinishReason::kContentFilter));
  }
  if (usage) state.usage = usage;
  return Status::Ok();
}

}  // namespace

// ==== toward Gemini ==========================================================================

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

Result<Json> chat_request_to_gemini(const ChatRequest& req, const GeminiRequestOptions& options) {
  try {
    Json generation_config = Json::object();
    if (auto st = check_passthrough(req.passthrough, generation_config); !st.ok()) {
      return st.error();
    }
    Json body = Json::object();
    Json system_parts = Json::array();
    Json contents = Json::array();
    if (auto st = convert_messages(req, options, system_parts, contents); !st.ok()) {
      return st.error();
    }
    if (gemini_single_tool_call(req)) {
      // Gemini has no switch for parallel calls: the model is asked for one, and the answer's
      // decoder keeps only the first (GeminiStreamDecoder's single_tool_call).
      system_parts.push_back({{"text", kSingleCallInstruction}});
    }
    body["contents"] = std::move(contents);
    if (!system_parts.empty()) body["systemInstruction"] = {{"parts", std::move(system_parts)}};
    if (auto st = convert_tools(req, body); !st.ok()) return st.error();
    if (auto st = convert_generation_config(req, generation_config); !st.ok()) return st.error();
    if (!generation_config.empty()) body["generationConfig"] = std::move(generation_config);
    return body;
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 std::string("could not convert the request for ") + kVendor + ": " + e.what());
  }
}

Result<Json> chat_request_to_gemini_count(const ChatRequest& req,
                                         const std::string& upstream_model,
                                         const GeminiRequestOptions& options) {
  auto body = chat_request_to_gemini(req, options);
  if (!body) return body;
  // countTokens takes the whole GenerateContentRequest, which then names its model, so system
  // instructions and function declarations are counted too (ai.google.dev "Counting tokens").
  (*body)["model"] = "models/" + upstream_model;
  return Json{{"generateContentRequest", std::move(*body)}};
}

Result<int64_t> gemini_count_from_wire(std::string_view body) {
  auto json = try_parse_json(body);
  std::optional<int64_t> count;
  if (json && json->is_object() && member(*json, "totalTokens")) {
    count = read_count(*json, "totalTokens");
  }
  if (!count) return bad_gateway("upstream returned an invalid token count (no totalTokens)");
  return *count;
}

// ==== from Gemini ============================================================================

namespace {
Result<std::vector<ChatEvent>> response_from_wire(std::string_view body, bool single_tool_call) {
  const std::string prefix = "upstream returned an invalid Gemini response: ";
  try {
    auto json = try_parse_json(body);
    if (!json) return bad_gateway(prefix + "not valid JSON (or nested too deeply)");
    if (const Json* error = error_object(*json)) {
      Error out = bad_gateway("upstream error: " + error_text(*error));
      if (const Json* code = member(*error, "code"); code && code->is_number_integer()) {
        out.upstream_status = code->get<int>();
      }
      return out;
    }
    const Json* candidates = member(*json, "candidates");
    if (json->is_object() && (!candidates || (candidates->is_array() && candidates->empty()))) {
      const Json* feedback = member(*json, "promptFeedback");
      if (!feedback || optional_string(*feedback, "blockReason").empty()) {
        return bad_gateway(prefix + "no candidates");
      }
    }
    GeminiStreamDecoder::State state;
    state.single_tool_call = single_tool_call;
    std::vector<ChatEvent> events;
    if (auto st = decode_response(*json, state, events, prefix); !st.ok()) return st.error();
    if (!state.finished) {
      events.push_back(ChatEvent::finished(state.tool_count > 0 ? FinishReason::kToolCalls
                                                                : FinishReason::kStop));
    }
    if (state.usage) events.push_back(ChatEvent::usage_event(*state.usage));
    return events;
  } catch (const std::exception& e) {
    return bad_gateway(prefix + e.what());
  }
}
}  // namespace

Result<std::vector<ChatEvent>> gemini_response_from_wire(std::string_view body) {
  return response_from_wire(body, false);
}

Result<std::vector<ChatEvent>> gemini_single_call_response_from_wire(std::string_view body) {
  return response_from_wire(body, true);
}

bool gemini_single_tool_call(const ChatRequest& req) {
  return req.parallel_tool_calls == false && !req.tools.empty() &&
         req.tool_choice.mode != ToolChoice::Mode::kNone;
}

Status GeminiStreamDecoder::decode(std::string_view data, std::vector<ChatEvent>& out) {
  const std::string prefix = "upstream sent an invalid Gemini stream chunk: ";
  try {
    if (state_.failed) return Status::Ok();  // nothing counts after an error
    auto json = try_parse_json(data);
    if (!json) return bad_gateway(prefix + "not valid JSON (or nested too deeply)");
    if (const Json* error = error_object(*json)) {
      Error failure(code_for_status(optional_string(*error, "status")),
                    "upstream error: " + error_text(*error));
      if (const Json* code = member(*error, "code"); code && code->is_number_integer()) {
        failure.upstream_status = code->get<int>();
      }
      state_.failed = true;
      state_.finished = true;
      out.push_back(ChatEvent::failure(std::move(failure)));
      return Status::Ok();
    }
    std::vector<ChatEvent> events;
    if (auto st = decode_response(*json, state_, events, prefix); !st.ok()) return st;
    for (auto& event : events) out.push_back(std::move(event));
    return Status::Ok();
  } catch (const std::exception& e) {
    return bad_gateway(prefix + e.what());
  }
}

void GeminiStreamDecoder::finish(std::vector<ChatEvent>& out) {
  if (!state_.started || state_.failed) return;
  if (!state_.finished) {
    state_.finished = true;
    out.push_back(ChatEvent::finished(state_.tool_count > 0 ? FinishReason::kToolCalls
                                                            : FinishReason::kStop));
  }
  if (state_.usage) {
    out.push_back(ChatEvent::usage_event(*state_.usage));
    state_.usage.reset();
  }
}

std::string gemini_error_message(std::string_view body) {
  try {
    if (auto json = try_parse_json(body)) {
      if (const Json* error = error_object(*json)) return error_text(*error);
    }
    return upstream_error_message(body);
  } catch (const std::exception&) {
    return "(unreadable body)";
  }
}

}  // namespace keel

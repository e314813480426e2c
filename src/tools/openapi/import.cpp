#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "api/json_util.h"
#include "tools/openapi/openapi.h"
#include "tools/toolbox.h"

namespace keel {

namespace {

constexpr int kMaxRefDepth = 4;
// $refs expanded per path item: past it, open objects (Jira's schemas fan out; a model needs the
// first levels, and the tool list must stay small enough to send with every request).
constexpr int kMaxExpansions = 400;
const char* const kMethods[] = {"get", "put", "post", "delete", "patch", "head", "options"};

Error bad(std::string message) { return Error(ErrorCode::kInvalidArgument, std::move(message)); }

// Resolves local $refs inline. `stack`: the refs being expanded (a repeat is a recursion).
class Resolver {
 public:
  explicit Resolver(const Json& root) : root_(root) {}

  Json resolve(const Json& node, std::vector<std::string>& stack) const {
    if (node.is_array()) {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(resolve(item, stack));
      return out;
    }
    if (!node.is_object()) return node;
    auto ref = node.find("$ref");
    if (ref != node.end() && ref->is_string()) {
      const std::string target = ref->get<std::string>();
      const Json* found = lookup(target);
      const bool recursive = std::find(stack.begin(), stack.end(), target) != stack.end();
      Json out;
      if (found == nullptr || recursive || static_cast<int>(stack.size()) >= kMaxRefDepth ||
          ++expansions_ > kMaxExpansions) {
        out = Json{{"type", "object"},
                   {"description", recursive ? "(recursive: " + target + ")" : "(" + target + ")"}};
      } else {
        stack.push_back(target);
        out = resolve(*found, stack);
        stack.pop_back();
      }
      // Sibling keys of a $ref (3.1 allows them; real 3.0 specs have them too) win.
      for (const auto& [key, value] : node.items()) {
        if (key != "$ref" && out.is_object()) out[key] = resolve(value, stack);
      }
      return out;
    }
    Json out = Json::object();
    for (const auto& [key, value] : node.items()) out[key] = resolve(value, stack);
    return out;
  }

 private:
  // "#" itself is not a schema a parameter can name.
  const Json* lookup(const std::string& ref) const {
    return ref == "#" ? nullptr : local_ref(root_, ref);
  }
  const Json& root_;
  mutable int expansions_ = 0;
};

std::string text_of(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The schema of a request body: JSON's when offered, else the first media type's.
std::pair<std::string, Json> body_schema(const Json& content) {
  if (!content.is_object() || content.empty()) return {"", Json()};
  for (const auto& [type, media] : content.items()) {
    if (type.find("json") != std::string::npos && media.is_object() && media.contains("schema")) {
      return {type, media["schema"]};
    }
  }
  const auto first = content.begin();
  return {first.key(),
          first->is_object() && first->contains("schema") ? (*first)["schema"] : Json::object()};
}

}  // namespace

std::string openapi_server_url(const Json& spec) {
  if (auto servers = spec.find("servers"); servers != spec.end() && servers->is_array() &&
                                           !servers->empty() && (*servers)[0].is_object()) {
    return text_of((*servers)[0], "url");
  }
  const std::string host = text_of(spec, "host");
  if (host.empty()) return {};
  std::string scheme = "https";
  if (auto schemes = spec.find("schemes"); schemes != spec.end() && schemes->is_array() &&
                                           !schemes->empty() && (*schemes)[0].is_string()) {
    scheme = (*schemes)[0].get<std::string>();
  }
  return scheme + "://" + host + text_of(spec, "basePath");
}

Result<std::vector<OpenApiOperation>> import_openapi(const Json& spec,
                                                     const std::vector<std::string>& allow,
                                                     const RouteFilter& routes) {
  if (!spec.is_object()) return bad("the spec is not a JSON or YAML object");
  // "swagger": "2.0" — or the number 2.0, as the OpenAPI repository's own example writes it.
  const auto swagger = spec.find("swagger");
  const bool swagger2 = swagger != spec.end() &&
                        ((swagger->is_string() && swagger->get<std::string>().starts_with("2.")) ||
                         (swagger->is_number() && swagger->get<double>() == 2.0));
  if (!swagger2 && !text_of(spec, "openapi").starts_with("3.")) {
    return bad(
        "not an OpenAPI 3.x or Swagger 2.0 document (no \"openapi\": \"3...\" or "
        "\"swagger\": \"2.0\")");
  }
  auto paths = spec.find("paths");
  if (paths == spec.end() || !paths->is_object()) return bad("the spec has no paths");
  std::vector<OpenApiOperation> operations;
  std::set<std::string> names;
  std::set<std::string> wanted(allow.begin(), allow.end());
  // Whether a path item (before its $refs are resolved) has an operation the caller wants:
  // resolving every path of a large spec (SAP's, Jira's) costs far more than the few operations
  // a preset or an `operations:` list picks out of it. A path item that is itself a $ref is
  // resolved to tell. The dedup suffix ("_2") is not known yet: a name it could get counts.
  const auto may_be_wanted = [&](const std::string& path, const Json& item_raw) {
    if (wanted.empty() && !routes) return true;
    if (!item_raw.is_object() || item_raw.contains("$ref")) return true;
    for (const char* method : kMethods) {
      auto op = item_raw.find(method);
      if (op == item_raw.end() || !op->is_object()) continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(c));
      if (routes && !routes(upper, path)) continue;
      if (wanted.empty()) return true;
      const std::string id = text_of(*op, "operationId");
      const std::string base =
          tool_name_for_models(id.empty() ? std::string(method) + "_" + path : id);
      if (wanted.count(id) || wanted.count(base)) return true;
      for (const auto& name : wanted) {
        if (name.starts_with(base + "_")) return true;
      }
    }
    return false;
  };
  for (const auto& [path, item_raw] : paths->items()) {
    if (!may_be_wanted(path, item_raw)) continue;
    std::vector<std::string> stack;
    const Json item = Resolver(spec).resolve(item_raw, stack);
    if (!item.is_object()) continue;
    for (const char* method : kMethods) {
      auto op_it = item.find(method);
      if (op_it == item.end() || !op_it->is_object()) continue;
      const Json& op = *op_it;
      OpenApiOperation operation;
      operation.operation_id = text_of(op, "operationId");
      operation.method = method;
      for (char& c : operation.method) c = static_cast<char>(std::toupper(c));
      operation.path = path;
      std::string base = operation.operation_id;
      if (base.empty()) base = std::string(method) + "_" + path;
      std::string name = tool_name_for_models(base);
      for (int n = 2; names.count(name); ++n) {
        const std::string suffix = "_" + std::to_string(n);
        name = tool_name_for_models(base).substr(0, 64 - suffix.size()) + suffix;
      }
      const bool listed =
          (!routes || routes(operation.method, path)) &&
          (wanted.empty() || wanted.count(operation.operation_id) || wanted.count(name));
      if (!listed) continue;
      names.insert(name);
      operation.name = name;
      Json properties = Json::object();
      Json required = Json::array();
      // Operation-level parameters override path-level ones of the same name and place.
      std::vector<Json> parameters;
      for (const Json* list : {item.contains("parameters") ? &item["parameters"] : nullptr,
                               op.contains("parameters") ? &op["parameters"] : nullptr}) {
        if (list == nullptr || !list->is_array()) continue;
        for (const auto& parameter : *list) {
          if (!parameter.is_object()) continue;
          std::erase_if(parameters, [&](const Json& p) {
            return text_of(p, "name") == text_of(parameter, "name") &&
                   text_of(p, "in") == text_of(parameter, "in");
          });
          parameters.push_back(parameter);
        }
      }
      Json form = Json::object();
      for (const auto& parameter : parameters) {
        const std::string param_name = text_of(parameter, "name");
        const std::string in = text_of(parameter, "in");
        if (param_name.empty() || in.empty()) continue;
        const bool is_required =
            in == "path" || (parameter.contains("required") && parameter["required"].is_boolean() &&
                             parameter["required"].get<bool>());
        if (in == "body") {  // Swagger 2.0
          operation.body_type = "application/json";
          Json schema = parameter.contains("schema") ? parameter["schema"] : Json::object();
          properties["body"] = schema;
          if (is_required) required.push_back("body");
          operation.parameters.push_back({"body", "body", is_required});
          continue;
        }
        Json schema = parameter.contains("schema") ? parameter["schema"] : Json::object();
        if (swagger2) {
          for (const char* key :
               {"type", "items", "enum", "format", "default", "minimum", "maximum"}) {
            if (parameter.contains(key)) schema[key] = parameter[key];
          }
        }
        if (!schema.is_object()) schema = Json::object();
        if (const std::string description = text_of(parameter, "description");
            !description.empty()) {
          schema["description"] = description;
        }
        if (in == "formData") {
          form[param_name] = schema;
        } else {
          properties[param_name] = schema;
        }
        if (is_required && in != "formData") required.push_back(param_name);
        operation.parameters.push_back({param_name, in, is_required});
      }
      if (!form.empty()) {
        operation.body_type = "application/x-www-form-urlencoded";
        properties["body"] = Json{{"type", "object"}, {"properties", form}};
        operation.parameters.push_back({"body", "body", false});
      }
      if (auto body = op.find("requestBody"); body != op.end() && body->is_object()) {
        auto [type, schema] = body_schema(body->contains("content") ? (*body)["content"] : Json());
        if (!type.empty()) {
          operation.body_type = type;
          properties["body"] = schema.is_object() ? schema : Json::object();
          const bool body_required = body->contains("required") &&
                                     (*body)["required"].is_boolean() &&
                                     (*body)["required"].get<bool>();
          if (body_required) required.push_back("body");
          operation.parameters.push_back({"body", "body", body_required});
        }
      }
      operation.spec.name = name;
      std::string description = text_of(op, "summary");
      const std::string long_text = text_of(op, "description");
      if (!long_text.empty() && long_text != description) {
        description += (description.empty() ? "" : "\n\n") + long_text;
      }
      if (description.empty()) description = operation.method + " " + path;
      if (description.size() > 1024) description = description.substr(0, 1024);
      operation.spec.description = description;
      operation.spec.parameters = Json{{"type", "object"}, {"properties", std::move(properties)}};
      if (!required.empty()) operation.spec.parameters["required"] = std::move(required);
      operations.push_back(std::move(operation));
    }
  }
  for (const auto& name : allow) {
    const bool found = std::any_of(operations.begin(), operations.end(), [&](const auto& op) {
      return op.operation_id == name || op.name == name;
    });
    if (!found) return bad("no operation named " + name);
  }
  return operations;
}

namespace {

Json yaml_to_json(const YAML::Node& node, int depth) {
  if (depth > 256) throw YAML::Exception(node.Mark(), "nested too deeply");
  switch (node.Type()) {
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item, depth + 1));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        out[it->first.as<std::string>()] = yaml_to_json(it->second, depth + 1);
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "?") {  // plain scalar: YAML's core schema types
        if (text == "true" || text == "True") return true;
        if (text == "false" || text == "False") return false;
        if (text == "null" || text == "~") return nullptr;
        if (auto number = try_parse_json(text); number && number->is_number()) return *number;
      }
      return text;
    }
    default:
      return nullptr;
  }
}

}  // namespace

Result<Json> load_spec_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad(path + ": cannot open the spec file");
  std::ostringstream text;
  text << in.rdbuf();
  if (path.ends_with(".json")) {
    auto json = try_parse_json(text.str());
    if (!json) return bad(path + ": not valid JSON");
    return *json;
  }
  try {
    return yaml_to_json(YAML::Load(text.str()), 0);
  } catch (const YAML::Exception& e) {
    return bad(path + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

}  // namespace keel

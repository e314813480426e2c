#include "prompts/prompty.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "api/json_util.h"
#include "prompts/jinja.h"
#include "prompts/yaml_json.h"

namespace keel {

namespace {

namespace fs = std::filesystem;

Error error_at(const std::string& path, int line, const std::string& reason) {
  return Error(ErrorCode::kInvalidArgument, path + ":" + std::to_string(line) + ": " + reason);
}

// Thrown inside the loader and caught once in parse_prompty; keeps each check one line.
struct LoadFailure {
  int line;
  std::string reason;
};

[[noreturn]] void fail(int line, std::string reason) { throw LoadFailure{line, std::move(reason)}; }

int line_of(const YAML::Node& node, int fallback) {
  const int line = node.Mark().line;
  return line >= 0 ? line + 1 : fallback;
}

// The front matter as JSON with ${env:...} and ${file:...} resolved.
class FrontMatterReader {
 public:
  FrontMatterReader(const std::string& path, const PromptyLoadOptions& options)
      : dir_(fs::path(path).parent_path()), options_(options) {}

  Json read(const YAML::Node& node, int line, const std::string& key_path, int depth = 0) {
    if (depth > 64) fail(line, "front matter nests too deep");
    if (node.IsMap()) {
      Json object = Json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        const int key_line = line_of(it->first, line);
        if (!it->first.IsScalar()) fail(key_line, "expected a key");
        const std::string key = it->first.Scalar();
        if (object.contains(key)) {
          fail(key_line, (key_path.empty() ? "" : key_path + ": ") + "repeated key '" + key + "'");
        }
        object[key] =
            read(it->second, key_line, key_path.empty() ? key : key_path + "." + key, depth + 1);
      }
      return object;
    }
    if (node.IsSequence()) {
      Json array = Json::array();
      size_t index = 0;
      for (const auto& item : node) {
        array.push_back(read(item, line_of(item, line),
                             key_path + "[" + std::to_string(index++) + "]", depth + 1));
      }
      return array;
    }
    if (node.IsScalar()) {
      Json value = yaml_scalar(node);
      if (value.is_string()) return resolve(value.get<std::string>(), line, key_path);
      return value;
    }
    return nullptr;
  }

 private:
  Json resolve(const std::string& text, int line, const std::string& key_path) {
    if (text.size() < 4 || text.rfind("${", 0) != 0 || text.back() != '}') return text;
    const std::string inner = text.substr(2, text.size() - 3);
    if (inner.rfind("env:", 0) == 0) {
      const std::string spec = inner.substr(4);
      const size_t colon = spec.find(':');
      const std::string name = spec.substr(0, colon);
      std::optional<std::string> value;
      if (options_.env) {
        value = options_.env(name);
      } else if (const char* found = std::getenv(name.c_str())) {
        value = std::string(found);
      }
      if (value) return *value;
      if (colon != std::string::npos) return spec.substr(colon + 1);
      const bool connection = key_path.rfind("model.configuration", 0) == 0 ||
                              key_path.rfind("model.connection", 0) == 0;
      if (connection && !options_.strict_connection_env) return text;
      fail(line, key_path + ": Environment variable '" + name + "' not set");
    }
    if (inner.rfind("file:", 0) == 0) {
      const std::string relative = inner.substr(5);
      const fs::path root = fs::weakly_canonical(dir_.empty() ? fs::path(".") : dir_);
      const fs::path target = fs::weakly_canonical(root / relative);
      const auto [root_end, ignored] =
          std::mismatch(root.begin(), root.end(), target.begin(), target.end());
      if (fs::path(relative).is_absolute() || root_end != root.end()) {
        fail(line, key_path + ": ${file:" + relative +
                       "} is outside allowed roots (the prompt's folder)");
      }
      std::ifstream in(target, std::ios::binary);
      if (!in) fail(line, key_path + ": cannot open " + relative);
      std::ostringstream content;
      content << in.rdbuf();
      if (target.extension() == ".json") {
        auto json = parse_json(content.str(), ErrorCode::kInvalidArgument, relative);
        if (!json) fail(line, key_path + ": " + json.error().message);
        return *json;
      }
      return content.str();
    }
    return text;
  }

  fs::path dir_;
  const PromptyLoadOptions& options_;
};

const std::map<std::string, InputType>& type_names() {
  static const std::map<std::string, InputType> kNames = {
      {"string", InputType::kString},   {"str", InputType::kString},
      {"int", InputType::kInteger},     {"integer", InputType::kInteger},
      {"double", InputType::kNumber},   {"float", InputType::kNumber},
      {"number", InputType::kNumber},   {"bool", InputType::kBoolean},
      {"boolean", InputType::kBoolean}, {"list", InputType::kList},
      {"array", InputType::kList},      {"object", InputType::kObject},
      {"dict", InputType::kObject},     {"thread", InputType::kThread},
      {"image", InputType::kAny},       {"any", InputType::kAny}};
  return kNames;
}

bool has_type(InputType type, const Json& value) {
  switch (type) {
    case InputType::kAny:
      return true;
    case InputType::kString:
      return value.is_string();
    case InputType::kInteger:
      return value.is_number_integer();
    case InputType::kNumber:
      return value.is_number();
    case InputType::kBoolean:
      return value.is_boolean();
    case InputType::kList:
      return value.is_array();
    case InputType::kObject:
      return value.is_object();
    case InputType::kThread:
      return value.is_array() || (value.is_object() && value.contains("messages"));
  }
  return false;
}

// The input's type from a YAML map: classic `type`, v2 `kind`; a scalar shorthand's from its
// value (v2 spec: `inputs.X: "Jane"` is {kind: string, default: Jane}).
PromptInput read_input(const std::string& name, const Json& spec, int line,
                       PromptyDialect dialect) {
  PromptInput input;
  input.name = name;
  input.line = line;
  if (name.empty()) fail(line, "inputs: an input needs a name");
  if (!spec.is_object()) {
    // The v2 spec's shorthand: the value is the default and its JSON type the input's kind.
    input.default_value = spec;
    input.type_name = spec.is_string()           ? "string"
                      : spec.is_boolean()        ? "boolean"
                      : spec.is_number_integer() ? "integer"
                      : spec.is_number()         ? "float"
                      : spec.is_array()          ? "array"
                                                 : "any";
    input.type = type_names().at(input.type_name);
    return input;
  }
  const Json* type = nullptr;
  if (auto it = spec.find("type"); it != spec.end()) type = &*it;
  if (auto it = spec.find("kind"); it != spec.end()) type = &*it;
  if (type != nullptr) {
    if (!type->is_string()) fail(line, "inputs." + name + ": type must be a string");
    input.type_name = type->get<std::string>();
    auto found = type_names().find(input.type_name);
    if (found == type_names().end()) {
      fail(line, "inputs." + name + ": unknown type '" + input.type_name +
                     "' (expected string, int, double, bool, list, object or thread)");
    }
    input.type = found->second;
  }
  if (auto it = spec.find("default"); it != spec.end() && !it->is_null()) {
    if (!has_type(input.type, *it)) {
      fail(line, "inputs." + name + ": default is " + describe(*it) + ", not " + input.type_name);
    }
    input.default_value = *it;
  }
  if (auto it = spec.find("required"); it != spec.end()) {
    if (!it->is_boolean()) fail(line, "inputs." + name + ": required must be true or false");
    input.required = it->get<bool>();
  } else {
    // Prompt flow: an input without a default is required. prompty v2: optional by default.
    input.required = dialect == PromptyDialect::kClassic && !input.default_value;
  }
  return input;
}

bool is_classic_model(const Json& model) {
  return model.is_object() &&
         (model.contains("api") || model.contains("configuration") || model.contains("parameters"));
}
bool is_v2_model(const Json& model) {
  return model.is_string() ||
         (model.is_object() && (model.contains("id") || model.contains("provider") ||
                                model.contains("apiType") || model.contains("options")));
}

void read_sampling(Prompty& prompt, int line) {
  const bool classic = prompt.dialect == PromptyDialect::kClassic;
  const char* section = classic ? "parameters" : "options";
  auto it = prompt.model.find(section);
  if (it == prompt.model.end() || it->is_null()) return;
  if (!it->is_object()) fail(line, std::string("model.") + section + " must be a map");
  const Json& p = *it;
  auto number = [&](const char* key, std::optional<double>& out) {
    if (auto f = p.find(key); f != p.end() && !f->is_null()) {
      if (!f->is_number())
        fail(line, std::string("model.") + section + "." + key + " must be a number");
      out = f->get<double>();
    }
  };
  auto integer = [&](const char* key, std::optional<int64_t>& out) {
    if (auto f = p.find(key); f != p.end() && !f->is_null()) {
      if (!f->is_number_integer()) {
        fail(line, std::string("model.") + section + "." + key + " must be an integer");
      }
      out = f->get<int64_t>();
    }
  };
  Sampling& s = prompt.sampling;
  number("temperature", s.temperature);
  number(classic ? "top_p" : "topP", s.top_p);
  number(classic ? "presence_penalty" : "presencePenalty", s.presence_penalty);
  number(classic ? "frequency_penalty" : "frequencyPenalty", s.frequency_penalty);
  integer(classic ? "max_tokens" : "maxOutputTokens", s.max_tokens);
  integer("seed", s.seed);
  if (auto f = p.find(classic ? "stop" : "stopSequences"); f != p.end() && !f->is_null()) {
    if (f->is_string()) {
      s.stop.push_back(f->get<std::string>());
    } else if (f->is_array()) {
      for (const auto& item : *f) {
        if (item.is_string()) s.stop.push_back(item.get<std::string>());
      }
    }
  }
  if (auto f = p.find("response_format"); f != p.end())
    prompt.response_format = response_format_of(*f);
}

void read_inputs(Prompty& prompt, const Json& inputs, const YAML::Node& node, int line) {
  prompt.inputs_declared = true;
  prompt.inputs_line = line;
  std::set<std::string> names;
  auto add = [&](PromptInput input) {
    if (!names.insert(input.name).second)
      fail(input.line, "inputs: repeated input '" + input.name + "'");
    prompt.inputs.push_back(std::move(input));
  };
  if (inputs.is_null()) return;
  if (inputs.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string name = it->first.Scalar();
      add(read_input(name, inputs[name], line_of(it->first, line), prompt.dialect));
    }
    return;
  }
  if (!inputs.is_array()) fail(line, "inputs must be a map or a list");
  size_t index = 0;
  for (const auto& item : node) {
    const Json& spec = inputs[index++];
    const int item_line = line_of(item, line);
    if (!spec.is_object()) fail(item_line, "inputs: each item must be a map with a name");
    const Json name = spec.value("name", Json());
    if (!name.is_string()) fail(item_line, "inputs: each item needs a string name");
    add(read_input(name.get<std::string>(), spec, item_line, prompt.dialect));
  }
}

}  // namespace

std::optional<ResponseFormat> response_format_of(const Json& wire) {
  if (!wire.is_object()) return std::nullopt;
  const std::string type = wire.value("type", "");
  if (type == "json_object") return ResponseFormat{ResponseFormat::Type::kJsonObject, "", {}, {}};
  if (type != "json_schema" || !wire.contains("json_schema") || !wire["json_schema"].is_object()) {
    return std::nullopt;
  }
  const Json& schema = wire["json_schema"];
  ResponseFormat format;
  format.type = ResponseFormat::Type::kJsonSchema;
  format.name = schema.value("name", "response");
  format.schema = schema.value("schema", Json::object());
  return format;
}

Json yaml_scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (std::regex_match(text, kInt)) {
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0) return static_cast<int64_t>(value);
  }
  if (std::regex_match(text, kFloat)) return std::strtod(text.c_str(), nullptr);
  return text;
}

Json yaml_to_json(const YAML::Node& node, int depth) {
  if (depth > 64) return nullptr;
  if (node.IsMap()) {
    Json object = Json::object();
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.IsScalar()) object[it->first.Scalar()] = yaml_to_json(it->second, depth + 1);
    }
    return object;
  }
  if (node.IsSequence()) {
    Json array = Json::array();
    for (const auto& item : node) array.push_back(yaml_to_json(item, depth + 1));
    return array;
  }
  if (node.IsScalar()) return yaml_scalar(node);
  return nullptr;
}

std::string Prompty::model_id() const {
  if (model.is_object()) {
    if (auto it = model.find("id"); it != model.end() && it->is_string()) return *it;
    if (auto it = model.find("configuration"); it != model.end() && it->is_object()) {
      for (const char* key : {"azure_deployment", "model"}) {
        if (auto f = it->find(key); f != it->end() && f->is_string()) return *f;
      }
    }
  }
  return "";
}

Json Prompty::agent_json() const {
  Json agent = Json::object();
  agent["kind"] = "prompt";
  for (const auto& [key, value] : front_matter.items()) {
    if (key == "model" || key == "inputs" || key == "template") continue;
    agent[key] = value;
  }
  if (front_matter.contains("model")) agent["model"] = model;
  if (inputs_declared) {
    Json list = Json::array();
    for (const auto& input : inputs) {
      Json item = {{"name", input.name}};
      if (!input.type_name.empty()) item["kind"] = input.type_name;
      if (input.default_value) item["default"] = *input.default_value;
      if (input.required) item["required"] = true;
      list.push_back(std::move(item));
    }
    agent["inputs"] = std::move(list);
  }
  agent["template"] = {{"format", {{"kind", template_format}}}, {"parser", {{"kind", "prompty"}}}};
  std::string instructions = body;
  while (!instructions.empty() && (instructions.back() == '\n' || instructions.back() == '\r')) {
    instructions.pop_back();
  }
  agent["instructions"] = instructions;
  return agent;
}

Result<Prompty> parse_prompty(std::string_view text, const std::string& path,
                              const PromptyLoadOptions& options) {
  Prompty prompt;
  prompt.path = path;
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF) {
    text.remove_prefix(3);
  }
  // The front matter: from a first line "---" to the next line "---".
  auto line_end = [&](size_t from) {
    size_t end = text.find('\n', from);
    return end == std::string_view::npos ? text.size() : end;
  };
  auto is_fence = [&](size_t from, size_t end) {
    std::string_view line = text.substr(from, end - from);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    return line == "---";
  };
  size_t end = line_end(0);
  if (!is_fence(0, end)) {
    return error_at(path, 1, "invalid frontmatter: a .prompty file starts with a line \"---\"");
  }
  size_t pos = end + 1;
  int line = 2;
  size_t front_start = pos;
  size_t front_end = std::string_view::npos;
  while (pos < text.size()) {
    end = line_end(pos);
    if (is_fence(pos, end)) {
      front_end = pos;
      pos = end + 1;
      break;
    }
    pos = end + 1;
    ++line;
  }
  if (front_end == std::string_view::npos) {
    return error_at(path, 1, "invalid frontmatter: no closing \"---\" line");
  }
  prompt.body = pos < text.size() ? std::string(text.substr(pos)) : "";
  prompt.body_line = line + 1;

  YAML::Node root;
  try {
    // Lines before the front matter (the first ---) keep YAML's line numbers right.
    root = YAML::Load("\n" + std::string(text.substr(front_start, front_end - front_start)));
  } catch (const YAML::Exception& e) {
    return error_at(path, e.mark.line >= 0 ? e.mark.line + 1 : 1, "invalid frontmatter: " + e.msg);
  }
  try {
    if (!root.IsNull() && !root.IsMap()) fail(2, "invalid frontmatter: expected a map of keys");
    FrontMatterReader reader(path, options);
    prompt.front_matter = root.IsNull() ? Json::object() : reader.read(root, 2, "");
    const Json& fm = prompt.front_matter;
    // The line of a top-level key (of the key itself: a map's value starts on the next line).
    auto key_line = [&](const char* key) {
      if (root.IsMap()) {
        for (auto it = root.begin(); it != root.end(); ++it) {
          if (it->first.IsScalar() && it->first.Scalar() == key) return line_of(it->first, 2);
        }
      }
      return 2;
    };

    // Which dialect: classic keys (model.api/configuration/parameters, inputs as a map,
    // sample) or v2's (model.id/provider/apiType/options or a model string, inputs as a list,
    // template as a map).
    const Json model = fm.value("model", Json());
    const Json inputs = fm.value("inputs", Json());
    const bool classic = is_classic_model(model) || fm.contains("sample");
    const bool v2 = is_v2_model(model) || inputs.is_array() ||
                    (fm.contains("template") && !fm["template"].is_string());
    if (classic && v2) {
      fail(key_line("model"),
           "mixes the Prompt flow dialect (model.api/configuration/parameters, sample) with "
           "prompty v2's (model.id/provider/apiType/options, inputs as a list)");
    }
    prompt.dialect =
        classic || (!v2 && inputs.is_object()) ? PromptyDialect::kClassic : PromptyDialect::kV2;
    if (fm.contains("name")) {
      if (!fm["name"].is_string()) fail(key_line("name"), "name must be a string");
      prompt.name = fm["name"];
    }
    if (fm.contains("description") && fm["description"].is_string()) {
      prompt.description = fm["description"];
    }
    if (model.is_string()) {
      prompt.model = {{"id", model}};
    } else if (model.is_object()) {
      prompt.model = model;
    } else if (!model.is_null()) {
      fail(key_line("model"), "model must be a map or a model name");
    }
    if (fm.contains("template")) {
      const Json& tmpl = fm["template"];
      const int tmpl_line = key_line("template");
      if (tmpl.is_string()) {
        if (prompt.dialect == PromptyDialect::kV2) {
          fail(tmpl_line,
               "Invalid template format: template must be a map {format: {kind}, "
               "parser: {kind}}, not a string");
        }
        prompt.template_format = tmpl.get<std::string>();
      } else if (tmpl.is_object()) {
        const Json format = tmpl.value("format", Json());
        if (format.is_string()) {
          prompt.template_format = format.get<std::string>();
        } else if (format.is_object() && format.value("kind", Json()).is_string()) {
          prompt.template_format = format["kind"].get<std::string>();
        }
      } else if (!tmpl.is_null()) {
        fail(tmpl_line, "Invalid template format: expected a map");
      }
    }
    if (fm.contains("inputs")) read_inputs(prompt, inputs, root["inputs"], key_line("inputs"));
    read_sampling(prompt, key_line("model"));
  } catch (const LoadFailure& failure) {
    return error_at(path, failure.line, failure.reason);
  } catch (const YAML::Exception& e) {
    return error_at(path, e.mark.line >= 0 ? e.mark.line + 1 : 1, "invalid frontmatter: " + e.msg);
  }
  return prompt;
}

Result<Prompty> load_prompty(const std::string& path, const PromptyLoadOptions& options) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return Error(ErrorCode::kInvalidArgument, path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error(ErrorCode::kNotFound, path + ": cannot open the prompt file (FileNotFoundError)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_prompty(text.str(), path, options);
}

Result<Json> check_inputs(const Prompty& prompt, const Json& given) {
  if (!given.is_null() && !given.is_object()) {
    return Error(ErrorCode::kInvalidArgument,
                 prompt.path + ": inputs must be an object, got " + describe(given));
  }
  Json values = given.is_object() ? given : Json::object();
  if (!prompt.inputs_declared) return values;
  std::string declared;
  for (const auto& input : prompt.inputs) declared += (declared.empty() ? "" : ", ") + input.name;
  for (const auto& [key, value] : values.items()) {
    const std::string& name = key;  // clang 14 cannot capture a structured binding
    auto it = std::find_if(prompt.inputs.begin(), prompt.inputs.end(),
                           [&](const PromptInput& input) { return input.name == name; });
    if (it == prompt.inputs.end()) {
      Error error = error_at(prompt.path, prompt.inputs_line,
                             "unknown input '" + name +
                                 "' (declared: " + (declared.empty() ? "none" : declared) + ")");
      error.param = "inputs." + name;
      return error;
    }
    if (!has_type(it->type, value)) {
      Error error =
          error_at(prompt.path, it->line,
                   "input '" + name + "' must be " + it->type_name + ", got " + describe(value));
      error.param = "inputs." + name;
      return error;
    }
  }
  for (const auto& input : prompt.inputs) {
    if (values.contains(input.name)) continue;
    if (input.default_value) {
      values[input.name] = *input.default_value;
    } else if (input.required) {
      Error error =
          error_at(prompt.path, input.line, "Missing required input '" + input.name + "'");
      error.param = "inputs." + input.name;
      return error;
    }
  }
  return values;
}

namespace {

const std::regex& role_marker() {
  static const std::regex kMarker(
      R"(^\s*#?\s*(system|user|assistant|developer|function|tool)(\[([^\]]*)\])?\s*:\s*$)",
      std::regex::icase);
  return kMarker;
}

// Whether `line` ends as a role marker must: ':' and then only whitespace (the regex's "\s*$").
// Most lines of a prompt do not, and this spares them the regex, which was a fifth of a
// rendered prompt's cost.
bool may_be_marker(std::string_view line) {
  const size_t last = line.find_last_not_of(" \t\n\v\f\r");
  return last != std::string_view::npos && line[last] == ':';
}

Json attribute_value(std::string text) {
  while (!text.empty() && text.front() == ' ') text.erase(text.begin());
  while (!text.empty() && text.back() == ' ') text.pop_back();
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
      text.back() == text.front()) {
    return text.substr(1, text.size() - 2);
  }
  static const std::regex kInt("[-+]?[0-9]{1,18}");
  static const std::regex kFloat("[-+]?[0-9]*\\.[0-9]+");
  if (std::regex_match(text, kInt)) return std::stoll(text);
  if (std::regex_match(text, kFloat)) return std::stod(text);
  return text;
}

Json parse_attributes(const std::string& text) {
  Json attributes = Json::object();
  std::string item;
  bool quoted = false;
  char quote = 0;
  auto flush = [&] {
    const size_t eq = item.find('=');
    if (eq != std::string::npos) {
      std::string key = item.substr(0, eq);
      key.erase(0, key.find_first_not_of(' '));
      key.erase(key.find_last_not_of(' ') + 1);
      if (!key.empty()) attributes[key] = attribute_value(item.substr(eq + 1));
    }
    item.clear();
  };
  for (char c : text) {
    if (quoted) {
      quoted = c != quote;
    } else if (c == '"' || c == '\'') {
      quoted = true;
      quote = c;
    } else if (c == ',') {
      flush();
      continue;
    }
    item += c;
  }
  flush();
  return attributes;
}

std::string trim_newlines(std::string text) {
  size_t start = text.find_first_not_of("\r\n");
  if (start == std::string::npos) return "";
  size_t end = text.find_last_not_of("\r\n");
  return text.substr(start, end - start + 1);
}

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

Result<std::vector<PromptMessage>> split_messages(std::string_view rendered, bool preamble_is_error,
                                                  const std::string& where, int first_line) {
  std::vector<PromptMessage> messages;
  std::optional<PromptMessage> current;
  std::string content;
  std::string preamble;
  int preamble_line = 0;
  size_t pos = 0;
  int line = first_line;
  auto flush = [&] {
    if (current) {
      current->text = trim_newlines(content);
      messages.push_back(std::move(*current));
    }
    content.clear();
  };
  while (pos <= rendered.size()) {
    size_t end = rendered.find('\n', pos);
    if (end == std::string_view::npos) end = rendered.size();
    const std::string text(rendered.substr(pos, end - pos));
    std::smatch match;
    if (text.size() < 256 && may_be_marker(text) && std::regex_match(text, match, role_marker())) {
      flush();
      current = PromptMessage{};
      std::string role = match[1].str();
      for (char& c : role) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      current->role = role;
      if (match[3].matched) current->metadata = parse_attributes(match[3].str());
    } else if (current) {
      content += text;
      content += '\n';
    } else {
      if (preamble_line == 0 && !blank(text)) preamble_line = line;
      preamble += text;
      preamble += '\n';
    }
    if (end == rendered.size()) break;
    pos = end + 1;
    ++line;
  }
  flush();
  if (!blank(preamble)) {
    if (preamble_is_error && !messages.empty()) {
      return error_at(where, preamble_line,
                      "text before the first role marker (a line \"system:\" or \"user:\")");
    }
    PromptMessage system;
    system.role = "system";
    system.text = trim_newlines(preamble);
    messages.insert(messages.begin(), std::move(system));
  }
  return messages;
}

namespace {

constexpr std::string_view kThreadPrefix = "__PROMPTY_THREAD_";

// prompty v2 thread inputs: the template sees a nonce line, which parsing replaces by the
// thread's messages (spec section 6.4).
std::vector<PromptMessage> thread_messages(const Json& thread) {
  const Json& list = thread.is_object() ? thread.value("messages", Json::array()) : thread;
  std::vector<PromptMessage> out;
  if (!list.is_array()) return out;
  for (const auto& item : list) {
    if (!item.is_object()) continue;
    PromptMessage message;
    message.role = item.value("role", "user");
    const Json content = item.value("content", Json());
    if (content.is_string()) {
      message.text = content;
    } else if (content.is_array()) {
      for (const auto& part : content) {
        if (part.is_object() && part.value("kind", "") == "text") {
          message.text += part.value("value", "");
        }
      }
    }
    out.push_back(std::move(message));
  }
  return out;
}

bool is_thread(const PromptInput* input, const Json& value) {
  if (input != nullptr && input->type == InputType::kThread) return true;
  return value.is_object() && value.value("_kind", "") == "thread";
}

}  // namespace

std::vector<PromptMessage> expand_threads(std::vector<PromptMessage> messages,
                                          const std::map<std::string, Json>& threads) {
  if (threads.empty()) return messages;
  std::vector<PromptMessage> out;
  for (auto& message : messages) {
    bool expanded = false;
    for (const auto& [nonce, thread] : threads) {
      const size_t at = message.text.find(nonce);
      if (at == std::string::npos) continue;
      std::string before = trim_newlines(message.text.substr(0, at));
      std::string after = trim_newlines(message.text.substr(at + nonce.size()));
      if (!blank(before)) out.push_back(PromptMessage{message.role, before, message.metadata});
      for (auto& item : thread_messages(thread)) out.push_back(std::move(item));
      if (!blank(after)) out.push_back(PromptMessage{message.role, after, message.metadata});
      expanded = true;
      break;
    }
    if (!expanded) out.push_back(std::move(message));
  }
  return out;
}

Status check_template(const Prompty& prompt) {
  if (prompt.template_format != "jinja2" && prompt.template_format != "jinja") {
    return error_at(
        prompt.path, 1,
        "template format '" + prompt.template_format + "' is not supported (keel renders jinja2)");
  }
  auto names = template_variables(prompt.body, prompt.path, prompt.body_line);
  if (!names) return names.error();
  if (!prompt.inputs_declared) return Status::Ok();
  std::set<std::string> declared;
  for (const auto& input : prompt.inputs) declared.insert(input.name);
  std::set<std::string> read;
  for (const auto& [name, line] : *names) read.insert(name);
  for (const auto& [name, line] : *names) {
    if (declared.count(name)) continue;
    std::string unused;
    for (const auto& input : prompt.inputs) {
      if (!read.count(input.name)) unused += (unused.empty() ? "" : ", ") + input.name;
    }
    std::string list;
    for (const auto& input : prompt.inputs) list += (list.empty() ? "" : ", ") + input.name;
    return error_at(prompt.path, line,
                    "the template uses '" + name + "', which is not a declared input (inputs: " +
                        (list.empty() ? "none" : list) + ")" +
                        (unused.empty() ? "" : "; declared but never used: " + unused));
  }
  return Status::Ok();
}

Status prepare_template(Prompty& prompt) {
  if (Status status = check_template(prompt); !status) return status;
  auto compiled = CompiledTemplate::compile(prompt.body, prompt.path, prompt.body_line);
  if (!compiled) return compiled.error();
  prompt.compiled = std::move(*compiled);
  return Status::Ok();
}

Result<std::string> render_template_text(const Prompty& prompt, const Json& inputs,
                                         std::map<std::string, Json>* threads) {
  if (!prompt.compiled) {
    if (Status status = check_template(prompt); !status) return status.error();
  }
  Json variables = inputs;
  for (auto& [name, value] : variables.items()) {
    const PromptInput* input = nullptr;
    for (const auto& declared : prompt.inputs) {
      if (declared.name == name) input = &declared;
    }
    if (!is_thread(input, value)) continue;
    static thread_local std::mt19937 rng(std::random_device{}());
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(rng()));
    std::string nonce = std::string(kThreadPrefix) + hex + "_" + name + "__";
    if (threads) (*threads)[nonce] = value;
    value = nonce;
  }
  if (prompt.compiled) return prompt.compiled->render(variables);
  return render_jinja(prompt.body, variables, prompt.path, prompt.body_line);
}

Result<std::vector<PromptMessage>> render_prompty(const Prompty& prompt, const Json& inputs) {
  std::map<std::string, Json> threads;
  auto rendered = render_template_text(prompt, inputs, &threads);
  if (!rendered) return rendered.error();
  auto messages = split_messages(*rendered, prompt.dialect == PromptyDialect::kClassic, prompt.path,
                                 prompt.body_line);
  if (!messages) return messages.error();
  const bool has_turn = std::any_of(messages->begin(), messages->end(), [](const auto& m) {
    return m.role != "system" && m.role != "developer";
  });
  if (!has_turn && !messages->empty()) {
    // A chat prompt with no user turn whose body writes "user: text" lines meant them as
    // markers; no dialect reads them so (apology.prompty upstream).
    static const std::regex kInline(
        R"(^\s*#?\s*(system|user|assistant|developer|function|tool)\s*:\s*\S.*$)",
        std::regex::icase);
    size_t pos = 0;
    int line = prompt.body_line;
    while (pos < prompt.body.size()) {
      size_t end = prompt.body.find('\n', pos);
      if (end == std::string::npos) end = prompt.body.size();
      const std::string text = prompt.body.substr(pos, end - pos);
      if (text.size() < 256 && std::regex_match(text, kInline)) {
        return error_at(
            prompt.path, line,
            "'" + text +
                "' is an inline role line, which no dialect reads as a role "
                "marker (a marker stands alone on its line: \"user:\", then the text), so "
                "the prompt renders no user message");
      }
      pos = end + 1;
      ++line;
    }
  }
  return expand_threads(std::move(*messages), threads);
}

Result<std::vector<Message>> to_chat_messages(const std::vector<PromptMessage>& messages,
                                              const std::string& where) {
  std::vector<Message> out;
  for (const auto& prompt_message : messages) {
    Message message;
    const std::string& role = prompt_message.role;
    if (role == "system") {
      message.role = Role::kSystem;
    } else if (role == "developer") {
      message.role = Role::kDeveloper;
    } else if (role == "user") {
      message.role = Role::kUser;
    } else if (role == "assistant") {
      message.role = Role::kAssistant;
    } else if (role == "tool" || role == "function") {
      message.role = Role::kTool;
    } else {
      return Error(ErrorCode::kInvalidArgument, where + ": unknown role '" + role + "'");
    }
    ContentPart part;
    part.text = prompt_message.text;
    message.content.push_back(std::move(part));
    if (auto it = prompt_message.metadata.find("name");
        it != prompt_message.metadata.end() && it->is_string()) {
      message.name = *it;
    }
    out.push_back(std::move(message));
  }
  return out;
}

}  // namespace keel

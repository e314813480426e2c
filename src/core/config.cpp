#include "core/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

namespace keel {

const char* provider_kind_name(ProviderKind kind) {
  switch (kind) {
    case ProviderKind::kOpenAI:
      return "openai";
    case ProviderKind::kAzure:
      return "azure";
    case ProviderKind::kAnthropic:
      return "anthropic";
    case ProviderKind::kGemini:
      return "gemini";
    case ProviderKind::kLocal:
      return "local";
  }
  return "openai";
}

const char* strategy_name(Strategy strategy) {
  switch (strategy) {
    case Strategy::kFailover:
      return "failover";
    case Strategy::kWeighted:
      return "weighted";
    case Strategy::kLeastLatency:
      return "least-latency";
  }
  return "failover";
}

const ProviderConfig* Config::find_provider(const std::string& name) const {
  for (const auto& provider : providers) {
    if (provider.name == name) return &provider;
  }
  return nullptr;
}

const char* toolset_kind_name(ToolsetKind kind) {
  return kind == ToolsetKind::kMcp ? "mcp" : kind == ToolsetKind::kOpenApi ? "openapi" : "builtin";
}

const ToolsetConfig* Config::find_toolset(const std::string& name) const {
  for (const auto& toolset : toolsets) {
    if (toolset.name == name) return &toolset;
  }
  return nullptr;
}

const KnowledgeConfig* Config::find_knowledge(const std::string& name) const {
  for (const auto& base : knowledge) {
    if (base.name == name) return &base;
  }
  return nullptr;
}

const PromptConfig* Config::find_prompt(const std::string& name) const {
  for (const auto& prompt : prompts) {
    if (prompt.name == name) return &prompt;
  }
  return nullptr;
}

const CopilotConfig* Config::find_copilot(const std::string& name) const {
  for (const auto& copilot : copilots) {
    if (copilot.name == name) return &copilot;
  }
  return nullptr;
}

const ModelConfig* Config::find_model(const std::string& name) const {
  for (const auto& model : models) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

const ModelPrice* Config::find_price(const std::string& provider, const std::string& model) const {
  if (auto it = pricing.find(provider + "/" + model); it != pricing.end()) return &it->second;
  if (auto it = pricing.find(model); it != pricing.end()) return &it->second;
  return nullptr;
}

namespace {

bool is_var_name(std::string_view name) {
  if (name.empty()) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

}  // namespace

std::string interpolate_env(const std::string& text, std::vector<std::string>* unset) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const size_t close = text.find('}', i + 2);
      if (close != std::string::npos) {
        const std::string_view body(text.data() + i + 2, close - i - 2);
        const size_t sep = body.find(":-");
        const std::string name(body.substr(0, sep));
        if (is_var_name(name)) {
          const char* value = std::getenv(name.c_str());
          if (sep != std::string_view::npos) {
            // Shell semantics: the default also replaces a variable that is set but empty.
            out += (value != nullptr && *value != '\0') ? std::string_view(value)
                                                        : body.substr(sep + 2);
          } else if (value != nullptr) {
            out += value;
          } else if (unset != nullptr &&
                     std::find(unset->begin(), unset->end(), name) == unset->end()) {
            unset->push_back(name);
          }
          i = close + 1;
          continue;
        }
      }
    }
    // Not a reference: a lone `$`, `$$` and malformed `${` stay as written.
    out += text[i++];
  }
  return out;
}

namespace {

bool parse_ipv4(const std::string& host, in_addr* addr) {
  return inet_pton(AF_INET, host.c_str(), addr) == 1;
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  std::string lower;
  for (char c : bare) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "localhost") return true;

  in_addr v4{};
  if (parse_ipv4(bare, &v4)) return (ntohl(v4.s_addr) >> 24) == 127;

  in6_addr v6{};
  if (inet_pton(AF_INET6, bare.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.x.y.z reaches the IPv4 loopback.
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

Result<ListenAddress> parse_listen(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Result<ListenAddress>(ErrorCode::kInvalidArgument, why);
  };
  std::string host;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return bad("missing ']' after the IPv6 address");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("expected [host]:port");
    }
    port_text = text.substr(close + 2);
    in6_addr v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) {
      return bad("\"" + host + "\" is not an IPv6 address");
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return bad("expected host:port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return bad("an IPv6 address needs brackets, as in [::1]:8080");
    }
  }
  if (host.empty()) return bad("missing host (0.0.0.0 listens on every interface)");
  for (char c : host) {
    if (std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c))) {
      return bad("the host contains a space or control character");
    }
  }
  if (port_text.empty()) return bad("missing port");
  unsigned port = 0;
  const char* end = port_text.data() + port_text.size();
  auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (ec != std::errc() || ptr != end || port > 65535) {
    return bad("port must be a number from 0 to 65535, got \"" + port_text + "\"");
  }
  return ListenAddress{host, static_cast<uint16_t>(port)};
}

namespace {

// yaml-cpp (like YAML itself) ends a plain scalar at '{' or ',' inside a flow collection, so
// `api_keys: [${KEY}]` would not parse. Before parsing, each ${...} becomes an opaque token of
// safe characters; after parsing, scalars get the reference back and only then is it expanded.
// Environment values therefore never pass through the YAML parser. Line numbers are kept
// because a reference never spans lines.
constexpr std::string_view kRefOpen = "$__keel_ref_";
constexpr std::string_view kRefClose = "__";

std::string protect_refs(const std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 2, "${") == 0) {
      const size_t close = text.find('}', i + 2);
      const std::string_view body = close == std::string::npos
                                        ? std::string_view()
                                        : std::string_view(text).substr(i + 2, close - i - 2);
      // Quotes and backslashes would need the quoting style's unescaping: leave those alone.
      if (close != std::string::npos && body.find_first_of("\n\r'\"\\") == std::string::npos) {
        out += kRefOpen;
        for (unsigned char c : body) {
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        }
        out += kRefClose;
        i = close + 1;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

std::string restore_refs(const std::string& text) {
  if (text.find(kRefOpen) == std::string::npos) return text;
  auto hex_value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, kRefOpen.size(), kRefOpen) == 0) {
      const size_t start = i + kRefOpen.size();
      const size_t end = text.find(kRefClose, start);
      if (end != std::string::npos && (end - start) % 2 == 0) {
        std::string body;
        bool valid = true;
        for (size_t j = start; j < end && valid; j += 2) {
          const int high = hex_value(text[j]);
          const int low = hex_value(text[j + 1]);
          valid = high >= 0 && low >= 0;
          body += static_cast<char>(high * 16 + low);
        }
        if (valid) {
          out += "${" + body + "}";
          i = end + kRefClose.size();
          continue;
        }
      }
    }
    out += text[i++];
  }
  return out;
}

// A value echoed in an error: quoted, escaped and cut short.
std::string quote_value(std::string_view text) {
  constexpr size_t kMax = 80;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  return out + "\"";
}

// Thrown by the loader's checks and caught once in parse_config; keeps each check one line.
struct LoadError {
  int line;
  std::string path;
  std::string reason;
  int column = 0;  // 1-based; 0 when the failing node does not start on `line`
};

// A YAML node and where it sits, for error messages.
struct Field {
  YAML::Node node;
  std::string path;  // "providers[1].kind"; empty at the top
  int line = 1;      // 1-based
};

[[noreturn]] void fail(const Field& field, std::string reason) {
  // A map's value is placed at its key's line; the node's own column counts only there.
  const YAML::Mark mark = field.node.Mark();
  const int column = mark.line + 1 == field.line && mark.column >= 0 ? mark.column + 1 : 0;
  throw LoadError{field.line, field.path, std::move(reason), column};
}

const char* shape_of(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return "a scalar";
  return "nothing";
}

std::string join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

// The items of a list; a missing or empty value is an empty list.
std::vector<Field> list_items(const Field& field) {
  std::vector<Field> items;
  if (field.node.IsNull()) return items;
  if (!field.node.IsSequence()) {
    fail(field, std::string("expected a list, got ") + shape_of(field.node));
  }
  size_t index = 0;
  for (const auto& item : field.node) {
    const int mark_line = item.Mark().line;
    items.push_back(Field{item, field.path + "[" + std::to_string(index++) + "]",
                          mark_line >= 0 ? mark_line + 1 : field.line});
  }
  return items;
}

// A YAML map checked against the keys it may hold: unknown and repeated keys are errors.
class MapReader {
 public:
  MapReader(const Field& map, std::initializer_list<std::string_view> known) : map_(map) {
    if (map.node.IsNull()) return;  // `router:` with everything commented out
    if (!map.node.IsMap()) fail(map, std::string("expected a map, got ") + shape_of(map.node));
    for (auto it = map.node.begin(); it != map.node.end(); ++it) {
      const int mark_line = it->first.Mark().line;
      const int line = mark_line >= 0 ? mark_line + 1 : map.line;
      if (!it->first.IsScalar()) fail(Field{it->first, map.path, line}, "expected a key");
      const std::string key = restore_refs(it->first.Scalar());
      Field value{it->second, join(map.path, key), line};
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string expected;
        for (auto name : known) expected += (expected.empty() ? "" : ", ") + std::string(name);
        fail(value, "unknown key (expected one of " + expected + ")");
      }
      for (const auto& entry : entries_) {
        if (entry.first == key) {
          fail(value, "repeated key (first at line " + std::to_string(entry.second.line) + ")");
        }
      }
      entries_.emplace_back(key, std::move(value));
    }
  }

  const Field& self() const { return map_; }

  const Field* get(std::string_view key) const {
    for (const auto& entry : entries_) {
      if (entry.first == key) return &entry.second;
    }
    return nullptr;
  }

  const Field& require(std::string_view key) const {
    const Field* field = get(key);
    if (field == nullptr) fail(map_, "missing required key \"" + std::string(key) + "\"");
    return *field;
  }

 private:
  Field map_;
  std::vector<std::pair<std::string, Field>> entries_;
};

// Turns checked YAML into a Config. Every scalar goes through text(), which interpolates.
class Loader {
 public:
  explicit Loader(Config& config) : config_(config) {}

  void load(const Field& root) {
    const MapReader top(root, {"listen", "state", "log_content", "log_retention", "access_log",
                               "api_keys", "admin_keys", "providers", "models", "router", "server",
                               "pricing", "toolsets", "prompts", "flows", "knowledge",
                               "vector_stores", "copilots", "tracing"});
    if (const Field* field = top.get("state")) {
      config_.state = text(*field);
      if (config_.state.empty()) fail(*field, "must not be empty");
    }
    if (const Field* field = top.get("log_content")) config_.log_content = boolean(*field);
    if (const Field* field = top.get("access_log")) config_.access_log = boolean(*field);
    if (const Field* field = top.get("log_retention")) load_log_retention(*field);
    if (const Field* field = top.get("tracing")) load_tracing(*field);
    for (auto [name, keys] :
         {std::pair{"api_keys", &config_.api_keys}, std::pair{"admin_keys", &config_.admin_keys}}) {
      const Field* field = top.get(name);
      if (!field) continue;
      for (const auto& item : list_items(*field)) {
        std::string key = credential(item);
        // An unset ${VAR} leaves an empty entry, which must not become a valid key.
        if (!key.empty()) keys->push_back(std::move(key));
      }
    }
    if (const Field* field = top.get("server")) load_server(*field);
    if (const Field* field = top.get("listen")) {
      auto listen = parse_listen(text(*field));
      if (!listen) fail(*field, listen.error().message);
      config_.server.host = listen->host;
      config_.server.port = listen->port;
    }
    if (const Field* field = top.get("router")) load_router(*field);
    if (const Field* field = top.get("pricing")) load_pricing(*field);
    if (const Field* field = top.get("providers")) {
      for (const auto& item : list_items(*field)) load_provider(item);
    }
    if (const Field* field = top.get("toolsets")) {
      for (const auto& item : list_items(*field)) load_toolset(item);
    }
    if (const Field* field = top.get("models")) {
      for (const auto& item : list_items(*field)) load_model(item);
    }
    // A shadow names a model that may come later in the list.
    size_t next_shadow = 0;
    for (const auto& model : config_.models) {
      if (!model.shadow) continue;
      const Field& at = shadow_fields_[next_shadow++];
      if (model.shadow->model == model.name) fail(at, "a model cannot shadow itself");
      if (config_.find_model(model.shadow->model) == nullptr) {
        fail(at, "no model named " + quote_value(model.shadow->model));
      }
    }
    for (const auto& [name, at] : shadow_models_) {
      if (config_.find_model(name) == nullptr) fail(at, "no model named " + quote_value(name));
    }
    if (const Field* field = top.get("prompts")) {
      for (const auto& item : list_items(*field)) load_prompt(item);
    }
    if (const Field* field = top.get("flows")) {
      for (const auto& item : list_items(*field)) load_flow_entry(item);
    }
    if (const Field* field = top.get("knowledge")) {
      for (const auto& item : list_items(*field)) load_knowledge(item);
    }
    if (const Field* field = top.get("vector_stores")) load_vector_stores(*field);
    if (const Field* field = top.get("copilots")) {
      for (const auto& item : list_items(*field)) load_copilot(item);
    }
    // DESIGN.md: an exposed gateway must not be open to anyone who can reach it.
    if (const Field* field = top.get("listen");
        field != nullptr && config_.api_keys.empty() && !is_loopback_host(config_.server.host)) {
      fail(*field, "api_keys are required when listening on a non-loopback address (" +
                       quote_value(config_.server.host) + ")");
    }
  }

 private:
  std::vector<Field> shadow_fields_;  // each shadowing model's `shadow.model`, in order
  std::vector<std::pair<std::string, Field>> shadow_models_;  // shadow judges, embedding models
  struct Scalar {
    std::string raw;    // as written in the file
    std::string value;  // after ${VAR} interpolation
  };

  Scalar scalar(const Field& field, const char* expected) {
    if (field.node.IsNull()) fail(field, std::string("missing value (expected ") + expected + ")");
    if (!field.node.IsScalar()) {
      fail(field, std::string("expected ") + expected + ", got " + shape_of(field.node));
    }
    Scalar out;
    out.raw = restore_refs(field.node.Scalar());
    out.value = interpolate_env(out.raw, &config_.unset_vars);
    return out;
  }

  // How an error shows a bad value: the file's text, never what the environment supplied.
  static std::string shown(const Scalar& s) {
    if (s.raw == s.value) return quote_value(s.value);
    return "the value of " + quote_value(s.raw);
  }

  std::string text(const Field& field) { return scalar(field, "a string").value; }

  // For secrets: the same checks, with nothing echoed.
  std::string secret(const Field& field) {
    std::string value = text(field);
    if (value.find_first_of("\r\n") != std::string::npos || value.find('\0') != std::string::npos) {
      fail(field, "contains a line break or NUL");
    }
    return value;
  }

  // A key (api_key, api_keys): a single token. Whitespace means the YAML went wrong — an
  // unterminated quote folds the rest of the file into the value — or the key was pasted badly.
  std::string credential(const Field& field) {
    std::string value = secret(field);
    for (unsigned char c : value) {
      if (c <= 0x20 || c == 0x7f) {
        fail(field, "contains whitespace or a control character (an unterminated quote?)");
      }
    }
    return value;
  }

  int64_t integer(const Field& field, int64_t min, int64_t max) {
    const Scalar s = scalar(field, "an integer");
    int64_t value = 0;
    const std::string& v = s.value;
    const char* begin = v.data() + (v.size() > 1 && v[0] == '+' ? 1 : 0);
    const char* end = v.data() + v.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec == std::errc::result_out_of_range) fail(field, "out of range: " + shown(s));
    if (ec != std::errc() || ptr != end || v.empty()) {
      fail(field, "expected an integer, got " + shown(s));
    }
    const std::string got = s.raw == s.value ? v : shown(s);
    if (value < min) fail(field, "must be at least " + std::to_string(min) + ", got " + got);
    if (value > max) fail(field, "must be at most " + std::to_string(max) + ", got " + got);
    return value;
  }

  int int_at_least(const Field& field, int min) {
    return static_cast<int>(integer(field, min, std::numeric_limits<int>::max()));
  }

  double number(const Field& field) {
    const Scalar s = scalar(field, "a number");
    const std::string& v = s.value;
    char* end = nullptr;
    errno = 0;
    const double value = v.empty() ? 0 : std::strtod(v.c_str(), &end);
    // strtod also takes "inf", "nan" and hex; a weight must be a plain finite number.
    if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE || !std::isfinite(value) ||
        v.find_first_of("xXnN") != std::string::npos) {
      fail(field, "expected a number, got " + shown(s));
    }
    return value;
  }

  bool boolean(const Field& field) {
    const Scalar s = scalar(field, "true or false");
    std::string lower;
    for (char c : s.value) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "false" || lower == "no" || lower == "off") return false;
    fail(field, "expected true or false, got " + shown(s));
  }

  template <typename Enum>
  Enum choice(const Field& field, const char* what,
              std::initializer_list<std::pair<std::string_view, Enum>> options) {
    const Scalar s = scalar(field, what);
    std::string expected;
    for (const auto& [name, value] : options) {
      if (s.value == name) return value;
      expected += (expected.empty() ? "" : ", ") + std::string(name);
    }
    fail(field, std::string("unknown ") + what + " " + shown(s) + " (expected " + expected + ")");
  }

  // Reads `key` into `out` when the map has it.
  void optional_int(const MapReader& map, std::string_view key, int& out, int min) {
    if (const Field* f = map.get(key)) out = int_at_least(*f, min);
  }

  void load_server(const Field& field) {
    const MapReader map(
        field, {"threads", "max_body_bytes", "header_timeout_ms", "idle_timeout_ms",
                "body_timeout_ms", "send_timeout_ms", "shutdown_grace_ms", "max_in_flight"});
    ServerConfig& server = config_.server;
    optional_int(map, "threads", server.threads, 0);
    if (const Field* f = map.get("max_body_bytes")) {
      server.max_body_bytes =
          static_cast<size_t>(integer(*f, 1, std::numeric_limits<int64_t>::max()));
    }
    optional_int(map, "header_timeout_ms", server.header_timeout_ms, 1);
    optional_int(map, "idle_timeout_ms", server.idle_timeout_ms, 1);
    optional_int(map, "body_timeout_ms", server.body_timeout_ms, 1);
    optional_int(map, "send_timeout_ms", server.send_timeout_ms, 1);
    optional_int(map, "shutdown_grace_ms", server.shutdown_grace_ms, 0);
    optional_int(map, "max_in_flight", server.max_in_flight, 0);
  }

  void load_log_retention(const Field& field) {
    const MapReader map(field, {"days", "max_requests"});
    LogRetentionConfig& retention = config_.log_retention;
    // A map is the whole policy (a key left out is off); `log_retention:` with everything
    // commented out is as if absent, like the other sections.
    if (!field.node.IsNull()) retention = LogRetentionConfig{.days = 0, .max_requests = 0};
    // Up to 100 years: days are turned into milliseconds.
    if (const Field* f = map.get("days")) retention.days = integer(*f, 0, 36'500);
    if (const Field* f = map.get("max_requests")) {
      retention.max_requests = integer(*f, 0, std::numeric_limits<int64_t>::max());
    }
  }

  void load_tracing(const Field& field) {
    const MapReader map(field, {"otlp_endpoint", "headers", "service_name", "batch_spans",
                                "queue_traces", "flush_interval_ms", "timeout_ms"});
    TracingConfig& tracing = config_.tracing;
    if (const Field* f = map.get("otlp_endpoint")) tracing.otlp_endpoint = base_url(*f);
    if (const Field* f = map.get("headers")) tracing.headers = string_map(*f, true);
    if (const Field* f = map.get("service_name")) tracing.service_name = text(*f);
    optional_int(map, "batch_spans", tracing.batch_spans, 1);
    optional_int(map, "queue_traces", tracing.queue_traces, 1);
    optional_int(map, "flush_interval_ms", tracing.flush_interval_ms, 1);
    optional_int(map, "timeout_ms", tracing.timeout_ms, 1);
  }

  void load_router(const Field& field) {
    const MapReader map(field, {"backoff_base_ms", "backoff_max_ms", "retry_after_cap_ms",
                                "breaker_failures", "breaker_cooldown_ms"});
    RouterConfig& router = config_.router;
    // Zero is allowed where it means "no wait", which tests rely on.
    optional_int(map, "backoff_base_ms", router.backoff_base_ms, 0);
    optional_int(map, "backoff_max_ms", router.backoff_max_ms, 0);
    optional_int(map, "retry_after_cap_ms", router.retry_after_cap_ms, 0);
    optional_int(map, "breaker_failures", router.breaker_failures, 1);
    optional_int(map, "breaker_cooldown_ms", router.breaker_cooldown_ms, 0);
    if (router.backoff_max_ms < router.backoff_base_ms) {
      const Field* at = map.get("backoff_max_ms");
      fail(at != nullptr ? *at : *map.get("backoff_base_ms"),
           "backoff_max_ms (" + std::to_string(router.backoff_max_ms) +
               ") is less than backoff_base_ms (" + std::to_string(router.backoff_base_ms) + ")");
    }
  }

  void load_provider(const Field& item) {
    const MapReader map(
        item, {"name", "kind", "base_url", "api_key", "api_version", "headers", "model", "threads",
               "parallel", "context", "poll", "connect_timeout_ms", "documents"});
    ProviderConfig provider;
    const Field& name = map.require("name");
    provider.name = text(name);
    if (provider.name.empty()) fail(name, "must not be empty");
    if (config_.find_provider(provider.name) != nullptr) {
      fail(name, "duplicate provider name " + quote_value(provider.name));
    }
    provider.kind = choice<ProviderKind>(map.require("kind"), "kind",
                                         {{"openai", ProviderKind::kOpenAI},
                                          {"azure", ProviderKind::kAzure},
                                          {"anthropic", ProviderKind::kAnthropic},
                                          {"gemini", ProviderKind::kGemini},
                                          {"local", ProviderKind::kLocal}});
    const bool local = provider.kind == ProviderKind::kLocal;
    // A key that the kind ignores is almost always a mistake (a model name on a remote provider).
    auto only_for = [&](std::string_view key, bool allowed, const char* kinds) {
      const Field* f = map.get(key);
      if (f != nullptr && !allowed) {
        fail(*f, std::string("not used by kind ") + provider_kind_name(provider.kind) + " (only " +
                     kinds + ")");
      }
      return f;
    };

    if (const Field* f = only_for("base_url", !local, "remote kinds")) {
      provider.base_url = base_url(*f);
    }
    if (const Field* f = only_for("api_key", !local, "remote kinds")) {
      provider.api_key = credential(*f);
    }
    if (const Field* f = only_for("api_version", provider.kind == ProviderKind::kAzure, "azure")) {
      provider.api_version = text(*f);
    }
    if (const Field* f = only_for("headers", !local, "remote kinds")) load_headers(*f, provider);
    if (const Field* f = only_for("connect_timeout_ms", !local, "remote kinds")) {
      provider.connect_timeout_ms = int_at_least(*f, 1);
    }
    const bool openai_like =
        provider.kind == ProviderKind::kOpenAI || provider.kind == ProviderKind::kAzure;
    if (const Field* f = only_for("documents", openai_like, "openai, azure")) {
      provider.documents = boolean(*f);
    }
    if (const Field* f = only_for("model", local, "local")) {
      provider.model_path = text(*f);
      if (provider.model_path.empty()) fail(*f, "must not be empty");
    }
    if (const Field* f = only_for("threads", local, "local")) {
      provider.threads = int_at_least(*f, 0);
    }
    if (const Field* f = only_for("parallel", local, "local")) {
      provider.parallel = int_at_least(*f, 1);
    }
    if (const Field* f = only_for("context", local, "local")) {
      provider.context = int_at_least(*f, 0);
    }
    if (const Field* f = only_for("poll", local, "local")) {
      provider.poll = static_cast<int>(integer(*f, 0, 100));
    }

    if (local && map.get("model") == nullptr) {
      fail(item, "missing required key \"model\" (the GGUF file) for kind local");
    }
    if (provider.kind == ProviderKind::kAzure) {
      // Azure has no default endpoint: the resource name is part of the URL.
      for (const auto& [key, value] :
           {std::pair<const char*, const std::string*>{"base_url", &provider.base_url},
            {"api_version", &provider.api_version}}) {
        const Field* f = map.get(key);
        if (f == nullptr) {
          fail(item, std::string("missing required key \"") + key + "\" for kind azure");
        }
        if (value->empty()) fail(*f, "must not be empty for kind azure");
      }
    }
    config_.providers.push_back(std::move(provider));
  }

  std::string base_url(const Field& field) {
    const Scalar s = scalar(field, "a string");
    std::string url = s.value;
    if (url.empty()) return url;  // e.g. ${BASE_URL:-}: the kind's default
    std::string_view rest;
    if (url.rfind("http://", 0) == 0) {
      rest = std::string_view(url).substr(7);
    } else if (url.rfind("https://", 0) == 0) {
      rest = std::string_view(url).substr(8);
    } else {
      fail(field, "must start with http:// or https://, got " + shown(s));
    }
    if (rest.empty() || rest.front() == '/') fail(field, "missing host in " + shown(s));
    // Credentials in a URL would end up in logs; keys belong in api_key (nothing echoed).
    if (rest.substr(0, rest.find('/')).find('@') != std::string_view::npos) {
      fail(field, "must not contain credentials (user:password@); use api_key");
    }
    for (unsigned char c : url) {
      if (c <= 0x20 || c == 0x7f) fail(field, "contains a space or control character");
    }
    // Providers append paths ("/chat/completions"); a trailing slash would double it.
    while (url.size() > 1 && url.back() == '/') url.pop_back();
    return url;
  }

  // pricing: {MODEL: {input_per_mtok, output_per_mtok}}; MODEL is "provider/model" or a model.
  void load_pricing(const Field& field) {
    if (field.node.IsNull()) return;
    if (!field.node.IsMap())
      fail(field, std::string("expected a map, got ") + shape_of(field.node));
    for (auto it = field.node.begin(); it != field.node.end(); ++it) {
      const int mark_line = it->first.Mark().line;
      const int line = mark_line >= 0 ? mark_line + 1 : field.line;
      if (!it->first.IsScalar()) fail(Field{it->first, field.path, line}, "expected a model name");
      const std::string name = restore_refs(it->first.Scalar());
      const Field value{it->second, join(field.path, name), line};
      if (name.empty()) fail(value, "expected a model name");
      if (config_.pricing.count(name)) fail(value, "repeated model");
      const MapReader map(value, {"input_per_mtok", "output_per_mtok"});
      ModelPrice& price = config_.pricing[name];
      for (auto [key, out] : {std::pair{"input_per_mtok", &price.input_per_mtok},
                              std::pair{"output_per_mtok", &price.output_per_mtok}}) {
        if (const Field* f = map.get(key)) {
          *out = number(*f);
          if (*out < 0) fail(*f, "must not be negative");
        }
      }
    }
  }

  void load_headers(const Field& field, ProviderConfig& provider) {
    if (field.node.IsNull()) return;
    if (!field.node.IsMap()) {
      fail(field, std::string("expected a map, got ") + shape_of(field.node));
    }
    std::set<std::string> seen;
    for (auto it = field.node.begin(); it != field.node.end(); ++it) {
      const int mark_line = it->first.Mark().line;
      const int line = mark_line >= 0 ? mark_line + 1 : field.line;
      if (!it->first.IsScalar()) fail(Field{it->first, field.path, line}, "expected a header name");
      const std::string name = restore_refs(it->first.Scalar());
      const Field value{it->second, join(field.path, name), line};
      // RFC 9110 token characters: anything else could split or forge a header.
      const bool token =
          !name.empty() &&
          name.find_first_not_of(
              "!#$%&'*+-.^_`|~0123456789"
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == std::string::npos;
      if (!token) fail(value, "not a valid header name");
      std::string lower;
      for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!seen.insert(lower).second) fail(value, "repeated header");
      // Header values often carry credentials: secret() echoes nothing.
      provider.headers[name] = secret(value);
    }
  }

  void load_model(const Field& item) {
    const MapReader map(
        item, {"name", "strategy", "retries", "timeout_ms", "first_token_timeout_ms", "targets",
               "shadow", "tools", "max_tool_rounds"});
    ModelConfig model;
    const Field& name = map.require("name");
    model.name = text(name);
    if (model.name.empty()) fail(name, "must not be empty");
    if (config_.find_model(model.name) != nullptr) {
      fail(name, "duplicate model name " + quote_value(model.name));
    }
    if (const Field* f = map.get("strategy")) {
      model.strategy = choice<Strategy>(*f, "strategy",
                                        {{"failover", Strategy::kFailover},
                                         {"weighted", Strategy::kWeighted},
                                         {"least-latency", Strategy::kLeastLatency}});
    }
    if (const Field* f = map.get("retries")) model.retries = int_at_least(*f, 0);
    if (const Field* f = map.get("timeout_ms")) model.timeout_ms = int_at_least(*f, 1);
    if (const Field* f = map.get("first_token_timeout_ms")) {
      model.first_token_timeout_ms = int_at_least(*f, 1);
    }
    if (const Field* f = map.get("tools")) model.tools = toolsets_named(*f);
    if (const Field* f = map.get("max_tool_rounds")) {
      model.max_tool_rounds = static_cast<int>(integer(*f, 1, 100));
    }
    const Field& targets = map.require("targets");
    for (const auto& target_item : list_items(targets)) {
      model.targets.push_back(load_target(target_item));
    }
    if (model.targets.empty()) fail(targets, "must list at least one target");
    if (const Field* f = map.get("shadow")) {
      const MapReader shadow_map(
          *f, {"model", "percent", "evaluators", "max_concurrency", "judge", "embedding_model"});
      ShadowConfig shadow;
      shadow.model = text(shadow_map.require("model"));
      shadow.percent = number(shadow_map.require("percent"));
      if (shadow.percent < 0 || shadow.percent > 100) {
        fail(*shadow_map.get("percent"), "must be between 0 and 100");
      }
      if (const Field* e = shadow_map.get("evaluators")) {
        shadow.evaluators.clear();
        for (const auto& name : list_items(*e)) shadow.evaluators.push_back(text(name));
      }
      if (const Field* c = shadow_map.get("max_concurrency")) {
        shadow.max_concurrency = int_at_least(*c, 1);
      }
      for (auto [key, target] : {std::pair{"judge", &shadow.judge},
                                 std::pair{"embedding_model", &shadow.embedding_model}}) {
        if (const Field* m = shadow_map.get(key)) {
          *target = text(*m);
          shadow_models_.emplace_back(*target, *m);
        }
      }
      model.shadow = std::move(shadow);
      shadow_fields_.push_back(shadow_map.require("model"));
    }
    config_.models.push_back(std::move(model));
  }

  // A list of toolset names (a model's or a copilot's `tools:`), each one configured.
  std::vector<std::string> toolsets_named(const Field& field) {
    std::vector<std::string> out;
    for (const auto& entry : list_items(field)) {
      std::string toolset = text(entry);
      if (config_.find_toolset(toolset) == nullptr) {
        fail(entry, "no toolset named " + quote_value(toolset));
      }
      out.push_back(std::move(toolset));
    }
    return out;
  }

  std::vector<std::string> names(const Field& field) {
    std::vector<std::string> out;
    for (const auto& entry : list_items(field)) out.push_back(text(entry));
    return out;
  }

  std::map<std::string, std::string> string_map(const Field& field, bool secret_values) {
    std::map<std::string, std::string> out;
    if (field.node.IsNull()) return out;
    if (!field.node.IsMap()) fail(field, std::string("expected a map, got ") + shape_of(field.node));
    for (auto it = field.node.begin(); it != field.node.end(); ++it) {
      const int mark_line = it->first.Mark().line;
      const std::string key = restore_refs(it->first.Scalar());
      const Field value{it->second, join(field.path, key), mark_line >= 0 ? mark_line + 1 : field.line};
      if (key.empty()) fail(value, "empty name");
      out[key] = secret_values ? secret(value) : text(value);
    }
    return out;
  }

  void load_auth(const Field& field, ToolsetConfig::Auth& auth) {
    const MapReader map(field, {"type", "token", "username", "password", "in", "name", "value",
                                "values"});
    const Field& type = map.require("type");
    auth.type = text(type);
    const auto need = [&](const char* key) { return secret(map.require(key)); };
    if (auth.type == "bearer") {
      auth.token = need("token");
    } else if (auth.type == "basic") {
      auth.username = need("username");
      auth.password = need("password");
    } else if (auth.type == "api_key") {
      if (const Field* f = map.get("in")) {
        auth.in = text(*f);
        if (auth.in != "header" && auth.in != "query") fail(*f, "must be header or query");
      }
      if (const Field* f = map.get("values")) auth.values = string_map(*f, true);
      if (const Field* f = map.get("name")) auth.values[text(*f)] = need("value");
      if (auth.values.empty()) fail(field, "api_key needs name and value, or values");
    } else {
      fail(type, "unknown auth type " + quote_value(auth.type) + " (bearer, basic, api_key)");
    }
  }

  void load_toolset(const Field& item) {
    const MapReader map(
        item, {"name", "kind", "allow", "command", "args", "env", "url", "headers", "tools",
               "allow_hosts", "timeout_ms", "startup_timeout_ms", "max_output_bytes", "spec",
               "base_url", "operations", "auth", "preset"});
    ToolsetConfig toolset;
    const Field& name = map.require("name");
    toolset.name = text(name);
    // Tool names offered to models are built from it: keep it to every vendor's name rules.
    if (toolset.name.empty() || toolset.name.size() > 64 ||
        toolset.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789_-") != std::string::npos) {
      fail(name, "must be 1-64 letters, digits, _ or -, got " + quote_value(toolset.name));
    }
    if (config_.find_toolset(toolset.name) != nullptr) {
      fail(name, "duplicate toolset name " + quote_value(toolset.name));
    }
    const Field& kind = map.require("kind");
    toolset.kind = choice<ToolsetKind>(kind, "toolset kind",
                                       {{"mcp", ToolsetKind::kMcp},
                                        {"builtin", ToolsetKind::kBuiltin},
                                        {"openapi", ToolsetKind::kOpenApi}});
    if (const Field* f = map.get("allow")) toolset.allow = names(*f);
    if (const Field* f = map.get("timeout_ms")) toolset.timeout_ms = int_at_least(*f, 1);
    if (const Field* f = map.get("startup_timeout_ms")) {
      toolset.startup_timeout_ms = int_at_least(*f, 1);
    }
    if (const Field* f = map.get("max_output_bytes")) {
      toolset.max_output_bytes = integer(*f, 1, int64_t{1} << 30);
    }
    const auto only_for = [&](std::initializer_list<std::string_view> keys, const char* what) {
      for (auto key : keys) {
        if (const Field* f = map.get(key)) fail(*f, std::string("only for ") + what);
      }
    };
    if (toolset.kind != ToolsetKind::kOpenApi) {
      only_for({"spec", "base_url", "operations", "auth", "preset"}, "kind openapi");
    }
    if (toolset.kind == ToolsetKind::kOpenApi) {
      only_for({"command", "args", "env", "url", "headers", "startup_timeout_ms", "tools"},
               "kind mcp or builtin");
      const Field& spec = map.require("spec");
      toolset.spec = text(spec);
      if (toolset.spec.empty()) fail(spec, "must not be empty");
      if (const Field* f = map.get("base_url")) toolset.base_url = base_url(*f);
      if (const Field* f = map.get("operations")) toolset.operations = names(*f);
      if (const Field* f = map.get("allow_hosts")) toolset.allow_hosts = names(*f);
      if (const Field* f = map.get("auth")) load_auth(*f, toolset.auth);
      if (const Field* f = map.get("preset")) {
        toolset.preset = text(*f);
        if (std::find_if(std::begin(kOpenApiPresetNames), std::end(kOpenApiPresetNames),
                         [&](const char* known) { return toolset.preset == known; }) ==
            std::end(kOpenApiPresetNames)) {
          fail(*f, "toolset " + quote_value(toolset.name) + ": no preset named " +
                       quote_value(toolset.preset) + " (jira, trello, servicenow, sap)");
        }
      }
    } else if (toolset.kind == ToolsetKind::kMcp) {
      only_for({"tools", "allow_hosts"}, "kind builtin");
      if (const Field* f = map.get("command")) toolset.command = text(*f);
      if (const Field* f = map.get("args")) toolset.args = names(*f);
      if (const Field* f = map.get("env")) toolset.env = string_map(*f, true);
      if (const Field* f = map.get("url")) toolset.url = base_url(*f);
      if (const Field* f = map.get("headers")) toolset.headers = string_map(*f, true);
      if (toolset.command.empty() == toolset.url.empty()) {
        fail(item, "toolset " + quote_value(toolset.name) +
                       ": kind mcp needs either command (stdio) or url (streamable HTTP)");
      }
      if (!toolset.url.empty()) only_for({"command", "args", "env"}, "stdio (command)");
      if (!toolset.command.empty()) only_for({"headers"}, "streamable HTTP (url)");
    } else {
      only_for({"command", "args", "env", "url", "headers", "startup_timeout_ms"}, "kind mcp");
      const Field& tools = map.require("tools");
      for (const auto& entry : list_items(tools)) {
        std::string tool = text(entry);
        if (std::find_if(std::begin(kBuiltinToolNames), std::end(kBuiltinToolNames),
                         [&](const char* known) { return tool == known; }) ==
            std::end(kBuiltinToolNames)) {
          fail(entry, "toolset " + quote_value(toolset.name) + ": no builtin tool named " +
                          quote_value(tool) + " (current_time, calculator, http_fetch)");
        }
        toolset.tools.push_back(std::move(tool));
      }
      if (toolset.tools.empty()) fail(tools, "must list at least one tool");
      if (const Field* f = map.get("allow_hosts")) toolset.allow_hosts = names(*f);
    }
    config_.toolsets.push_back(std::move(toolset));
  }

  void load_prompt(const Field& item) {
    const MapReader map(item, {"name", "file", "model", "variants"});
    PromptConfig prompt;
    prompt.line = item.line;
    const Field& name = map.require("name");
    prompt.name = text(name);
    if (prompt.name.empty()) fail(name, "must not be empty");
    if (config_.find_prompt(prompt.name) != nullptr) {
      fail(name, "duplicate prompt name " + quote_value(prompt.name));
    }
    const Field& file = map.require("file");
    prompt.file = text(file);
    if (prompt.file.empty()) fail(file, "must not be empty");
    if (const Field* f = map.get("model")) {
      prompt.model = text(*f);
      if (config_.find_model(prompt.model) == nullptr) {
        fail(*f, "no model named " + quote_value(prompt.model));
      }
    }
    if (const Field* f = map.get("variants"); f != nullptr && !f->node.IsNull()) {
      if (!f->node.IsMap()) fail(*f, std::string("expected a map, got ") + shape_of(f->node));
      for (auto it = f->node.begin(); it != f->node.end(); ++it) {
        const int mark_line = it->first.Mark().line;
        const Field value{it->second, join(f->path, it->first.Scalar()),
                          mark_line >= 0 ? mark_line + 1 : f->line};
        const std::string key = restore_refs(it->first.Scalar());
        if (key.empty())
          fail(value, "a variant needs a key (provider kind, provider name or model glob)");
        const std::string path = text(value);
        if (path.empty()) fail(value, "must not be empty");
        prompt.variants.emplace_back(key, path);
      }
    }
    config_.prompts.push_back(std::move(prompt));
  }

  void load_flow_entry(const Field& item) {
    const MapReader map(item, {"name", "path", "models"});
    FlowConfig flow;
    flow.line = item.line;
    const Field& name = map.require("name");
    flow.name = text(name);
    if (flow.name.empty()) fail(name, "must not be empty");
    for (const auto& other : config_.flows) {
      if (other.name == flow.name) fail(name, "duplicate flow name " + quote_value(flow.name));
    }
    const Field& path = map.require("path");
    flow.path = text(path);
    if (flow.path.empty()) fail(path, "must not be empty");
    if (const Field* f = map.get("models"); f != nullptr && !f->node.IsNull()) {
      if (!f->node.IsMap()) fail(*f, std::string("expected a map, got ") + shape_of(f->node));
      for (auto it = f->node.begin(); it != f->node.end(); ++it) {
        const int mark_line = it->first.Mark().line;
        const Field value{it->second, join(f->path, it->first.Scalar()),
                          mark_line >= 0 ? mark_line + 1 : f->line};
        const std::string model = text(value);
        if (config_.find_model(model) == nullptr) {
          fail(value, "no model named " + quote_value(model));
        }
        flow.models[restore_refs(it->first.Scalar())] = model;
      }
    }
    config_.flows.push_back(std::move(flow));
  }

 public:
  // One `copilots:` entry (parse_copilot_entry checks one alone). Models, copilots and flows
  // share one namespace of public names (DESIGN.md).
  void load_copilot(const Field& item) {
    const MapReader map(item, {"name", "instructions", "model", "tools", "knowledge", "starters",
                               "max_tool_rounds", "approval", "top_k"});
    CopilotConfig copilot;
    copilot.line = item.line;
    const Field& name = map.require("name");
    copilot.name = text(name);
    if (copilot.name.empty()) fail(name, "must not be empty");
    if (config_.find_copilot(copilot.name) != nullptr) {
      fail(name, "duplicate copilot name " + quote_value(copilot.name));
    }
    if (config_.find_model(copilot.name) != nullptr) {
      fail(name, quote_value(copilot.name) +
                     " is already a model's name (models, copilots and flows share one namespace)");
    }
    for (const auto& flow : config_.flows) {
      if (flow.name == copilot.name) {
        fail(name,
             quote_value(copilot.name) +
                 " is already a flow's name (models, copilots and flows share one namespace)");
      }
    }
    if (const Field* f = map.get("instructions")) {
      std::string value = text(*f);
      // A value that names a .prompty file is one; anything else is the text itself.
      const bool file = value.size() > 8 && value.find('\n') == std::string::npos &&
                        value.compare(value.size() - 8, 8, ".prompty") == 0;
      (file ? copilot.instructions_file : copilot.instructions) = std::move(value);
    }
    const Field& model = map.require("model");
    copilot.model = text(model);
    if (config_.find_model(copilot.model) == nullptr) {
      fail(model, "no model named " + quote_value(copilot.model) +
                      " (a copilot's model is a public model from models:)");
    }
    if (const Field* f = map.get("tools")) copilot.tools = toolsets_named(*f);
    if (const Field* f = map.get("knowledge")) {
      for (const auto& entry : list_items(*f)) {
        std::string base = text(entry);
        if (base.empty()) fail(entry, "must not be empty");
        if (config_.find_knowledge(base) == nullptr) {
          fail(entry, "no knowledge base named " + quote_value(base) + " (knowledge:)");
        }
        copilot.knowledge.push_back(std::move(base));
      }
    }
    if (const Field* f = map.get("starters")) copilot.starters = names(*f);
    if (const Field* f = map.get("max_tool_rounds")) {
      copilot.max_tool_rounds = static_cast<int>(integer(*f, 1, 100));
    }
    if (const Field* f = map.get("top_k")) copilot.top_k = static_cast<int>(integer(*f, 1, 50));
    if (const Field* f = map.get("approval")) {
      for (const auto& entry : list_items(*f)) {
        std::string tool = text(entry);
        if (tool.empty()) fail(entry, "must not be empty");
        // A toolset, or toolset/tool, must be one of this copilot's; a bare tool name can only
        // be checked once its toolset lists its tools.
        const std::string toolset = tool.substr(0, tool.find('/'));
        const bool names_toolset =
            tool.find('/') != std::string::npos || config_.find_toolset(toolset) != nullptr;
        if (names_toolset &&
            std::find(copilot.tools.begin(), copilot.tools.end(), toolset) == copilot.tools.end()) {
          fail(entry, quote_value(toolset) + " is not one of this copilot's tools");
        }
        copilot.approval.push_back(std::move(tool));
      }
    }
    if (!copilot.approval.empty() && copilot.tools.empty()) {
      fail(*map.get("approval"), "the copilot has no tools to approve");
    }
    config_.copilots.push_back(std::move(copilot));
  }

 private:
  void load_knowledge(const Field& item) {
    const MapReader map(item,
                        {"name", "sources", "embedding_model", "chunk_tokens", "overlap_tokens",
                         "rerank_model", "index", "embed_batch", "embedding_max_tokens"});
    KnowledgeConfig base;
    base.line = item.line;
    const Field& name = map.require("name");
    base.name = text(name);
    if (base.name.empty()) fail(name, "must not be empty");
    if (base.name.find_first_of("/\\") != std::string::npos || base.name[0] == '.') {
      fail(name, "must not contain / or \\ or start with . (it names the index's folder)");
    }
    if (config_.find_knowledge(base.name) != nullptr) {
      fail(name, "duplicate knowledge base name " + quote_value(base.name));
    }
    const Field& sources = map.require("sources");
    for (const auto& entry : list_items(sources)) {
      std::string source = text(entry);
      if (source.empty()) fail(entry, "must not be empty");
      base.sources.push_back(std::move(source));
    }
    if (base.sources.empty()) fail(sources, "must list at least one file, folder or glob");
    const Field& model = map.require("embedding_model");
    base.embedding_model = text(model);
    check_embedding_model(model, base.embedding_model);
    if (const Field* f = map.get("chunk_tokens")) base.chunk_tokens = integer(*f, 16, 8192);
    if (const Field* f = map.get("overlap_tokens")) base.overlap_tokens = integer(*f, 0, 4096);
    if (base.overlap_tokens >= base.chunk_tokens) {
      const Field* f = map.get("overlap_tokens");
      fail(f ? *f : item, "overlap_tokens (" + std::to_string(base.overlap_tokens) +
                              ") must be less than chunk_tokens (" +
                              std::to_string(base.chunk_tokens) + ")");
    }
    if (const Field* f = map.get("rerank_model")) {
      base.rerank_model = text(*f);
      if (config_.find_model(base.rerank_model) == nullptr) {
        fail(*f, "no model named " + quote_value(base.rerank_model));
      }
    }
    if (const Field* f = map.get("index")) {
      base.index = text(*f);
      if (base.index.empty()) fail(*f, "must not be empty");
      for (const auto& other : config_.knowledge) {
        if (!other.index.empty() && other.index == base.index) {
          fail(*f, "knowledge base " + quote_value(other.name) + " already uses this index");
        }
      }
    }
    if (const Field* f = map.get("embed_batch")) base.embed_batch = integer(*f, 1, 2048);
    if (const Field* f = map.get("embedding_max_tokens"))
      base.embedding_max_tokens = integer(*f, 1, 1'000'000);
    config_.knowledge.push_back(std::move(base));
  }

  // `vector_stores:` how /v1/vector_stores chunks and embeds uploads (knowledge's fields).
  void load_vector_stores(const Field& field) {
    const MapReader map(field, {"embedding_model", "chunk_tokens", "overlap_tokens", "embed_batch",
                                "embedding_max_tokens"});
    KnowledgeConfig& stores = config_.vector_stores;
    const Field& model = map.require("embedding_model");
    stores.embedding_model = text(model);
    check_embedding_model(model, stores.embedding_model);
    if (const Field* f = map.get("chunk_tokens")) stores.chunk_tokens = integer(*f, 16, 8192);
    if (const Field* f = map.get("overlap_tokens")) stores.overlap_tokens = integer(*f, 0, 4096);
    if (stores.overlap_tokens >= stores.chunk_tokens) {
      fail(field, "overlap_tokens (" + std::to_string(stores.overlap_tokens) +
                      ") must be less than chunk_tokens (" + std::to_string(stores.chunk_tokens) +
                      ")");
    }
    if (const Field* f = map.get("embed_batch")) stores.embed_batch = integer(*f, 1, 2048);
    if (const Field* f = map.get("embedding_max_tokens"))
      stores.embedding_max_tokens = integer(*f, 1, 1'000'000);
  }

  void check_embedding_model(const Field& field, const std::string& name) {
    const ModelConfig* embedder = config_.find_model(name);
    if (embedder == nullptr) fail(field, "no model named " + quote_value(name));
    const bool embeds = std::any_of(
        embedder->targets.begin(), embedder->targets.end(), [&](const TargetConfig& target) {
          const ProviderConfig* provider = config_.find_provider(target.provider);
          return provider != nullptr && provider->kind != ProviderKind::kAnthropic;
        });
    if (!embeds) {
      fail(field, "model " + quote_value(name) +
                      " has no target that serves embeddings (anthropic has none)");
    }
  }

  TargetConfig load_target(const Field& item) {
    const MapReader map(item, {"provider", "model", "weight"});
    TargetConfig target;
    const Field& provider = map.require("provider");
    target.provider = text(provider);
    if (config_.find_provider(target.provider) == nullptr) {
      std::string known;
      for (const auto& p : config_.providers) known += (known.empty() ? "" : ", ") + p.name;
      fail(provider, "no provider named " + quote_value(target.provider) +
                         " (configured: " + (known.empty() ? "none" : known) + ")");
    }
    const Field& model = map.require("model");
    target.model = text(model);
    if (target.model.empty()) fail(model, "must not be empty");
    if (const Field* f = map.get("weight")) {
      target.weight = number(*f);
      if (!(target.weight > 0)) fail(*f, "must be greater than 0");
    }
    return target;
  }

  Config& config_;
};

// Where each document of a YAML stream has its root node; builds nothing.
class DocumentRoots final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark&) override { in_document_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { root(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { root(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    root(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    root(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    root(mark);
  }
  void OnMapEnd() override {}

 private:
  void root(const YAML::Mark& mark) {
    if (in_document_) marks.push_back(mark);
    in_document_ = false;
  }
  bool in_document_ = false;
};

Error config_error(const std::string& source, int line, const std::string& path,
                   const std::string& reason) {
  std::string message = source + ":" + std::to_string(line) + ": ";
  if (!path.empty()) message += path + ": ";
  return Error(ErrorCode::kInvalidArgument, message + reason);
}

LoadError at_mark(const YAML::Mark& mark, std::string reason) {
  return LoadError{mark.line >= 0 ? mark.line + 1 : 1, "", std::move(reason),
                   mark.column >= 0 ? mark.column + 1 : 0};
}

// The one YAML document of `text` (refs protected), or a null node for an empty text.
std::variant<YAML::Node, LoadError> load_document(const std::string& text) {
  try {
    // Not YAML::LoadAll: on some malformed input ("," for one) yaml-cpp 0.7 reports an empty
    // document at the same place forever and LoadAll never returns (yaml-cpp issue #1040,
    // fixed after 0.8). Count the documents first, stopping when the parser stops advancing.
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentRoots roots;
    while (parser.HandleNextDocument(roots)) {
      const auto& marks = roots.marks;
      if (marks.size() >= 2 && marks.back().pos == marks[marks.size() - 2].pos) {
        return at_mark(marks.back(), "invalid YAML: unexpected character");
      }
    }
    if (roots.marks.size() > 1) {
      return at_mark(roots.marks[1],
                     "expected one YAML document, found " + std::to_string(roots.marks.size()));
    }
    if (roots.marks.empty()) return YAML::Node();
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return at_mark(e.mark, "invalid YAML: " + e.msg);
  }
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text, const std::string& source) {
  Config config;
  config.source = source;
  auto loaded = load_document(protect_refs(yaml_text));
  if (const auto* error = std::get_if<LoadError>(&loaded)) {
    return config_error(source, error->line, "", error->reason);
  }
  const YAML::Node document = std::get<YAML::Node>(std::move(loaded));
  if (document.IsNull()) return config;  // an empty file: every default
  try {
    Loader(config).load(Field{document, "", 1});
  } catch (const LoadError& e) {
    return config_error(source, e.line, e.path, e.reason);
  } catch (const YAML::Exception& e) {
    return config_error(source, e.mark.line >= 0 ? e.mark.line + 1 : 1, "", e.msg);
  }
  return config;
}

std::variant<CopilotConfig, ConfigProblem> parse_copilot_entry(const std::string& yaml_text,
                                                               const Config& config) {
  auto problem = [](const LoadError& error) {
    return ConfigProblem{error.line, error.column, error.path, error.reason};
  };
  auto loaded = load_document(protect_refs(yaml_text));
  if (const auto* error = std::get_if<LoadError>(&loaded)) return problem(*error);
  YAML::Node entry = std::get<YAML::Node>(std::move(loaded));
  // As keel.yaml writes it ("- name: ..."), or the map alone.
  if (entry.IsSequence() && entry.size() == 1) entry = entry[0];
  Config against = config;
  // The copilot being edited is not a duplicate of its running self.
  if (const YAML::Node name_node = entry.IsMap() ? std::as_const(entry)["name"] : YAML::Node();
      name_node.IsDefined() && name_node.IsScalar()) {
    const std::string name = interpolate_env(restore_refs(name_node.Scalar()));
    std::erase_if(against.copilots, [&](const CopilotConfig& c) { return c.name == name; });
  }
  const int line = entry.Mark().line >= 0 ? entry.Mark().line + 1 : 1;
  try {
    if (entry.IsNull()) fail(Field{entry, "", line}, "expected a copilot's map, got nothing");
    Loader(against).load_copilot(Field{entry, "", line});
  } catch (const LoadError& e) {
    return problem(e);
  } catch (const YAML::Exception& e) {
    return problem(at_mark(e.mark, e.msg));
  }
  return std::move(against.copilots.back());
}

Result<Config> load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const ErrorCode code = err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kInvalidArgument;
    return Error(code, path + ": cannot open config file: " + std::strerror(err));
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Error(ErrorCode::kInvalidArgument, path + ": cannot read config file: is a directory");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return Error(ErrorCode::kInvalidArgument, path + ": cannot read config file");
  }
  return parse_config(text.str(), path);
}

}  // namespace keel

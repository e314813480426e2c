// The openapi toolset: each imported operation a tool whose call is one HTTP request, through
// the egress guard, with the toolset's auth.
#include <openssl/evp.h>

#include <algorithm>

#include "core/text.h"
#include "http/egress.h"
#include "tools/openapi/openapi.h"
#include "tools/openapi/presets.h"
#include "tools/tool.h"

namespace keel {

namespace {

std::string base64(std::string_view text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A parameter's value as text: strings as they are, everything else as JSON.
std::string value_text(const Json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

class OpenApiTool final : public Tool {
 public:
  OpenApiTool(const ToolsetConfig& config, std::string base_url, OpenApiOperation operation,
              bool csrf)
      : config_(config),
        base_url_(std::move(base_url)),
        operation_(std::move(operation)),
        csrf_(csrf) {
    policy_.allow_hosts = config.allow_hosts;
  }
  const ToolSpec& spec() const override { return operation_.spec; }

  Task<Result<ToolOutput>> call(const Json& arguments, CancelPtr cancel) override {
    std::string path = operation_.path;
    std::string query;
    ClientRequest request;
    request.method = operation_.method;
    for (const auto& parameter : operation_.parameters) {
      auto value = arguments.find(parameter.name);
      if (value == arguments.end()) continue;
      if (parameter.in == "path") {
        const std::string token = "{" + parameter.name + "}";
        for (size_t at; (at = path.find(token)) != std::string::npos;) {
          path.replace(at, token.size(), percent_encode(value_text(*value)));
        }
      } else if (parameter.in == "query") {
        // An array is OpenAPI's default query style (form, explode): the name once per item.
        const Json items = value->is_array() ? *value : Json::array({*value});
        for (const auto& item : items) {
          query += (query.empty() ? "" : "&") + percent_encode(parameter.name) + "=" +
                   percent_encode(value_text(item));
        }
      } else if (parameter.in == "header") {
        std::string text = value_text(*value);
        if (has_line_break(text)) co_return ToolOutput{parameter.name + ": a line break", true};
        request.headers.emplace_back(parameter.name, std::move(text));
      } else if (parameter.in == "body") {
        if (operation_.body_type == "application/x-www-form-urlencoded" && value->is_object()) {
          std::string form;
          for (const auto& [key, item] : value->items()) {
            form += (form.empty() ? "" : "&") + percent_encode(key) + "=" +
                    percent_encode(value_text(item));
          }
          request.body = std::move(form);
        } else {
          request.body =
              value->is_string() && operation_.body_type.find("json") == std::string::npos
                  ? value->get<std::string>()
                  : value->dump();
        }
        request.headers.emplace_back("content-type", operation_.body_type);
      }
    }
    add_auth(request, query);
    std::string url = base_url_ + path;
    if (!query.empty()) url += (url.find('?') == std::string::npos ? "?" : "&") + query;
    auto parsed = Url::parse(url);
    if (!parsed) co_return ToolOutput{"bad URL for " + operation_.name, true};
    request.url = std::move(parsed.value());
    request.headers.emplace_back("accept", "application/json, */*;q=0.5");
    if (csrf_ && request.method != "GET" && request.method != "HEAD") {
      auto fetched = co_await fetch_csrf_token(cancel);
      if (!fetched) co_return ToolOutput{operation_.name + ": " + fetched.error().message, true};
      for (auto& header : *fetched) request.headers.push_back(std::move(header));
    }
    auto response = co_await egress_send(std::move(request), policy_, cancel);
    // The URL (with api_key query values) is never echoed: only the status and body.
    if (!response) co_return ToolOutput{operation_.name + ": " + response.error().message, true};
    const int status = (*response)->status();
    auto body = co_await (*response)->read_all(static_cast<size_t>(config_.max_output_bytes) * 4);
    std::string text =
        "HTTP " + std::to_string(status) + "\n\n" + (body ? *body : "(body too large)");
    co_return ToolOutput{std::move(text), status >= 400};
  }

 private:
  // The toolset's credentials: headers, or (api_key in query) query parameters.
  void add_auth(ClientRequest& request, std::string& query) const {
    const auto& auth = config_.auth;
    if (auth.type == "bearer") {
      request.headers.emplace_back("authorization", "Bearer " + auth.token);
    }
    if (auth.type == "basic") {
      request.headers.emplace_back("authorization",
                                   "Basic " + base64(auth.username + ":" + auth.password));
    }
    if (auth.type == "api_key") {
      for (const auto& [name, value] : auth.values) {
        if (auth.in == "query") {
          query += (query.empty() ? "" : "&") + percent_encode(name) + "=" + percent_encode(value);
        } else {
          request.headers.emplace_back(name, value);
        }
      }
    }
  }

  // SAP Gateway's CSRF protection: a GET of the service root with `X-CSRF-Token: Fetch` answers
  // a token bound to the session its cookies name; the write must carry both. Fetched per write:
  // a token can expire at any time, and a write is never the hot path.
  Task<Result<std::vector<std::pair<std::string, std::string>>>> fetch_csrf_token(
      CancelPtr cancel) const {
    ClientRequest request;
    std::string query;
    add_auth(request, query);
    std::string url = base_url_ + "/";
    if (!query.empty()) url += "?" + query;
    auto parsed = Url::parse(url);
    if (!parsed) co_return Error(ErrorCode::kInvalidArgument, "bad URL for the CSRF token");
    request.url = std::move(parsed.value());
    request.headers.emplace_back("x-csrf-token", "Fetch");
    request.headers.emplace_back("accept", "application/json");
    auto response = co_await egress_send(std::move(request), policy_, cancel);
    if (!response) co_return response.error();
    const std::string token = (*response)->header("x-csrf-token");
    const int status = (*response)->status();
    if (token.empty() || token == "Required" || status >= 400) {
      co_return Error(ErrorCode::kPermissionDenied,
                      "no CSRF token from the service (HTTP " + std::to_string(status) + ")");
    }
    std::string cookies;
    for (const auto& set_cookie : (*response)->header_values("set-cookie")) {
      cookies += (cookies.empty() ? "" : "; ") + set_cookie.substr(0, set_cookie.find(';'));
    }
    (void)co_await (*response)->read_all(1 << 20);  // the connection goes back to the pool
    std::vector<std::pair<std::string, std::string>> headers{{"x-csrf-token", token}};
    if (!cookies.empty()) headers.emplace_back("cookie", std::move(cookies));
    co_return headers;
  }

  const ToolsetConfig& config_;
  std::string base_url_;
  OpenApiOperation operation_;
  bool csrf_ = false;
  EgressPolicy policy_;
};

class OpenApiToolset final : public Toolset {
 public:
  OpenApiToolset(const ToolsetConfig& config, std::vector<ToolPtr> tools)
      : config_(config), tools_(std::move(tools)) {}
  const ToolsetConfig& config() const override { return config_; }
  Task<Result<std::vector<ToolPtr>>> tools(CancelPtr) override { co_return tools_; }
  std::vector<std::string> warnings() const override { return warnings_; }
  ToolsetConfig config_;
  std::vector<ToolPtr> tools_;
  std::vector<std::string> warnings_;
};

// The operations a toolset offers: its preset's (renamed, described) and those `operations`
// names; without a preset, `operations` alone (empty: all).
Result<std::vector<OpenApiOperation>> pick_operations(const ToolsetConfig& config,
                                                      const OpenApiPreset* preset, const Json& spec,
                                                      std::vector<std::string>& warnings) {
  if (preset == nullptr) return import_openapi(spec, config.operations);
  auto all = import_openapi(spec, {}, preset_routes(*preset));
  if (!all) return all.error();
  auto selection = select_preset_operations(*preset, *all);
  if (!selection) return selection.error();
  for (const auto& missing : selection->missing) {
    warnings.push_back("toolset " + config.name + ": " + config.spec + " lacks preset " +
                       preset->name + "'s operation " + missing);
  }
  std::vector<OpenApiOperation> operations = std::move(selection->operations);
  if (config.operations.empty()) return operations;
  auto extra = import_openapi(spec, config.operations);
  if (!extra) return extra.error();
  for (auto& operation : *extra) {
    const bool taken = std::any_of(operations.begin(), operations.end(),
                                   [&](const auto& op) { return op.name == operation.name; });
    if (!taken) operations.push_back(std::move(operation));
  }
  return operations;
}

}  // namespace

Result<std::unique_ptr<Toolset>> make_openapi_toolset(const ToolsetConfig& config) {
  auto spec = load_spec_file(config.spec);
  if (!spec)
    return Error(spec.error().code, "toolset " + config.name + ": " + spec.error().message);
  const OpenApiPreset* preset =
      config.preset.empty() ? nullptr : find_openapi_preset(config.preset);
  if (preset != nullptr) {
    if (Status auth = check_preset_auth(*preset, config.auth); !auth) {
      return Error(auth.error().code, "toolset " + config.name + ": " + auth.error().message);
    }
  }
  std::vector<std::string> warnings;
  auto operations = pick_operations(config, preset, *spec, warnings);
  if (!operations) {
    return Error(operations.error().code,
                 "toolset " + config.name + ": " + config.spec + ": " + operations.error().message);
  }
  std::string base_url = config.base_url.empty() ? openapi_server_url(*spec) : config.base_url;
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  if (!base_url.starts_with("http://") && !base_url.starts_with("https://")) {
    return Error(
        ErrorCode::kInvalidArgument,
        "toolset " + config.name + ": no base_url, and the spec names no absolute server URL");
  }
  if (!config.allow.empty()) {  // `allow` narrows, as for every toolset kind
    std::erase_if(*operations, [&](const OpenApiOperation& op) {
      return std::find(config.allow.begin(), config.allow.end(), op.name) == config.allow.end();
    });
  }
  auto toolset = std::make_unique<OpenApiToolset>(config, std::vector<ToolPtr>{});
  toolset->warnings_ = std::move(warnings);
  const bool csrf = preset != nullptr && preset->csrf;
  for (auto& operation : *operations) {
    toolset->tools_.push_back(
        std::make_shared<OpenApiTool>(toolset->config_, base_url, std::move(operation), csrf));
  }
  return std::unique_ptr<Toolset>(std::move(toolset));
}

}  // namespace keel

// The openapi toolset: each imported operation a tool whose call is one HTTP request, through
// the egress guard, with the toolset's auth.
#include <openssl/evp.h>

#include "core/text.h"
#include "http/egress.h"
#include "tools/openapi/openapi.h"
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
  OpenApiTool(const ToolsetConfig& config, std::string base_url, OpenApiOperation operation)
      : config_(config), base_url_(std::move(base_url)), operation_(std::move(operation)) {
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
        query += (query.empty() ? "" : "&") + percent_encode(parameter.name) + "=" +
                 percent_encode(value_text(*value));
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
    const auto& auth = config_.auth;
    if (auth.type == "bearer")
      request.headers.emplace_back("authorization", "Bearer " + auth.token);
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
    std::string url = base_url_ + path;
    if (!query.empty()) url += (url.find('?') == std::string::npos ? "?" : "&") + query;
    auto parsed = Url::parse(url);
    if (!parsed) co_return ToolOutput{"bad URL for " + operation_.name, true};
    request.url = std::move(parsed.value());
    request.headers.emplace_back("accept", "application/json, */*;q=0.5");
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
  const ToolsetConfig& config_;
  std::string base_url_;
  OpenApiOperation operation_;
  EgressPolicy policy_;
};

class OpenApiToolset final : public Toolset {
 public:
  OpenApiToolset(const ToolsetConfig& config, std::vector<ToolPtr> tools)
      : config_(config), tools_(std::move(tools)) {}
  const ToolsetConfig& config() const override { return config_; }
  Task<Result<std::vector<ToolPtr>>> tools(CancelPtr) override { co_return tools_; }
  ToolsetConfig config_;
  std::vector<ToolPtr> tools_;
};

}  // namespace

Result<std::unique_ptr<Toolset>> make_openapi_toolset(const ToolsetConfig& config) {
  auto spec = load_spec_file(config.spec);
  if (!spec)
    return Error(spec.error().code, "toolset " + config.name + ": " + spec.error().message);
  auto operations = import_openapi(*spec, config.operations);
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
  auto toolset = std::make_unique<OpenApiToolset>(config, std::vector<ToolPtr>{});
  for (auto& operation : *operations) {
    toolset->tools_.push_back(
        std::make_shared<OpenApiTool>(toolset->config_, base_url, std::move(operation)));
  }
  return std::unique_ptr<Toolset>(std::move(toolset));
}

}  // namespace keel

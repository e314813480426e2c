#include "tools/builtin/builtin.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "http/egress.h"
#include "tools/builtin/calculator.h"

namespace keel {

namespace {

Json schema_object(Json properties, std::vector<std::string> required) {
  Json schema = {{"type", "object"}, {"properties", std::move(properties)}};
  schema["required"] = required;
  schema["additionalProperties"] = false;
  return schema;
}

class CurrentTime final : public Tool {
 public:
  CurrentTime() {
    spec_.name = "current_time";
    spec_.description =
        "The current date and time in UTC (ISO 8601), its Unix time, and optionally the local "
        "time at a UTC offset in minutes.";
    spec_.parameters =
        schema_object({{"utc_offset_minutes",
                        {{"type", "integer"},
                         {"minimum", -840},
                         {"maximum", 840},
                         {"description", "offset from UTC in minutes, e.g. 60 for UTC+01:00"}}}},
                      {});
  }
  const ToolSpec& spec() const override { return spec_; }
  Task<Result<ToolOutput>> call(const Json& arguments, CancelPtr) override {
    const auto now = std::chrono::system_clock::now();
    const int64_t seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    Json answer = {{"utc", iso8601(seconds, 0)}, {"unix", seconds}};
    if (auto offset = arguments.find("utc_offset_minutes"); offset != arguments.end()) {
      answer["local"] = iso8601(seconds, offset->get<int>());
    }
    co_return ToolOutput{answer.dump(), false};
  }

 private:
  static std::string iso8601(int64_t seconds, int offset_minutes) {
    const time_t shifted = static_cast<time_t>(seconds + int64_t{offset_minutes} * 60);
    std::tm parts{};
    gmtime_r(&shifted, &parts);
    char text[64];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
    std::string out = text;
    if (offset_minutes == 0) return out + "Z";
    const int magnitude = offset_minutes < 0 ? -offset_minutes : offset_minutes;
    char zone[16];
    std::snprintf(zone, sizeof zone, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+', magnitude / 60,
                  magnitude % 60);
    return out + zone;
  }
  ToolSpec spec_;
};

// 42 rather than 42.0; otherwise the shortest text that reads back as the same double.
std::string format_number(double value) {
  char text[40];
  if (std::fabs(value) < 1e15 && value == std::floor(value)) {
    std::snprintf(text, sizeof text, "%.0f", value);
    return std::string(text) == "-0" ? "0" : text;
  }
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

class Calculator final : public Tool {
 public:
  Calculator() {
    spec_.name = "calculator";
    spec_.description =
        "Evaluates an arithmetic expression: + - * / % ^, parentheses, pi, e, and abs, sqrt, "
        "cbrt, exp, ln, log, log2, sin, cos, tan, asin, acos, atan, floor, ceil, round, min, "
        "max, pow, hypot.";
    spec_.parameters = schema_object(
        {{"expression", {{"type", "string"}, {"description", "e.g. (2 + 3) * sqrt(16)"}}}},
        {"expression"});
  }
  const ToolSpec& spec() const override { return spec_; }
  Task<Result<ToolOutput>> call(const Json& arguments, CancelPtr) override {
    auto value = evaluate_expression(arguments.at("expression").get<std::string>());
    if (!value) co_return ToolOutput{value.error().message, true};
    co_return ToolOutput{format_number(*value), false};
  }

 private:
  ToolSpec spec_;
};

class HttpFetch final : public Tool {
 public:
  HttpFetch(const ToolsetConfig& config)
      : max_bytes_(static_cast<size_t>(config.max_output_bytes)) {
    policy_.allow_hosts = config.allow_hosts;
    spec_.name = "http_fetch";
    spec_.description =
        "Fetches a web page (http or https) and returns its status and text. Private and local "
        "addresses are refused.";
    spec_.parameters =
        schema_object({{"url", {{"type", "string"}, {"description", "an http(s) URL"}}}}, {"url"});
  }
  const ToolSpec& spec() const override { return spec_; }
  Task<Result<ToolOutput>> call(const Json& arguments, CancelPtr cancel) override {
    const std::string& text = arguments.at("url").get_ref<const std::string&>();
    std::string url_text(text.substr(0, text.find('#')));
    if (Status checked = egress_check_url(url_text, policy_); !checked) {
      co_return ToolOutput{checked.error().message, true};
    }
    ClientRequest request;
    request.url = *Url::parse(url_text);
    request.headers = {{"accept", "text/html, text/plain;q=0.9, */*;q=0.5"},
                       {"user-agent", "keel-http_fetch"}};
    std::string final_url;
    auto response = co_await egress_send(std::move(request), policy_, cancel, &final_url);
    if (!response) co_return ToolOutput{response.error().message, true};
    // Read past the cap by one read at most: the body is cut, not refused.
    std::string body;
    while (body.size() <= max_bytes_ * 4) {
      auto chunk = co_await (*response)->read_some();
      if (!chunk) co_return chunk.error();
      if (chunk->empty()) break;
      body += *chunk;
    }
    const std::string type = (*response)->header("content-type");
    const bool html = type.find("html") != std::string::npos;
    const int status = (*response)->status();
    std::string out = "HTTP " + std::to_string(status) + " " + final_url + "\n\n";
    out += html ? html_to_text(body) : body;
    co_return ToolOutput{std::move(out), status >= 400};
  }

 private:
  EgressPolicy policy_;
  size_t max_bytes_;
  ToolSpec spec_;
};

class BuiltinToolset final : public Toolset {
 public:
  explicit BuiltinToolset(const ToolsetConfig& config) : config_(config) {
    for (const auto& name : config.tools) {
      if (!config.allow.empty() &&
          std::find(config.allow.begin(), config.allow.end(), name) == config.allow.end()) {
        continue;
      }
      if (name == "current_time") tools_.push_back(std::make_shared<CurrentTime>());
      if (name == "calculator") tools_.push_back(std::make_shared<Calculator>());
      if (name == "http_fetch") tools_.push_back(std::make_shared<HttpFetch>(config));
    }
  }
  const ToolsetConfig& config() const override { return config_; }
  Task<Result<std::vector<ToolPtr>>> tools(CancelPtr) override { co_return tools_; }

 private:
  ToolsetConfig config_;
  std::vector<ToolPtr> tools_;
};

bool starts_with_ci(std::string_view text, size_t at, std::string_view word) {
  if (text.size() - at < word.size()) return false;
  for (size_t i = 0; i < word.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  }
  return true;
}

}  // namespace

std::string html_to_text(std::string_view html) {
  std::string out;
  out.reserve(html.size() / 2);
  bool space = false;
  const auto put = [&](char c) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      return;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  };
  size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      for (std::string_view skipped : {"script", "style"}) {
        if (starts_with_ci(html, i + 1, skipped)) {
          const std::string close = "</" + std::string(skipped);
          size_t end = i + 1;
          while (end < html.size() && !starts_with_ci(html, end, close)) ++end;
          i = end;
          break;
        }
      }
      const size_t close = html.find('>', i);
      if (close == std::string_view::npos) break;
      i = close + 1;
      put(' ');
      continue;
    }
    if (c == '&') {
      static constexpr std::pair<std::string_view, char> kEntities[] = {
          {"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},  {"&quot;", '"'},
          {"&#39;", '\''}, {"&apos;", '\''}, {"&nbsp;", ' '}};
      bool decoded = false;
      for (const auto& [entity, ch] : kEntities) {
        if (html.substr(i, entity.size()) == entity) {
          put(ch);
          i += entity.size();
          decoded = true;
          break;
        }
      }
      if (decoded) continue;
    }
    put(c);
    ++i;
  }
  return out;
}

std::unique_ptr<Toolset> make_builtin_toolset(const ToolsetConfig& config) {
  return std::make_unique<BuiltinToolset>(config);
}

}  // namespace keel

#include "server/metrics.h"

#include <cstdio>
#include <string_view>

namespace keel {

namespace {

// Latency buckets in seconds, from a cache hit to a long generation.
constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

// Appends name="value" (value escaped as the exposition format wants), after a comma when `out`
// already holds labels.
void append_label(std::string& out, const char* name, std::string_view value) {
  if (!out.empty()) out += ',';
  out += name;
  out += "=\"";
  // Runs of plain bytes in one append; the three the format escapes one by one.
  for (size_t at = 0; at < value.size();) {
    size_t plain = value.find_first_of("\\\"\n", at);
    if (plain == std::string_view::npos) plain = value.size();
    out.append(value.data() + at, plain - at);
    if (plain == value.size()) break;
    char c = value[plain];
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    at = plain + 1;
  }
  out += '"';
}

std::string label(const char* name, const std::string& value) {
  std::string out;
  append_label(out, name, value);
  return out;
}

std::string number(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return buf;
}

void render_counter(std::string& out, const char* name, const char* help,
                    const std::map<std::string, double>& family) {
  out += "# HELP " + std::string(name) + " " + help + "\n# TYPE " + name + " counter\n";
  for (const auto& [labels, value] : family) {
    out += std::string(name) + "{" + labels + "} " + number(value) + "\n";
  }
}

// Label sets are built into a per-thread scratch string and looked up with it: a new key is
// copied into its map once, and a known one costs no allocation (was a handful of temporary
// strings per request). The text is what label() + "," + label() ... gives.
std::string& scratch() {
  thread_local std::string text;
  text.clear();
  return text;
}

template <class Value>
Value& entry(std::map<std::string, Value>& family, const std::string& labels) {
  auto it = family.find(labels);
  if (it == family.end()) it = family.emplace(labels, Value{}).first;
  return it->second;
}

}  // namespace

void Metrics::observe(std::map<std::string, Histogram>& family, const std::string& labels,
                      double value) {
  auto& h = entry(family, labels);
  if (h.counts.empty()) h.counts.assign(std::size(kBuckets), 0);
  for (size_t i = 0; i < std::size(kBuckets); ++i) {
    if (value <= kBuckets[i]) {
      h.counts[i] += 1;
      break;
    }
  }
  h.sum += value;
  h.count += 1;
}

void Metrics::on_request(const std::string& endpoint, const std::string& model, int status,
                         double seconds) {
  std::string& labels = scratch();
  append_label(labels, "endpoint", endpoint);
  const size_t endpoint_only = labels.size();
  append_label(labels, "model", model);
  char status_text[16];
  std::snprintf(status_text, sizeof status_text, "%d", status);
  append_label(labels, "status", status_text);
  std::lock_guard lock(mutex_);
  entry(requests_, labels) += 1;
  labels.resize(endpoint_only);
  observe(duration_, labels, seconds);
}

void Metrics::on_error(const std::string& error_class) {
  std::string& labels = scratch();
  append_label(labels, "class", error_class);
  std::lock_guard lock(mutex_);
  entry(errors_, labels) += 1;
}

void Metrics::on_ttft(const std::string& model, double seconds) {
  std::string& labels = scratch();
  append_label(labels, "model", model);
  std::lock_guard lock(mutex_);
  observe(ttft_, labels, seconds);
}

void Metrics::on_tokens(const std::string& model, int64_t prompt, int64_t completion) {
  std::string& labels = scratch();
  append_label(labels, "model", model);
  const size_t model_only = labels.size();
  std::lock_guard lock(mutex_);
  if (prompt > 0) {
    append_label(labels, "type", "prompt");
    entry(tokens_, labels) += prompt;
    labels.resize(model_only);
  }
  if (completion > 0) {
    append_label(labels, "type", "completion");
    entry(tokens_, labels) += completion;
  }
}

void Metrics::on_attempt(const AttemptRecord& attempt) {
  std::string& labels = scratch();
  append_label(labels, "provider", attempt.provider);
  append_label(labels, "model", attempt.target_model);
  append_label(labels, "outcome", attempt.error_class.empty() ? "ok" : "error");
  std::lock_guard lock(mutex_);
  entry(attempts_, labels) += 1;
}

std::string Metrics::render(const std::vector<TargetStatus>& targets, size_t in_flight) const {
  std::string out;
  std::lock_guard lock(mutex_);
  render_counter(out, "keel_requests_total", "Client requests by endpoint, model and status.",
                 requests_);
  render_counter(out, "keel_errors_total", "Failed client requests by error class.", errors_);
  render_counter(out, "keel_tokens_total", "Tokens by public model and type.", tokens_);
  render_counter(out, "keel_upstream_attempts_total",
                 "Upstream attempts by provider, upstream model and outcome.", attempts_);
  auto render_histogram = [&out](const char* name, const char* help,
                                 const std::map<std::string, Histogram>& family) {
    out += "# HELP " + std::string(name) + " " + help + "\n# TYPE " + name + " histogram\n";
    for (const auto& [labels, h] : family) {
      double cumulative = 0;
      for (size_t i = 0; i < std::size(kBuckets); ++i) {
        cumulative += h.counts[i];
        out += std::string(name) + "_bucket{" + labels + ",le=\"" + number(kBuckets[i]) + "\"} " +
               number(cumulative) + "\n";
      }
      out += std::string(name) + "_bucket{" + labels + ",le=\"+Inf\"} " + number(h.count) + "\n";
      out += std::string(name) + "_sum{" + labels + "} " + number(h.sum) + "\n";
      out += std::string(name) + "_count{" + labels + "} " + number(h.count) + "\n";
    }
  };
  render_histogram("keel_request_duration_seconds", "Client request latency.", duration_);
  render_histogram("keel_time_to_first_token_seconds", "Time to the first content token.", ttft_);
  out += "# HELP keel_breaker_state Circuit breaker per target: 0 closed, 1 open, 2 half-open.\n"
         "# TYPE keel_breaker_state gauge\n";
  for (const auto& target : targets) {
    out += "keel_breaker_state{" + label("public_model", target.model) + "," +
           label("provider", target.provider) + "," + label("model", target.upstream_model) +
           "} " + std::to_string(static_cast<int>(target.breaker)) + "\n";
  }
  out += "# HELP keel_in_flight_requests Requests being served now.\n"
         "# TYPE keel_in_flight_requests gauge\nkeel_in_flight_requests " +
         std::to_string(in_flight) + "\n";
  return out;
}

}  // namespace keel

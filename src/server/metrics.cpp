#include "server/metrics.h"

#include <charconv>
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
  // Runs of plain bytes in one append; the three the format escapes one by one. (A plain loop:
  // find_first_of with a set costs a memchr per byte.)
  size_t run = 0;
  for (size_t at = 0; at < value.size(); ++at) {
    const char c = value[at];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(value.data() + run, at - run);
    out += c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\";
    run = at + 1;
  }
  out.append(value.data() + run, value.size() - run);
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

// A series without labels: a gauge or a counter kept elsewhere.
void render_single(std::string& out, const char* name, const char* type, const char* help,
                   int64_t value) {
  out += "# HELP " + std::string(name) + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + std::to_string(value) + "\n";
}

template <class Value>
Value& entry(std::map<std::string, Value>& family, const std::string& labels) {
  auto it = family.find(labels);
  if (it == family.end()) it = family.emplace(labels, Value{}).first;
  return it->second;
}

}  // namespace

void Metrics::observe(Histogram& h, double value) {
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

template <class Value>
template <class Labels>
Value& Metrics::Memo<Value>::find(std::map<std::string, Value>& family, std::string_view a,
                                  std::string_view b, std::string_view c, const Labels& labels) {
  if (value && a == key[0] && b == key[1] && c == key[2]) return *value;
  std::string text;
  labels(text);
  value = &entry(family, text);   // map nodes stay put: the pointer lives as long as the map
  key[0] = a;
  key[1] = b;
  key[2] = c;
  return *value;
}

void Metrics::add_models(const std::vector<std::string>& models) {
  std::lock_guard lock(mutex_);
  models_.insert(models.begin(), models.end());
  // A memo may hold a newly known name's entry under model="".
  for (auto* memo :
       {&requests_memo_, &prompt_tokens_memo_, &completion_tokens_memo_, &attempts_memo_}) {
    memo->value = nullptr;
  }
  duration_memo_.value = nullptr;
  ttft_memo_.value = nullptr;
}

void Metrics::on_record(const RequestRecord& record) {
  // One lock for every family. Most requests repeat the label values of the one before (the
  // same endpoint, model, status, provider): each family remembers its last values and map
  // entry, and builds the label text and looks it up only when they change.
  char status_buf[16];
  const char* status_end =
      std::to_chars(status_buf, status_buf + sizeof status_buf, record.status).ptr;
  const std::string_view status(status_buf, static_cast<size_t>(status_end - status_buf));
  const std::string& endpoint = record.endpoint;
  const std::string& model = record.model;
  // The memos key on the name as sent; only the label text, built when the values change, folds
  // names that are not public models into "".
  auto model_label = [&](std::string& labels) {
    append_label(labels, "model",
                 models_.count(model) ? std::string_view(model) : std::string_view());
  };

  std::lock_guard lock(mutex_);
  requests_memo_.find(requests_, endpoint, model, status, [&](std::string& labels) {
    append_label(labels, "endpoint", endpoint);
    model_label(labels);
    append_label(labels, "status", status);
  }) += 1;
  observe(duration_memo_.find(duration_, endpoint, {}, {},
                              [&](std::string& labels) {
                                append_label(labels, "endpoint", endpoint);
                              }),
          static_cast<double>(record.latency_ms) / 1000.0);
  if (!record.error_class.empty()) {
    std::string labels;
    append_label(labels, "class", record.error_class);
    entry(errors_, labels) += 1;
  }
  if (record.ttft_ms >= 0) {
    observe(ttft_memo_.find(ttft_, model, {}, {},
                            [&](std::string& labels) { model_label(labels); }),
            static_cast<double>(record.ttft_ms) / 1000.0);
  }
  auto add_tokens = [&](Memo<double>& memo, const char* type, int64_t count) {
    if (count <= 0) return;
    memo.find(tokens_, model, {}, {}, [&](std::string& labels) {
      model_label(labels);
      append_label(labels, "type", type);
    }) += static_cast<double>(count);
  };
  add_tokens(prompt_tokens_memo_, "prompt", record.prompt_tokens);
  add_tokens(completion_tokens_memo_, "completion", record.completion_tokens);
  for (const auto& attempt : record.attempts) {
    const std::string_view outcome = attempt.error_class.empty() ? "ok" : "error";
    attempts_memo_.find(attempts_, attempt.provider, attempt.target_model, outcome,
                        [&](std::string& labels) {
                          append_label(labels, "provider", attempt.provider);
                          append_label(labels, "model", attempt.target_model);
                          append_label(labels, "outcome", outcome);
                        }) += 1;
  }
}

std::string Metrics::render(const std::vector<TargetStatus>& targets, size_t in_flight,
                            const StoreStats& log) const {
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
  render_single(out, "keel_in_flight_requests", "gauge", "Requests being served now.",
                static_cast<int64_t>(in_flight));
  // The request log (`state:`): a writer that falls behind shows as a growing queue, then drops.
  render_single(out, "keel_request_log_queue", "gauge",
                "Request records waiting for the log's writer.", log.queued);
  render_single(out, "keel_request_log_dropped_total", "counter",
                "Request records not logged because the writer's queue was full.", log.dropped);
  render_single(out, "keel_request_log_failed_total", "counter",
                "Request records lost to a write error of the log.", log.failed);
  render_single(out, "keel_request_log_pruned_total", "counter",
                "Requests deleted by log_retention.", log.pruned);
  return out;
}

}  // namespace keel

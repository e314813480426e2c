#include "server/otlp_exporter.h"

#include <algorithm>
#include <chrono>

#include "api/otlp.h"
#include "core/log.h"
#include "store/request_spans.h"

namespace keel {

Result<std::unique_ptr<OtlpExporter>> OtlpExporter::start(const TracingConfig& tracing,
                                                          std::vector<ProviderConfig> providers) {
  if (tracing.otlp_endpoint.empty()) return std::unique_ptr<OtlpExporter>();
  auto url = Url::parse(tracing.otlp_endpoint);
  if (!url) {
    return Error(ErrorCode::kInvalidArgument, "tracing.otlp_endpoint: " + url.error().message);
  }
  // OTLP/HTTP's default path when the endpoint names none (as OTEL_EXPORTER_OTLP_ENDPOINT).
  if (url->target.empty() || url->target == "/") url->target = "/v1/traces";
  return std::unique_ptr<OtlpExporter>(
      new OtlpExporter(tracing, std::move(*url), std::move(providers)));
}

OtlpExporter::OtlpExporter(TracingConfig tracing, Url url, std::vector<ProviderConfig> providers)
    : tracing_(std::move(tracing)), url_(std::move(url)), providers_(std::move(providers)) {
  thread_ = std::thread(&OtlpExporter::run, this);
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void OtlpExporter::add(RequestRecord& record) {
  // The bodies are no part of a span: moved aside rather than copied.
  std::string content = std::move(record.content);
  RequestRecord copy = record;
  record.content = std::move(content);
  const size_t spans = 1 + copy.attempts.size() + copy.trace.spans().size();
  push(std::move(copy), spans);
}

void OtlpExporter::add(std::vector<Span> spans) {
  if (spans.empty()) return;
  RequestRecord carrier;
  carrier.trace = Trace(spans.front().trace_id, SpanId{});
  const size_t count = spans.size();
  for (Span& span : spans) carrier.trace.add(std::move(span));
  push(std::move(carrier), count);
}

void OtlpExporter::push(RequestRecord item, size_t spans) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= static_cast<size_t>(tracing_.queue_traces)) {
      dropped_ += static_cast<int64_t>(spans);
      return;
    }
    queue_.push_back(std::move(item));
    queued_spans_ += spans;
    wake = queued_spans_ >= static_cast<size_t>(tracing_.batch_spans);
  }
  if (wake) wake_.notify_one();
}

void OtlpExporter::run() {
  const auto interval = std::chrono::milliseconds(tracing_.flush_interval_ms);
  const size_t batch_spans = static_cast<size_t>(tracing_.batch_spans);
  for (;;) {
    std::vector<RequestRecord> taken;
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, interval, [&] { return stop_ || queued_spans_ >= batch_spans; });
      stopping = stop_;
      if (queue_.empty()) {
        if (stopping) return;
        continue;
      }
      // Whole traces, up to batch_spans spans (one larger trace goes alone).
      size_t spans = 0;
      while (!queue_.empty()) {
        const RequestRecord& next = queue_.front();
        const size_t count =
            (next.id.empty() ? 0 : 1 + next.attempts.size()) + next.trace.spans().size();
        if (!taken.empty() && spans + count > batch_spans) break;
        spans += count;
        queued_spans_ -= count;
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Span> spans;
    for (RequestRecord& record : taken) {
      std::vector<Span> own = request_spans(record);
      for (Span& span : own) spans.push_back(std::move(span));
      for (Span& span : record.trace.take()) spans.push_back(std::move(span));
    }
    name_providers(spans, providers_);
    const auto count = static_cast<int64_t>(spans.size());
    if (send(otlp_traces_json(spans, tracing_.service_name))) {
      exported_ += count;
    } else {
      failed_ += count;
    }
  }
}

bool OtlpExporter::send(std::string body) {
  asio::io_context io;
  bool ok = false;
  std::string failure;
  auto post = [&]() -> Task<void> {
    ClientRequest request;
    request.method = "POST";
    request.url = url_;
    request.headers.emplace_back("content-type", "application/json");
    for (const auto& [name, value] : tracing_.headers) request.headers.emplace_back(name, value);
    request.body = std::move(body);
    request.connect_timeout_ms = std::min(tracing_.timeout_ms, 5000);
    request.read_timeout_ms = tracing_.timeout_ms;
    auto cancel = std::make_shared<CancelToken>();
    auto response = co_await http_send(std::move(request), cancel);
    if (!response) {
      failure = response.error().message;
      co_return;
    }
    auto answer = co_await (*response)->read_all(1 << 20);
    const int status = (*response)->status();
    ok = status >= 200 && status < 300 && answer.ok();
    if (!ok) failure = "the collector answered " + std::to_string(status);
  };
  asio::co_spawn(io, post(), asio::detached);
  io.run();
  http_pool_clear();
  if (!ok) {
    const int64_t failures = failed_.load();
    // The first failure and then one line per hundred: a collector that is down must not
    // flood the log.
    if (failures == 0 || failures % 100 == 0) {
      KEEL_LOG(kWarn) << "tracing: OTLP export to " << url_.host << ":" << url_.port
                      << " failed: " << failure;
    }
  }
  return ok;
}

std::string OtlpExporter::render_metrics() const {
  std::string out =
      "# HELP keel_trace_export_spans_total Spans sent to the OTLP collector, by outcome "
      "(dropped: the exporter's queue was full).\n"
      "# TYPE keel_trace_export_spans_total counter\n";
  out += "keel_trace_export_spans_total{outcome=\"exported\"} " + std::to_string(exported_.load()) +
         "\n";
  out +=
      "keel_trace_export_spans_total{outcome=\"failed\"} " + std::to_string(failed_.load()) + "\n";
  out += "keel_trace_export_spans_total{outcome=\"dropped\"} " + std::to_string(dropped_.load()) +
         "\n";
  return out;
}

}  // namespace keel

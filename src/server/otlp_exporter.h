// OTLP/HTTP JSON export of traces (`tracing: {otlp_endpoint}`, DESIGN.md "Traces"), off the
// request path: App::finish hands each finished request here (a copy of its record without the
// bodies), and the exporter's own thread turns records into spans (store/request_spans.h),
// batches them (at most batch_spans per POST, at least every flush_interval_ms) and POSTs them
// as api/otlp.h writes them. The queue is bounded (queue_traces); a trace that does not fit is
// dropped and counted, as are spans a collector refused or never answered for.
//
//   auto exporter = OtlpExporter::start(config.tracing, config.providers);  // null when off
//   exporter->add(record);                         // any thread, returns at once
//   page += exporter->render_metrics();            // keel_trace_export_spans_total{outcome}
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "http/client.h"
#include "store/store.h"

namespace keel {

class OtlpExporter {
 public:
  // nullptr when `tracing.otlp_endpoint` is empty; an error for an endpoint that is not a URL.
  static Result<std::unique_ptr<OtlpExporter>> start(const TracingConfig& tracing,
                                                     std::vector<ProviderConfig> providers);
  // Sends what is queued (each request bounded by timeout_ms), then joins its thread.
  ~OtlpExporter();

  // A finished request: its own span, its attempts' and the spans it recorded. Copies the
  // record but its bodies (moved out and back); never blocks on the network.
  void add(RequestRecord& record);
  // Spans of a trace that is not a request's (a shadow pair's).
  void add(std::vector<Span> spans);

  std::string render_metrics() const;

  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

 private:
  OtlpExporter(TracingConfig tracing, Url url, std::vector<ProviderConfig> providers);
  void push(RequestRecord item, size_t spans);
  void run();
  // POSTs one batch; false when the collector did not take it.
  bool send(std::string body);

  TracingConfig tracing_;
  Url url_;
  std::vector<ProviderConfig> providers_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<RequestRecord> queue_;  // a record without an id carries only trace spans
  size_t queued_spans_ = 0;
  bool stop_ = false;

  std::atomic<int64_t> exported_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> dropped_{0};
  std::thread thread_;
};

}  // namespace keel

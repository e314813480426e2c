// Request and attempt records behind one interface; SQLite now (store/sqlite/), Redis and
// PostgreSQL later.
//
//   auto store = open_store("sqlite:keel.db");         // Result<std::unique_ptr<Store>>
//   store.value()->record(request_record);              // never blocks the io thread
//
// Contract: record() may be called from any thread and returns at once; records are written
// in order by a background writer and are durable once flush() returns. Records never hold an
// API key; `content` is filled only when the config says log_content: true.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace keel {

struct AttemptRecord {
  int64_t started_ms = 0;        // unix millis
  std::string provider;          // provider name from the config
  std::string target_model;      // the upstream's model name
  int status = 0;                // HTTP status of the attempt (upstream's, or keel's mapping)
  std::string error_class;       // "" on success, else error_code_name() or a finer class
  std::string error_message;
  int64_t latency_ms = 0;
  int64_t ttft_ms = -1;          // -1: no token came
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct RequestRecord {
  std::string id;                // keel's request id
  int64_t started_ms = 0;
  std::string endpoint;          // "/v1/chat/completions", ...
  std::string model;             // the public model name
  bool stream = false;
  int status = 0;                // HTTP status sent to the client (499: client went away)
  std::string error_class;
  int64_t latency_ms = 0;
  int64_t ttft_ms = -1;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string content;           // JSON {request, response}; empty unless log_content
  std::string key_id;            // which client key (key_id_of, server/auth.h); "" without api_keys
  std::vector<AttemptRecord> attempts;
};

// What the log's writer has done since start, for /metrics.
struct StoreStats {
  int64_t queued = 0;    // records waiting for the writer now
  int64_t dropped = 0;   // refused because the queue was full
  int64_t failed = 0;    // lost to a write error
  int64_t pruned = 0;    // requests deleted by retention
};

// Reads for the console and operators (/admin/...), apart from the write path: they run on
// the caller's thread on the store's read connection and never wait on the writer.
struct RequestQuery {
  std::string model;  // exact public name; "" = any
  // "" = any; "ok" = 200 without error_class; "error" = the rest; else one HTTP status
  std::string status;
  int64_t since_ms = 0;  // started_ms >= since_ms; 0 = no bound
  int64_t until_ms = 0;  // started_ms < until_ms; 0 = no bound
  std::string key_id;    // exact; "" = any
  int limit = 50;        // 1..500
  int64_t offset = 0;
};
struct RequestPage {
  std::vector<RequestRecord> requests;  // newest first, without attempts or content
  bool more = false;                    // another page follows
};
// One public model's requests (or one target's attempts) over a window.
struct WindowStats {
  int64_t requests = 0;
  int64_t errors = 0;           // status != 200 or an error_class
  int64_t latency_p50_ms = -1;  // -1: no requests
  int64_t latency_p95_ms = -1;
  int64_t ttft_p50_ms = -1;  // streamed requests that got a token
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};
struct StatsBucket {
  int64_t start_ms = 0;
  int64_t requests = 0;
  int64_t errors = 0;
  int64_t latency_avg_ms = 0;
  int64_t tokens = 0;  // prompt + completion
};
struct TargetWindowStats {
  std::string provider;
  std::string target_model;
  int64_t attempts = 0;
  int64_t errors = 0;
  int64_t latency_avg_ms = -1;
};
struct ModelWindowStats {
  std::string model;
  WindowStats totals;
  std::vector<StatsBucket> buckets;  // every bucket of the window, oldest first, empty ones too
  std::vector<TargetWindowStats> targets;
};

class StoreReader {
 public:
  virtual ~StoreReader() = default;
  virtual Result<RequestPage> query_requests(const RequestQuery& query) = 0;
  // One request with its attempts and content; kNotFound when the log has no such id.
  virtual Result<RequestRecord> find_request(const std::string& id) = 0;
  // Every model with requests in [since_ms, until_ms), buckets of bucket_ms.
  virtual Result<std::vector<ModelWindowStats>> model_stats(int64_t since_ms, int64_t until_ms,
                                                            int64_t bucket_ms) = 0;
};

class Store : public StoreReader {
 public:
  virtual ~Store() = default;
  virtual void record(RequestRecord record) = 0;
  // Blocks until every record given so far is committed.
  virtual void flush() = 0;
  // Most recent requests first, with their attempts; for `keel` tooling and tests.
  virtual Result<std::vector<RequestRecord>> recent(int limit) = 0;
  virtual StoreStats stats() const = 0;
};

// How long the log keeps requests; 0 turns a limit off. The store deletes a request and its
// attempts once it started more than `max_age_ms` ago, and the oldest requests beyond
// `max_requests`, in the background, a bounded number per transaction.
struct RetentionOptions {
  int64_t max_age_ms = 0;
  int64_t max_requests = 0;
  bool enabled() const { return max_age_ms > 0 || max_requests > 0; }
};

// "sqlite:PATH" (":memory:" allowed). Other schemes -> kInvalidArgument naming the scheme.
Result<std::unique_ptr<Store>> open_store(const std::string& spec, RetentionOptions retention = {});

}  // namespace keel

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
  std::string variant;  // the prompt variant sent (a file), "" when not a prompt run
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
  std::vector<AttemptRecord> attempts;
};

// What the log's writer has done since start, for /metrics.
struct StoreStats {
  int64_t queued = 0;    // records waiting for the writer now
  int64_t dropped = 0;   // refused because the queue was full
  int64_t failed = 0;    // lost to a write error
  int64_t pruned = 0;    // requests deleted by retention
};

class Store {
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

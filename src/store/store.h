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
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/trace.h"

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

struct ShadowPairRecord;

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
  // The request's trace (Trace::for_request(id)): the spans recorded while it ran (tool calls,
  // flow nodes), written with the record into `spans`. The request's own span and its attempts'
  // are not in it: they are derived from this record (store/request_spans.h). A record with no
  // id carries only spans (record_spans), and may carry a shadow pair (record_shadow_pair).
  Trace trace;
  std::shared_ptr<const ShadowPairRecord> shadow_pair;
};

// What the log's writer has done since start, for /metrics.
struct StoreStats {
  int64_t queued = 0;    // records waiting for the writer now
  int64_t dropped = 0;   // refused because the queue was full
  int64_t failed = 0;    // lost to a write error
  int64_t pruned = 0;    // requests deleted by retention
};

// Stored state of the Responses API (stored responses and conversations). Bodies are JSON
// text in the Responses wire format; the store does not read them. `owner` is a hash of the
// API key that made the object (never the key): every read, change and delete names it, and an
// object of another owner is not found.
struct StoredResponse {
  std::string id;                // resp_...
  std::string owner;
  int64_t created_ms = 0;
  std::string previous_id;       // previous_response_id, "" when none
  std::string conversation_id;   // "" when none
  std::string input_items;       // JSON array: this turn's input items, each with its id
  std::string body;              // JSON: the response object as last sent
};

struct StoredConversation {
  std::string id;                // conv_...
  std::string owner;
  int64_t created_ms = 0;
  std::string metadata;          // JSON object
};

struct StoredItem {
  std::string id;                // the item's id (msg_..., fc_..., ...)
  std::string body;              // JSON: the item
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
  // Every span of a trace, in no particular order (tree_order, store/request_spans.h, sorts
  // them): the stored ones and, for a request's trace (TraceId::for_request), the spans derived
  // from its log row. kNotFound when the store has none.
  virtual Result<std::vector<Span>> trace_spans(const TraceId& trace) = 0;
};

// One scored row of an evaluation run (`keel eval`): the data line, the candidate model, and
// what the run made of it as JSON (inputs, output, scores, latency, tokens, cost). Kept so
// that a rerun of the same run id skips rows already scored.
struct EvalRowRecord {
  std::string run_id;
  int64_t line = 0;       // 0-based line of the data set
  std::string candidate;  // the public model name
  int64_t created_ms = 0;
  std::string result;  // JSON text
};

// An evaluation run as the console lists it: its description and how far it got.
struct EvalRunRecord {
  std::string id;
  int64_t created_ms = 0;
  std::string describe;  // JSON text (save_eval_run's)
  int64_t rows = 0;      // scored rows kept
  int64_t last_ms = 0;   // the newest row's time; 0 with no rows
};

// One mirrored request (shadow traffic): the served answer and the candidate's, scored.
struct ShadowPairRecord {
  std::string id;            // the client's request id
  std::string model;         // the shadowed public model
  std::string shadow_model;  // the candidate
  int64_t created_ms = 0;
  std::string result;  // JSON text
};

class Store : public StoreReader {
 public:
  virtual ~Store() = default;
  virtual void record(RequestRecord record) = 0;
  // Spans of a trace that is not a request's (an eval row's, a shadow pair's), queued and
  // written like record(); flush() waits for them too.
  virtual void record_spans(Trace trace) = 0;
  // Blocks until every record given so far is committed.
  virtual void flush() = 0;
  // Most recent requests first, with their attempts; for `keel` tooling and tests.
  virtual Result<std::vector<RequestRecord>> recent(int limit) = 0;
  virtual StoreStats stats() const = 0;

  // Stored Responses state. Unlike record(), these are synchronous and read-after-write: what
  // one call stored, the next call on any thread finds. Each blocks its caller for one small
  // transaction (io threads accept that; docs/dev.md "Stored responses").
  // Insert or replace (a streamed response is stored once it ends).
  virtual Status put_response(const StoredResponse& response) = 0;
  // nullopt when absent, deleted, expired or owned by another key.
  virtual Result<std::optional<StoredResponse>> get_response(const std::string& id,
                                                             const std::string& owner) = 0;
  virtual Result<bool> delete_response(const std::string& id, const std::string& owner) = 0;
  // Insert, or replace the metadata of the owner's conversation with that id.
  virtual Status put_conversation(const StoredConversation& conversation) = 0;
  virtual Result<std::optional<StoredConversation>> get_conversation(const std::string& id,
                                                                     const std::string& owner) = 0;
  // Deletes the conversation and its items.
  virtual Result<bool> delete_conversation(const std::string& id, const std::string& owner) = 0;
  // Appends items after the conversation's last (the caller has checked its owner).
  virtual Status append_conversation_items(const std::string& conversation_id,
                                           const std::vector<StoredItem>& items) = 0;
  // Oldest first.
  virtual Result<std::vector<StoredItem>> conversation_items(
      const std::string& conversation_id) = 0;
  virtual Result<bool> delete_conversation_item(const std::string& conversation_id,
                                                const std::string& item_id) = 0;
  // Evaluation rows (tables eval_runs, eval_rows): written at once, on the caller's thread, and
  // durable when the call returns; a row of the same (run, line, candidate) is replaced.
  // `describe` is the run's JSON description (target, data, evaluators), kept the first time.
  virtual Status save_eval_run(const std::string& run_id, const std::string& describe) = 0;
  virtual Status save_eval_row(const EvalRowRecord& row) = 0;
  // The run's rows, by line then candidate.
  virtual Result<std::vector<EvalRowRecord>> eval_rows(const std::string& run_id) = 0;
  // The newest runs first (by creation), at most `limit`.
  virtual Result<std::vector<EvalRunRecord>> eval_runs(int limit) = 0;
  // Shadow pairs (table shadow_pairs): queued with the pair's trace and written by the log's
  // writer like record_spans() (a mirror runs on an io thread, which must not wait for a
  // transaction); flush() waits for them too. A pair of the same id is replaced.
  virtual void record_shadow_pair(ShadowPairRecord pair, Trace trace) = 0;
  // Newest first, at most `limit`.
  virtual Result<std::vector<ShadowPairRecord>> shadow_pairs(const std::string& model,
                                                             int limit) = 0;
};

// How long the log keeps requests; 0 turns a limit off. Stored responses and conversations
// follow max_age_ms only (a response by its creation, a conversation by its last change). The store deletes a request and its
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

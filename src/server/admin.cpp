#include "server/admin.h"

#include <optional>

#include "api/json_util.h"
#include "api/openai_chat/openai_chat.h"
#include "core/clock.h"
#include "core/text.h"
#include "server/admin_query.h"
#include "server/admin_reply.h"
#include "server/auth.h"
#include "server/trace_json.h"

namespace keel {
namespace {

constexpr int64_t kWindowMs = 60 * 60 * 1000;  // the models page's window: the last hour
constexpr int64_t kBucketMs = 60 * 1000;       // one chart point a minute

Json request_summary(const RequestRecord& r) {
  return {{"id", r.id},
          {"started_ms", r.started_ms},
          {"endpoint", r.endpoint},
          {"model", r.model},
          {"stream", r.stream},
          {"status", r.status},
          {"error_class", r.error_class},
          {"latency_ms", r.latency_ms},
          {"ttft_ms", r.ttft_ms},
          {"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"key_id", r.key_id}};
}

Json attempt_json(const AttemptRecord& a) {
  return {{"started_ms", a.started_ms},       {"provider", a.provider},
          {"target_model", a.target_model},   {"status", a.status},
          {"error_class", a.error_class},     {"error_message", a.error_message},
          {"latency_ms", a.latency_ms},       {"ttft_ms", a.ttft_ms},
          {"prompt_tokens", a.prompt_tokens}, {"completion_tokens", a.completion_tokens}};
}

Json window_json(const WindowStats& w) {
  return {{"requests", w.requests},
          {"errors", w.errors},
          {"error_rate", w.requests ? static_cast<double>(w.errors) / w.requests : 0.0},
          {"latency_p50_ms", w.latency_p50_ms},
          {"latency_p95_ms", w.latency_p95_ms},
          {"ttft_p50_ms", w.ttft_p50_ms},
          {"prompt_tokens", w.prompt_tokens},
          {"completion_tokens", w.completion_tokens}};
}

}  // namespace

Task<void> Admin::requests(Request& request, ResponseWriter& response) {
  const std::string_view target(request.message.target().data(), request.message.target().size());
  const size_t mark = target.find('?');
  auto query = parse_request_query(mark == std::string_view::npos ? std::string_view()
                                                                  : target.substr(mark + 1));
  if (!query) {
    co_await send_admin_error(response, query.error());
    co_return;
  }
  auto page = co_await off_io(reads_, [&] { return store_.query_requests(*query); });
  if (!page) {
    co_await send_admin_error(response, page.error());
    co_return;
  }
  Json data = Json::array();
  for (const auto& record : page->requests) data.push_back(request_summary(record));
  const Json body = {{"data", std::move(data)},
                     {"offset", query->offset},
                     {"limit", query->limit},
                     {"has_more", page->more}};
  co_await send_admin_json(response, body);
}

Task<void> Admin::request(std::string_view escaped_id, ResponseWriter& response) {
  auto id = percent_decode(escaped_id);
  if (!id) {
    const Error bad(ErrorCode::kInvalidArgument, "a malformed %-escape in the id");
    co_await send_admin_error(response, bad);
    co_return;
  }
  auto record = co_await off_io(reads_, [&] {
    auto found = store_.find_request(*id);
    if (found || found.error().code != ErrorCode::kNotFound) return found;
    // The console asks for a request as soon as its response ended, when the log's writer may
    // not have committed it yet (it gathers records for a few ms): wait for what is queued.
    store_.flush();
    return store_.find_request(*id);
  });
  if (!record) {
    co_await send_admin_error(response, record.error());
    co_return;
  }
  Json body = request_summary(*record);
  Json attempts = Json::array();
  for (const auto& attempt : record->attempts) attempts.push_back(attempt_json(attempt));
  body["attempts"] = std::move(attempts);
  body["trace_id"] = TraceId::for_request(record->id).hex();  // GET /admin/traces/{id}
  // The bodies exist only when log_content was on when the request ran.
  body["content"] = record->content.empty()
                        ? Json()
                        : try_parse_json(record->content).value_or(Json(record->content));
  co_await send_admin_json(response, body);
}

Task<void> Admin::trace(std::string_view escaped_id, ResponseWriter& response) {
  auto decoded = percent_decode(escaped_id);
  auto id =
      decoded
          ? parse_trace_ref(*decoded)
          : Result<TraceId>(Error(ErrorCode::kInvalidArgument, "a malformed %-escape in the id"));
  if (!id) {
    co_await send_admin_error(response, id.error());
    co_return;
  }
  const auto live = config_();
  auto spans = co_await off_io(reads_, [&] {
    auto found = read_trace(store_, *id, live->providers);
    if (found || found.error().code != ErrorCode::kNotFound) return found;
    store_.flush();  // as for a request: its record (and spans) may still be queued
    return read_trace(store_, *id, live->providers);
  });
  if (!spans) {
    co_await send_admin_error(response, spans.error());
    co_return;
  }
  co_await send_admin_json(response, trace_to_json(*spans));
}

Task<void> Admin::models(const Router& router, ResponseWriter& response) {
  const int64_t now = unix_millis();
  // Buckets end at the next whole minute, so the chart's points stay put between reloads.
  const int64_t until = (now / kBucketMs + 1) * kBucketMs;
  auto stats = co_await off_io(
      reads_, [&] { return store_.model_stats(until - kWindowMs, until, kBucketMs); });
  if (!stats) {
    co_await send_admin_error(response, stats.error());
    co_return;
  }
  Json models = Json::array();
  const auto targets = router.status();
  const auto live = config_();
  auto model_json = [&](const std::string& name) -> Json& {
    for (auto& model : models) {
      if (model["name"] == name) return model;
    }
    Json model = {{"name", name}, {"configured", false}, {"targets", Json::array()}};
    if (const ModelConfig* config = live->find_model(name)) {
      model["configured"] = true;
      model["strategy"] = strategy_name(config->strategy);
      model["retries"] = config->retries;
      model["timeout_ms"] = config->timeout_ms;
    }
    models.push_back(std::move(model));
    return models.back();
  };
  for (const auto& name : router.model_names()) model_json(name);
  for (const auto& target : targets) {
    Json entry = {{"provider", target.provider},
                  {"model", target.upstream_model},
                  {"breaker", breaker_state_name(target.breaker)},
                  {"latency_ewma_ms", target.latency_ewma_ms}};
    if (const ProviderConfig* provider = live->find_provider(target.provider)) {
      entry["kind"] = provider_kind_name(provider->kind);  // never its key or its URL
    }
    entry["attempts"] = 0;
    entry["errors"] = 0;
    entry["latency_avg_ms"] = -1;
    model_json(target.model)["targets"].push_back(std::move(entry));
  }
  for (const auto& model : *stats) {
    Json& out = model_json(model.model);  // a model no longer configured still shows its past
    out["window"] = window_json(model.totals);
    Json buckets = Json::array();
    for (const auto& bucket : model.buckets) {
      buckets.push_back({{"start_ms", bucket.start_ms},
                         {"requests", bucket.requests},
                         {"errors", bucket.errors},
                         {"latency_avg_ms", bucket.latency_avg_ms},
                         {"tokens", bucket.tokens}});
    }
    out["buckets"] = std::move(buckets);
    for (const auto& target : model.targets) {
      Json* entry = nullptr;
      for (auto& existing : out["targets"]) {
        if (existing["provider"] == target.provider && existing["model"] == target.target_model) {
          entry = &existing;
        }
      }
      if (!entry) {
        out["targets"].push_back({{"provider", target.provider}, {"model", target.target_model}});
        entry = &out["targets"].back();
      }
      (*entry)["attempts"] = target.attempts;
      (*entry)["errors"] = target.errors;
      (*entry)["latency_avg_ms"] = target.latency_avg_ms;
    }
  }
  for (auto& model : models) {
    if (!model.contains("window")) model["window"] = window_json(WindowStats{});
    if (!model.contains("buckets")) model["buckets"] = Json::array();
  }
  const Json body = {{"window_ms", kWindowMs},
                     {"bucket_ms", kBucketMs},
                     {"until_ms", until},
                     {"models", std::move(models)}};
  co_await send_admin_json(response, body);
}

}  // namespace keel

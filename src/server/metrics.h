// Prometheus metrics (text exposition format 0.0.4), safe from every io thread.
//
//   metrics.on_record(record);   // a finished request (store/store.h)
//   std::string page = metrics.render(router.status(), server.in_flight(), store.stats());
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "router/router.h"
#include "store/store.h"

namespace keel {

class Metrics {
 public:
  // `models`: the public model names. A request that names any other model (a 404) is counted
  // under model="", so clients cannot grow /metrics with names of their own.
  explicit Metrics(const std::vector<std::string>& models)
      : models_(models.begin(), models.end()) {}

  // Counts a finished client request: its status, latency, time to first token, tokens, error
  // class and upstream attempts.
  void on_record(const RequestRecord& record);
  // A config reload's public names join the known ones (names that went away keep their
  // series: counters never go back).
  void add_models(const std::vector<std::string>& models);
  std::string render(const std::vector<TargetStatus>& targets, size_t in_flight,
                     const StoreStats& log) const;

 private:
  struct Histogram {
    std::vector<double> counts;   // one per bucket bound, cumulative at render time
    double sum = 0;
    uint64_t count = 0;
  };
  // The last label values (up to three) a family was updated with, and their map entry.
  template <class Value>
  struct Memo {
    std::string key[3];
    Value* value = nullptr;
    // The entry for (a, b, c); `labels` writes their label text when they are not the last ones.
    template <class Labels>
    Value& find(std::map<std::string, Value>& family, std::string_view a, std::string_view b,
                std::string_view c, const Labels& labels);
  };
  static void observe(Histogram& histogram, double value);

  mutable std::mutex mutex_;
  std::set<std::string, std::less<>> models_;  // the public model names
  std::map<std::string, double> requests_;     // labels -> count
  std::map<std::string, double> errors_;
  std::map<std::string, double> tokens_;
  std::map<std::string, double> attempts_;
  std::map<std::string, Histogram> duration_;
  std::map<std::string, Histogram> ttft_;
  Memo<double> requests_memo_, prompt_tokens_memo_, completion_tokens_memo_, attempts_memo_;
  Memo<Histogram> duration_memo_, ttft_memo_;
};

}  // namespace keel

// Prometheus metrics (text exposition format 0.0.4), safe from every io thread.
//
//   metrics.on_request("/v1/chat/completions", "smart", 200, 0.412);
//   std::string page = metrics.render(router.status(), server.in_flight());
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "router/router.h"

namespace keel {

class Metrics {
 public:
  void on_request(const std::string& endpoint, const std::string& model, int status,
                  double seconds);
  void on_error(const std::string& error_class);
  void on_ttft(const std::string& model, double seconds);
  void on_tokens(const std::string& model, int64_t prompt, int64_t completion);
  void on_attempt(const AttemptRecord& attempt);
  std::string render(const std::vector<TargetStatus>& targets, size_t in_flight) const;

 private:
  struct Histogram {
    std::vector<double> counts;   // one per bucket bound, cumulative at render time
    double sum = 0;
    uint64_t count = 0;
  };
  void observe(std::map<std::string, Histogram>& family, const std::string& labels, double value);

  mutable std::mutex mutex_;
  std::map<std::string, double> requests_;     // labels -> count
  std::map<std::string, double> errors_;
  std::map<std::string, double> tokens_;
  std::map<std::string, double> attempts_;
  std::map<std::string, Histogram> duration_;
  std::map<std::string, Histogram> ttft_;
};

}  // namespace keel

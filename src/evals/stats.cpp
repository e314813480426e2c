#include "evals/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace keel::evals {

namespace {

double mean_of(const std::vector<double>& values) {
  if (values.empty()) return 0;
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// log of n choose k.
double log_choose(size_t n, size_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

}  // namespace

MeanCi bootstrap_mean(const std::vector<double>& values, double level, int resamples,
                      uint64_t seed) {
  MeanCi ci;
  ci.n = values.size();
  if (values.empty()) return ci;
  ci.mean = mean_of(values);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  std::vector<double> means(static_cast<size_t>(std::max(resamples, 1)));
  for (double& m : means) {
    double sum = 0;
    for (size_t i = 0; i < values.size(); ++i) sum += values[pick(rng)];
    m = sum / static_cast<double>(values.size());
  }
  std::sort(means.begin(), means.end());
  const double tail = (1 - level) / 2;
  auto at = [&](double q) {
    const double position = q * static_cast<double>(means.size() - 1);
    return means[static_cast<size_t>(std::lround(position))];
  };
  ci.low = at(tail);
  ci.high = at(1 - tail);
  return ci;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return values[std::min(index, values.size() - 1)];
}

PairedComparison paired_compare(const std::vector<double>& a, const std::vector<double>& b,
                                double level, int resamples, uint64_t seed) {
  PairedComparison result;
  const size_t n = std::min(a.size(), b.size());
  result.n = n;
  if (n == 0) return result;
  std::vector<double> diffs(n);
  for (size_t i = 0; i < n; ++i) {
    diffs[i] = b[i] - a[i];
    if (diffs[i] > 0) ++result.b_better;
    if (diffs[i] < 0) ++result.a_better;
  }
  result.mean_a = mean_of(std::vector<double>(a.begin(), a.begin() + static_cast<long>(n)));
  result.mean_b = mean_of(std::vector<double>(b.begin(), b.begin() + static_cast<long>(n)));
  result.diff = bootstrap_mean(diffs, level, resamples, seed);
  // Exact two-sided binomial test with p = 1/2 over the pairs that differ.
  const size_t m = result.a_better + result.b_better;
  if (m > 0) {
    const size_t k = std::min(result.a_better, result.b_better);
    double tail = 0;
    for (size_t i = 0; i <= k; ++i)
      tail += std::exp(log_choose(m, i) - static_cast<double>(m) * std::log(2.0));
    result.sign_p = std::min(1.0, 2 * tail);
  }
  result.significant = result.diff.low > 0 || result.diff.high < 0;
  return result;
}

}  // namespace keel::evals

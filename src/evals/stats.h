// Statistics for evaluation reports: means with bootstrap confidence intervals, percentiles,
// and the paired comparison of two runs (paired bootstrap of the mean difference, sign test).
// Randomness is seeded, so a report is the same every time for the same scores.
//
//   auto ci = bootstrap_mean({1, 0, 1, 1}, 0.95);    // {mean 0.75, low, high}
//   auto diff = paired_compare(a_scores, b_scores);  // significant when the CI excludes 0
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace keel::evals {

struct MeanCi {
  double mean = 0;
  double low = 0;
  double high = 0;
  size_t n = 0;
};

// Percentile bootstrap of the mean (`resamples` resamples, seeded). Empty input: n = 0.
MeanCi bootstrap_mean(const std::vector<double>& values, double level = 0.95, int resamples = 2000,
                      uint64_t seed = 1);

// Nearest-rank percentile (p in [0, 100]) of unsorted values; 0 for none.
double percentile(std::vector<double> values, double p);

struct PairedComparison {
  size_t n = 0;  // pairs
  double mean_a = 0;
  double mean_b = 0;
  MeanCi diff;          // of b - a, paired bootstrap
  size_t b_better = 0;  // pairs where b > a
  size_t a_better = 0;
  double sign_p = 1;         // two-sided exact sign test over pairs that differ
  bool significant = false;  // the diff's CI excludes 0
};

// a[i] and b[i] are the same row's scores in two runs.
PairedComparison paired_compare(const std::vector<double>& a, const std::vector<double>& b,
                                double level = 0.95, int resamples = 2000, uint64_t seed = 1);

}  // namespace keel::evals

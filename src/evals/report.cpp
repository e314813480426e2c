#include "evals/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "api/json_util.h"
#include "evals/stats.h"

namespace keel::evals {

namespace {

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string fixed(double value, int digits = 3) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

Status write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status(ErrorCode::kUnavailable, path.string() + ": cannot write");
  return Status::Ok();
}

// One chart per metric: a bar per candidate (its mean) with the CI as a whisker.
std::string metric_chart(const std::string& metric, const Json& candidates) {
  double top = 1;
  for (const auto& c : candidates) {
    auto m = member(c["metrics"], metric.c_str());
    if (m && (*m)["ci_high"].is_number()) top = std::max(top, (*m)["ci_high"].get<double>());
  }
  top = top > 1 ? std::ceil(top) : 1;  // judges: 1-5
  const int bar_height = 26, label_width = 160, chart_width = 360;
  const int height = static_cast<int>(candidates.size()) * (bar_height + 8) + 24;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << label_width + chart_width + 70
      << "' height='" << height << "' role='img' aria-label='" << html_escape(metric) << "'>";
  int y = 4;
  for (const auto& c : candidates) {
    auto m = member(c["metrics"], metric.c_str());
    svg << "<text x='0' y='" << y + 18 << "' font-size='13'>"
        << html_escape(c["model"].get<std::string>()) << "</text>";
    if (m && (*m)["mean"].is_number()) {
      const double mean = (*m)["mean"].get<double>();
      const double low = (*m)["ci_low"].get<double>(), high = (*m)["ci_high"].get<double>();
      auto x = [&](double v) { return label_width + static_cast<int>(v / top * chart_width); };
      svg << "<rect x='" << label_width << "' y='" << y << "' width='" << x(mean) - label_width
          << "' height='" << bar_height << "' fill='#4e79a7'/>";
      svg << "<line x1='" << x(low) << "' x2='" << x(high) << "' y1='" << y + bar_height / 2
          << "' y2='" << y + bar_height / 2 << "' stroke='#222' stroke-width='2'/>";
      svg << "<text x='" << x(std::max(mean, high)) + 6 << "' y='" << y + 18 << "' font-size='12'>"
          << fixed(mean) << "</text>";
    } else {
      svg << "<text x='" << label_width << "' y='" << y + 18 << "' font-size='12'>no scores</text>";
    }
    y += bar_height + 8;
  }
  svg << "<line x1='" << label_width << "' x2='" << label_width + chart_width << "' y1='" << y
      << "' y2='" << y << "' stroke='#999'/>";
  svg << "<text x='" << label_width << "' y='" << y + 14 << "' font-size='11'>0</text>";
  svg << "<text x='" << label_width + chart_width - 10 << "' y='" << y + 14 << "' font-size='11'>"
      << fixed(top, 0) << "</text></svg>";
  return svg.str();
}

std::string render_html(const std::vector<RowResult>& rows, const Json& summary,
                        const std::string& title) {
  const Json& candidates = summary["candidates"];
  std::vector<std::string> metrics;
  for (const auto& m : summary["metrics"]) metrics.push_back(m.get<std::string>());
  std::ostringstream html;
  html
      << "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>" << html_escape(title)
      << "</title><style>"
      << "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
      << "table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;"
      << "vertical-align:top;text-align:left}th{background:#f3f3f3}.num{text-align:right}"
      << ".fail{color:#b00}.pass{color:#070}.out{white-space:pre-wrap;max-width:28em}"
      << "h2{margin-top:28px}.chart{display:inline-block;margin:8px 24px 8px 0}"
      << "</style></head><body>";
  html << "<h1>" << html_escape(title) << "</h1>";
  html << "<p>" << rows.size() << " rows; run <code>" << html_escape(summary.value("run_id", ""))
       << "</code>. Means with 95% bootstrap confidence intervals; failed scores (a judge's "
       << "unusable answer, a missing input) are counted apart, never as zero.</p>";
  if (summary.contains("stopped") && !summary["stopped"].get<std::string>().empty()) {
    html << "<p class='fail'>Stopped early: " << html_escape(summary["stopped"].get<std::string>())
         << "</p>";
  }
  // Summary table.
  html << "<h2>Candidates</h2><table id='summary'><tr><th>rank</th><th>model</th>";
  for (const auto& m : metrics) html << "<th>" << html_escape(m) << "</th>";
  html << "<th>pass rate</th><th>errors</th><th>p50 ms</th><th>p95 ms</th><th>tokens</th>"
       << "<th>cost</th></tr>";
  int rank = 1;
  for (const auto& c : candidates) {
    html << "<tr><td class='num'>" << rank++ << "</td><td>"
         << html_escape(c["model"].get<std::string>()) << "</td>";
    for (const auto& m : metrics) {
      auto metric = member(c["metrics"], m.c_str());
      html << "<td class='num'>";
      if (metric && (*metric)["mean"].is_number()) {
        html << fixed((*metric)["mean"].get<double>()) << " <small>["
             << fixed((*metric)["ci_low"].get<double>()) << ", "
             << fixed((*metric)["ci_high"].get<double>()) << "]</small>";
        if ((*metric)["failed"].get<int64_t>() > 0) {
          html << " <span class='fail'>(" << (*metric)["failed"].get<int64_t>()
               << " failed)</span>";
        }
      } else {
        html << "—";
      }
      html << "</td>";
    }
    html << "<td class='num'>" << fixed(c["pass_rate"].get<double>() * 100, 1) << "%</td>"
         << "<td class='num'>" << c["errors"].get<int64_t>() << "</td>"
         << "<td class='num'>" << c["latency_ms"]["p50"].dump() << "</td>"
         << "<td class='num'>" << c["latency_ms"]["p95"].dump() << "</td>"
         << "<td class='num'>" << c["tokens"]["prompt"].get<int64_t>() << " + "
         << c["tokens"]["completion"].get<int64_t>() << "</td><td class='num'>"
         << (c["cost"].is_number() ? fixed(c["cost"].get<double>(), 6) : std::string("unpriced"))
         << "</td></tr>";
  }
  html << "</table>";
  // Differences from the best ranked candidate.
  if (summary.contains("versus_best") && !summary["versus_best"]["comparisons"].empty()) {
    html << "<h2>Against " << html_escape(summary["versus_best"]["baseline"].get<std::string>())
         << "</h2><p>Paired by line: mean difference with a paired bootstrap 95% CI, and a sign "
            "test.</p><table id='versus'><tr><th>model</th><th>metric</th><th>difference</th>"
            "<th>95% CI</th><th>sign test p</th><th></th></tr>";
    for (const auto& pair : summary["versus_best"]["comparisons"]) {
      for (const auto& [metric, m] : pair["metrics"].items()) {
        const bool significant = m["significant"].get<bool>();
        html << "<tr><td>" << html_escape(pair["b"].get<std::string>()) << "</td><td>"
             << html_escape(metric) << "</td><td class='num'>" << fixed(m["diff"].get<double>())
             << "</td><td class='num'>[" << fixed(m["ci_low"].get<double>()) << ", "
             << fixed(m["ci_high"].get<double>()) << "]</td><td class='num'>"
             << fixed(m["sign_test_p"].get<double>(), 4) << "</td><td class='"
             << (significant ? "fail'>significant" : "'>not significant") << "</td></tr>";
      }
    }
    html << "</table>";
  }
  // Charts.
  html << "<h2>Metrics</h2>";
  for (const auto& m : metrics) {
    html << "<figure class='chart'><figcaption>" << html_escape(m) << "</figcaption>"
         << metric_chart(m, candidates) << "</figure>";
  }
  // Rows side by side.
  std::vector<std::string> names;
  for (const auto& c : candidates) names.push_back(c["model"].get<std::string>());
  std::map<int64_t, std::map<std::string, const RowResult*>> by_line;
  for (const auto& row : rows) by_line[row.line][row.candidate] = &row;
  html << "<h2>Rows</h2><table id='rows'><tr><th>line</th><th>inputs</th>";
  for (const auto& name : names) html << "<th>" << html_escape(name) << "</th>";
  html << "</tr>";
  for (const auto& [line, cells] : by_line) {
    html << "<tr><td class='num'>" << line + 1 << "</td><td class='out'>";
    const RowResult* any = cells.begin()->second;
    for (const auto& [key, value] : any->inputs.items()) {
      if (key == "schema" || value.get<std::string>().empty()) continue;
      html << "<b>" << html_escape(key) << ":</b> " << html_escape(value.get<std::string>())
           << "<br>";
    }
    html << "</td>";
    for (const auto& name : names) {
      auto it = cells.find(name);
      html << "<td class='out'>";
      if (it == cells.end()) {
        html << "—";
      } else if (!it->second->error.empty()) {
        html << "<span class='fail'>error: " << html_escape(it->second->error) << "</span>";
      } else {
        html << html_escape(it->second->output) << "<br>";
        for (const auto& [metric, score] : it->second->scores) {
          if (score.value) {
            html << "<span class='" << (score.passed ? "pass" : "fail") << "'>"
                 << html_escape(metric) << " " << fixed(*score.value, 2) << "</span> ";
          } else {
            html << "<span class='fail' title='" << html_escape(score.error) << "'>"
                 << html_escape(metric) << " failed</span> ";
          }
        }
      }
      html << "</td>";
    }
    html << "</tr>";
  }
  html << "</table></body></html>\n";
  return html.str();
}

}  // namespace

Json summarize(const std::vector<RowResult>& rows, const std::vector<std::string>& candidates,
               const std::vector<std::string>& metrics) {
  Json list = Json::array();
  for (const auto& candidate : candidates) {
    Json entry = {{"model", candidate}};
    std::map<std::string, std::vector<double>> values;
    std::map<std::string, int64_t> failed, passed;
    std::vector<double> latencies;
    int64_t count = 0, errors = 0, prompt = 0, completion = 0, checks = 0, passes = 0;
    double cost = 0;
    bool priced = true;
    for (const auto& row : rows) {
      if (row.candidate != candidate) continue;
      ++count;
      prompt += row.prompt_tokens;
      completion += row.completion_tokens;
      if (row.cost) {
        cost += *row.cost;
      } else {
        priced = false;
      }
      if (!row.error.empty()) {
        ++errors;
        continue;
      }
      latencies.push_back(static_cast<double>(row.latency_ms));
      for (const auto& metric : metrics) {
        auto it = row.scores.find(metric);
        if (it == row.scores.end()) continue;
        if (!it->second.value) {
          ++failed[metric];
          continue;
        }
        values[metric].push_back(*it->second.value);
        ++checks;
        if (it->second.passed) {
          ++passed[metric];
          ++passes;
        }
      }
    }
    Json metric_json = Json::object();
    for (const auto& metric : metrics) {
      const auto& v = values[metric];
      MeanCi ci = bootstrap_mean(v);
      Json m = Json::object();
      m["mean"] = v.empty() ? Json(nullptr) : Json(ci.mean);
      m["ci_low"] = v.empty() ? Json(nullptr) : Json(ci.low);
      m["ci_high"] = v.empty() ? Json(nullptr) : Json(ci.high);
      m["n"] = v.size();
      m["failed"] = failed[metric];
      m["pass_rate"] =
          v.empty() ? Json(nullptr)
                    : Json(static_cast<double>(passed[metric]) / static_cast<double>(v.size()));
      metric_json[metric] = std::move(m);
    }
    entry["metrics"] = std::move(metric_json);
    entry["rows"] = count;
    entry["errors"] = errors;
    entry["pass_rate"] = checks ? static_cast<double>(passes) / static_cast<double>(checks) : 0.0;
    entry["latency_ms"] = {{"p50", percentile(latencies, 50)}, {"p95", percentile(latencies, 95)}};
    entry["tokens"] = {{"prompt", prompt}, {"completion", completion}};
    entry["cost"] = priced ? Json(cost) : Json(nullptr);
    list.push_back(std::move(entry));
  }
  // Best first: by the first metric's mean (no scores last), then fewer errors.
  if (!metrics.empty()) {
    const std::string& key = metrics.front();
    std::stable_sort(list.begin(), list.end(), [&](const Json& a, const Json& b) {
      const Json& ma = a["metrics"][key]["mean"];
      const Json& mb = b["metrics"][key]["mean"];
      const double va = ma.is_number() ? ma.get<double>() : -1e300;
      const double vb = mb.is_number() ? mb.get<double>() : -1e300;
      if (va != vb) return va > vb;
      return a["errors"].get<int64_t>() < b["errors"].get<int64_t>();
    });
  }
  Json summary = Json::object();
  summary["candidates"] = std::move(list);
  Json metric_names = Json::array();
  for (const auto& m : metrics) metric_names.push_back(m);
  summary["metrics"] = std::move(metric_names);
  return summary;
}

Status write_report(const std::string& dir, const std::vector<RowResult>& rows, const Json& summary,
                    const std::string& title) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(ErrorCode::kUnavailable, dir + ": " + ec.message());
  const std::filesystem::path base(dir);
  std::string jsonl;
  for (const auto& row : rows) {
    jsonl += row.to_json().dump(-1, ' ', false, Json::error_handler_t::replace);
    jsonl += '\n';
  }
  if (auto status = write_file(base / "results.jsonl", jsonl); !status) return status;
  if (auto status = write_file(base / "summary.json",
                               summary.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
      !status) {
    return status;
  }
  return write_file(base / "report.html", render_html(rows, summary, title));
}

Result<std::vector<RowResult>> read_results(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "results.jsonl").string();
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(ErrorCode::kNotFound,
                 path + ": cannot open (is " + dir + " a keel eval --out folder?)");
  std::vector<RowResult> rows;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    auto json = try_parse_json(line);
    auto row = json ? RowResult::from_json(*json) : std::nullopt;
    if (!row) {
      return Error(ErrorCode::kInvalidArgument,
                   path + ":" + std::to_string(number) + ": not a result row");
    }
    rows.push_back(std::move(*row));
  }
  return rows;
}

Result<Json> compare_runs(const std::vector<RowResult>& a, const std::vector<RowResult>& b) {
  auto names = [](const std::vector<RowResult>& rows) {
    std::vector<std::string> out;
    for (const auto& row : rows) {
      if (std::find(out.begin(), out.end(), row.candidate) == out.end())
        out.push_back(row.candidate);
    }
    return out;
  };
  const auto names_a = names(a), names_b = names(b);
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& name : names_a) {
    if (std::find(names_b.begin(), names_b.end(), name) != names_b.end())
      pairs.emplace_back(name, name);
  }
  if (pairs.empty() && names_a.size() == 1 && names_b.size() == 1) {
    pairs.emplace_back(names_a[0], names_b[0]);
  }
  if (pairs.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "the runs share no candidate model, and they are not one candidate each");
  }
  Json out = Json::array();
  for (const auto& [name_a, name_b] : pairs) {
    std::map<int64_t, const RowResult*> rows_b;
    for (const auto& row : b) {
      if (row.candidate == name_b) rows_b[row.line] = &row;
    }
    std::set<std::string> metric_names;
    for (const auto& row : a) {
      if (row.candidate != name_a) continue;
      for (const auto& [metric, score] : row.scores) metric_names.insert(metric);
    }
    Json metrics = Json::object();
    for (const auto& metric : metric_names) {
      std::vector<double> va, vb;
      for (const auto& row : a) {
        if (row.candidate != name_a) continue;
        auto other = rows_b.find(row.line);
        if (other == rows_b.end()) continue;
        auto sa = row.scores.find(metric);
        auto sb = other->second->scores.find(metric);
        if (sa == row.scores.end() || sb == other->second->scores.end() || !sa->second.value ||
            !sb->second.value) {
          continue;
        }
        va.push_back(*sa->second.value);
        vb.push_back(*sb->second.value);
      }
      if (va.empty()) continue;
      PairedComparison c = paired_compare(va, vb);
      metrics[metric] = {{"n", c.n},
                         {"mean_a", c.mean_a},
                         {"mean_b", c.mean_b},
                         {"diff", c.diff.mean},
                         {"ci_low", c.diff.low},
                         {"ci_high", c.diff.high},
                         {"a_better", c.a_better},
                         {"b_better", c.b_better},
                         {"sign_test_p", c.sign_p},
                         {"significant", c.significant}};
    }
    out.push_back({{"a", name_a}, {"b", name_b}, {"metrics", std::move(metrics)}});
  }
  return Json{{"comparisons", std::move(out)}};
}

Json compare_to_best(const std::vector<RowResult>& rows, const Json& summary) {
  Json out = {{"comparisons", Json::array()}};
  const Json& candidates = summary["candidates"];
  if (candidates.size() < 2) return out;
  const std::string best = candidates[0]["model"].get<std::string>();
  std::vector<RowResult> best_rows;
  for (const auto& row : rows) {
    if (row.candidate == best) best_rows.push_back(row);
  }
  for (size_t i = 1; i < candidates.size(); ++i) {
    const std::string name = candidates[i]["model"].get<std::string>();
    std::vector<RowResult> other;
    for (const auto& row : rows) {
      if (row.candidate == name) other.push_back(row);
    }
    if (auto compared = compare_runs(best_rows, other)) {
      for (auto& pair : (*compared)["comparisons"]) out["comparisons"].push_back(std::move(pair));
    }
  }
  out["baseline"] = best;
  return out;
}

std::string describe_comparison(const Json& comparison) {
  std::string text;
  for (const auto& pair : comparison["comparisons"]) {
    const std::string a = pair["a"].get<std::string>(), b = pair["b"].get<std::string>();
    text += "A = " + a + ", B = " + b + "\n";
    for (const auto& [metric, m] : pair["metrics"].items()) {
      const bool significant = m["significant"].get<bool>();
      const double diff = m["diff"].get<double>();
      text += "  " + metric + ": A " + fixed(m["mean_a"].get<double>()) + ", B " +
              fixed(m["mean_b"].get<double>()) + ", B - A " + fixed(diff) + " [" +
              fixed(m["ci_low"].get<double>()) + ", " + fixed(m["ci_high"].get<double>()) +
              "] over " + std::to_string(m["n"].get<size_t>()) +
              " rows, sign test p=" + fixed(m["sign_test_p"].get<double>(), 4) + ": ";
      if (significant) {
        text += std::string("significant, ") + (diff > 0 ? b : a) + " is better\n";
      } else {
        text += "not significant\n";
      }
    }
  }
  return text;
}

}  // namespace keel::evals

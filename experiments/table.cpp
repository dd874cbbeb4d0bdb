#include "experiments/table.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <algorithm>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/io/atomic_file.h"
#include "experiments/plot.h"

namespace qs::experiments {

using nlohmann::json;

const std::vector<std::string>& accuracy_columns() {
  static const std::vector<std::string> c{"NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12", "Avg"};
  return c;
}

namespace {

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  QS_CHECK(in.good(), "table: cannot read {}", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    fail("table: {} is not valid JSON ({})", path.string(), e.what());
  }
}

struct Stat {
  std::vector<double> xs;
  double mean() const {
    double s = 0;
    for (double x : xs) s += x;
    return xs.empty() ? NAN : s / static_cast<double>(xs.size());
  }
  double std() const {  // sample standard deviation; 0 for one seed
    if (xs.size() < 2) return 0.0;
    double m = mean(), s = 0;
    for (double x : xs) s += (x - m) * (x - m);
    return std::sqrt(s / static_cast<double>(xs.size() - 1));
  }
  std::string text(int digits) const {
    if (xs.empty()) return "-";
    if (xs.size() < 2) return fmt::format("{:.{}f}", mean(), digits);
    return fmt::format("{:.{}f} ± {:.{}f}", mean(), digits, std(), digits);
  }
};

struct Row {
  std::string name;
  std::vector<int64_t> seeds;
  std::map<std::string, Stat> stats;
  std::vector<std::pair<double, double>> loss;  // first seed's instruct loss curve
};

// The measures of the table besides accuracy: key in results, header,
// digits; an optional one gets a column only when some row has it (recall
// needs a world with a knowledge base).
struct Measure {
  const char* key;
  const char* header;
  int digits;
  bool optional = false;
};
const std::vector<Measure>& measures() {
  static const std::vector<Measure> m{{"trainable_params_m", "trainable (M)", 3},
                                      {"peak_memory_mb", "peak MB", 0},
                                      {"tune_seconds", "tune s", 0},
                                      {"text_ppl", "text ppl", 3},
                                      {"recall_pct", "recall %", 1, true}};
  return m;
}

// Results store non-finite numbers as null (JSON has no NaN): read them back
// as NaN, so a diverged run shows "nan" in its row instead of breaking the table.
double number(const json& v) {
  QS_CHECK(v.is_null() || v.is_number(), "table: expected a number, got {}", v.dump());
  return v.is_null() ? std::nan("") : v.get<double>();
}

std::vector<std::pair<double, double>> loss_curve(const std::filesystem::path& metrics, const std::string& stage) {
  std::vector<std::pair<double, double>> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    json r = json::parse(line, nullptr, false);
    if (r.is_discarded() || r.value("stage", "") != stage || !r.contains("loss") || !r.contains("step")) continue;
    out.emplace_back(number(r["step"]), number(r["loss"]));
  }
  return out;
}

}  // namespace

std::string write_sweep_report(const std::filesystem::path& run_dir) {
  const json index = read_json(run_dir / "sweep.json");
  std::vector<Row> rows;
  std::set<int64_t> all_seeds;
  int64_t questions = 0;
  double chance = -1;
  std::vector<std::string> extra_scorings;
  std::string scoring_name, target_name;
  for (const json& v : index) {
    const std::string name = v.at("name").get<std::string>();
    auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.name == name; });
    if (it == rows.end()) {
      rows.push_back({name, {}, {}, {}});
      it = rows.end() - 1;
    }
    const std::filesystem::path dir = run_dir / v.at("dir").get<std::string>();
    const json results = read_json(dir / "results.json");
    QS_CHECK(results.contains("evaluate"), "table: {} has no evaluate results (is 'evaluate' among the stages?)",
             (dir / "results.json").string());
    const json& ev = results["evaluate"];
    it->seeds.push_back(v.at("seed").get<int64_t>());
    all_seeds.insert(it->seeds.back());
    for (const std::string& c : accuracy_columns()) {
      if (ev.at("accuracy").contains(c) && !ev["accuracy"][c].is_null()) it->stats[c].xs.push_back(number(ev["accuracy"][c]));
    }
    for (const Measure& m : measures()) {
      if (ev.contains(m.key) && !(m.optional && ev[m.key].is_null())) it->stats[m.key].xs.push_back(number(ev[m.key]));
    }
    // Scorings besides the one that fills the table: their Avg as extra columns.
    if (ev.contains("by_scoring")) {
      for (const auto& [scoring, r] : ev["by_scoring"].items()) {
        if (scoring == ev.value("scoring", std::string())) continue;
        if (std::find(extra_scorings.begin(), extra_scorings.end(), scoring) == extra_scorings.end()) {
          extra_scorings.push_back(scoring);
        }
        if (r.contains("accuracy") && r["accuracy"].contains("Avg")) it->stats["Avg@" + scoring].xs.push_back(number(r["accuracy"]["Avg"]));
      }
    }
    if (ev.contains("scoring")) scoring_name = ev["scoring"].get<std::string>();
    if (ev.contains("target")) target_name = ev["target"].get<std::string>();
    questions = ev.value("questions", int64_t{0});
    chance = ev.value("chance", -1.0);
    // The curve is kept with the instruct stage's results, so cached runs have it too.
    if (it->loss.empty() && results.contains("instruct") && results["instruct"].contains("loss_curve")) {
      for (const json& p : results["instruct"]["loss_curve"]) it->loss.emplace_back(number(p.at(0)), number(p.at(1)));
    }
    if (it->loss.empty()) it->loss = loss_curve(dir / "metrics.jsonl", "instruct");
  }
  std::vector<Measure> shown;
  for (const Measure& m : measures()) {
    if (!m.optional || std::any_of(rows.begin(), rows.end(), [&](const Row& r) { return r.stats.count(m.key) > 0; })) {
      shown.push_back(m);
    }
  }
  // Markdown
  std::string md = fmt::format("SynthSQA test accuracy (%), {} questions{}; mean ± std over seeds {{{}}}{}\n\n", questions,
                               chance >= 0 ? fmt::format(" (a uniform guess scores {:.1f})", chance) : "",
                               fmt::join(all_seeds, ", "),
                               scoring_name.empty() ? ""
                                                    : fmt::format("; scored by {}{}", scoring_name,
                                                                  target_name.empty() ? "" : ", target " + target_name));
  md += "| variant |";
  std::string rule = "| --- |";
  for (const std::string& c : accuracy_columns()) md += " " + c + " |", rule += " ---: |";
  for (const std::string& x : extra_scorings) md += " Avg (" + x + ") |", rule += " ---: |";
  for (const Measure& m : shown) md += std::string(" ") + m.header + " |", rule += " ---: |";
  md += "\n" + rule + "\n";
  std::string csv = "variant,seeds";
  for (const std::string& c : accuracy_columns()) csv += "," + c + "," + c + "_std";
  for (const std::string& x : extra_scorings) csv += ",Avg_" + x + ",Avg_" + x + "_std";
  for (const Measure& m : shown) csv += std::string(",") + m.key + "," + m.key + "_std";
  csv += "\n";
  for (const Row& r : rows) {
    // A row of an interrupted sweep may hold fewer seeds than the header names.
    const bool all = std::set<int64_t>(r.seeds.begin(), r.seeds.end()) == all_seeds;
    md += "| " + r.name + (all ? "" : fmt::format(" (seeds {})", fmt::join(r.seeds, ", "))) + " |";
    csv += "\"" + r.name + "\"," + fmt::format("{}", fmt::join(r.seeds, " "));
    auto cell = [&](const std::string& key, int digits) {
      auto it = r.stats.find(key);
      const Stat s = it == r.stats.end() ? Stat{} : it->second;
      md.append(" ").append(s.text(digits)).append(" |");
      csv += s.xs.empty() ? ",," : fmt::format(",{:.6g},{:.6g}", s.mean(), s.std());
    };
    for (const std::string& c : accuracy_columns()) cell(c, 1);
    for (const std::string& x : extra_scorings) cell("Avg@" + x, 1);
    for (const Measure& m : shown) cell(m.key, m.digits);
    md += "\n";
    csv += "\n";
  }
  engine::write_file_atomically(run_dir / "table.md", md);
  engine::write_file_atomically(run_dir / "table.csv", csv);
  std::vector<Series> curves;
  std::vector<Bar> bars;
  for (const Row& r : rows) {
    curves.push_back({r.name, r.loss});
    auto it = r.stats.find("Avg");
    if (it != r.stats.end()) bars.push_back({r.name, it->second.mean(), it->second.std()});
  }
  write_line_chart(run_dir / "loss.svg", "instruction tuning loss (first seed)", "step", "loss", curves);
  write_bar_chart(run_dir / "accuracy.svg",
                  fmt::format("SynthSQA average accuracy, mean ± std over seeds {{{}}}", fmt::join(all_seeds, ", ")),
                  "accuracy (%)", bars, chance, fmt::format("uniform guess {:.1f}", chance));
  return md;
}

std::filesystem::path latest_sweep_run(const std::filesystem::path& path) {
  if (std::filesystem::exists(path / "sweep.json")) return path;
  QS_CHECK(std::filesystem::is_directory(path), "table: {} is not a directory", path.string());
  std::filesystem::path best;
  for (const auto& entry : std::filesystem::directory_iterator(path)) {
    if (entry.is_directory() && std::filesystem::exists(entry.path() / "sweep.json") &&
        (best.empty() || entry.path().filename() > best.filename())) {
      best = entry.path();
    }
  }
  QS_CHECK(!best.empty(), "table: no sweep run under {} (expected runs/<experiment>/<run-id>/sweep.json)", path.string());
  return best;
}

}  // namespace qs::experiments

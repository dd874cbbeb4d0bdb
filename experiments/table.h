#pragma once
// The report of a sweep: one row per variant (mean ± std over its seeds) with
// SynthSQA accuracy per column, trainable parameters, peak memory, tuning
// time and text perplexity; written as Markdown (table.md) and CSV
// (table.csv), with plots of the instruction-tuning loss per variant
// (loss.svg) and the average accuracy (accuracy.svg).
#include <filesystem>
#include <string>
#include <vector>

namespace qs::experiments {

// The columns of the table, in order: SynthSQA columns, then the costs.
const std::vector<std::string>& accuracy_columns();  // NAT SOC LAN TXT IMG NO G1-6 G7-12 Avg

// Reads <run_dir>/sweep.json and each variant's results.json, writes the
// files above into run_dir and returns the Markdown table.
std::string write_sweep_report(const std::filesystem::path& run_dir);

// The newest run folder of an experiment (runs/<name>/<run-id>) that holds a
// sweep; a run folder itself is returned as is.
std::filesystem::path latest_sweep_run(const std::filesystem::path& path);

}  // namespace qs::experiments

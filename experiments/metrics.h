#pragma once
// What a run reports while it works: metrics.jsonl (one JSON object per
// line), log.txt (human lines, echoed to stdout), and a progress line on the
// terminal with step, loss, tokens/s and ETA.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace qs::experiments {

class RunLog {
 public:
  // An empty dir logs to stdout only (tests, tools).
  explicit RunLog(const std::filesystem::path& dir = {}, bool progress = true);
  // Writes and prints nothing: the ranks other than 0 of a data-parallel run.
  static RunLog silent();
  void metrics(const nlohmann::json& record);  // appended to metrics.jsonl
  void line(const std::string& text);         // log.txt and stdout
  // Redraws the progress line (a terminal) or prints it every `every` steps.
  void progress(const std::string& stage, int64_t step, int64_t total, double loss,
                double tokens_per_second, double elapsed_seconds);

 private:
  std::ofstream metrics_, log_;
  bool progress_enabled_, tty_;
  bool progress_open_ = false;
  bool silent_ = false;
};

}  // namespace qs::experiments

#include "experiments/metrics.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>

#include "experiments/json_text.h"

namespace qs::experiments {

RunLog::RunLog(const std::filesystem::path& dir, bool progress)
    : progress_enabled_(progress), tty_(isatty(STDERR_FILENO) != 0) {
  if (!dir.empty()) {
    std::filesystem::create_directories(dir);
    metrics_.open(dir / "metrics.jsonl", std::ios::app);
    log_.open(dir / "log.txt", std::ios::app);
  }
}

RunLog RunLog::silent() {
  RunLog log({}, false);
  log.silent_ = true;
  return log;
}

void RunLog::metrics(const nlohmann::json& record) {
  if (metrics_.is_open()) {
    metrics_ << json_line(record) << '\n';
    metrics_.flush();
  }
}

void RunLog::line(const std::string& text) {
  if (silent_) return;
  if (progress_open_) {
    std::fputs("\n", stderr);
    progress_open_ = false;
  }
  std::fputs((text + "\n").c_str(), stdout);
  std::fflush(stdout);
  if (log_.is_open()) {
    log_ << text << '\n';
    log_.flush();
  }
}

void RunLog::progress(const std::string& stage, int64_t step, int64_t total, double loss,
                      double tokens_per_second, double elapsed) {
  if (!progress_enabled_) return;
  const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total - step) : 0.0;
  const int width = 24;
  const int filled = total > 0 ? static_cast<int>(width * step / total) : 0;
  std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  std::string text = fmt::format("[{}] {} {:>6}/{} loss {:.4f} {:.0f} tok/s ETA {:.0f}m{:02.0f}s", stage,
                                 bar, step, total, loss, tokens_per_second, std::floor(eta / 60),
                                 std::fmod(eta, 60.0));
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K", text.c_str());
    std::fflush(stderr);
    progress_open_ = true;
  } else if (step == total || step % std::max<int64_t>(1, total / 20) == 0) {
    line(text);
  }
}

}  // namespace qs::experiments

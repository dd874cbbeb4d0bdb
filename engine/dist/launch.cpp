#include "engine/dist/launch.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"

namespace qs::engine::dist {

void relaunch_under_mpirun(int ranks, int argc, char** argv) {
  std::vector<std::string> args{"mpirun", "-np", std::to_string(ranks)};
  // Open MPI refuses root without this, and more ranks than cores without --oversubscribe.
  if (geteuid() == 0) args.push_back("--allow-run-as-root");
  args.push_back("--oversubscribe");
  args.push_back(std::filesystem::read_symlink("/proc/self/exe").string());
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--ranks") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--ranks=", 0) == 0) continue;
    args.push_back(a);
  }
  std::vector<char*> raw;
  for (std::string& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  execvp("mpirun", raw.data());
  fail("--ranks {}: cannot start mpirun ({}); install openmpi-bin, or run as one process", ranks, std::strerror(errno));
}

}  // namespace qs::engine::dist

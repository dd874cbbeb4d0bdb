#pragma once
// Starting a data-parallel job from a plain command: the same command again
// under `mpirun -np N` (Open MPI's launcher), for `qslaw run --ranks N` and
// the benchmarks' --ranks.
namespace qs::engine::dist {

// Replaces this process by `mpirun -np ranks <this binary> <argv without
// --ranks and its value>`; throws when mpirun cannot be started. Adds
// --oversubscribe (more ranks than cores is allowed) and, for root,
// --allow-run-as-root.
[[noreturn]] void relaunch_under_mpirun(int ranks, int argc, char** argv);

}  // namespace qs::engine::dist

#!/usr/bin/env bash
# Data parallel runs (engine/dist) against one process:
#  1. the tiny pipeline on 1 and 2 MPI ranks: the same loss curves (pretrain_llm,
#     pretrain_clip, align, warmup, instruct) and weights (calibrate's too), to 1e-5;
#  2. a 2-rank pretraining killed mid-stage resumes on 1 rank, and the
#     reverse, ending where an uninterrupted run ends;
#  3. a rank that fails (a corrupt file only it reads) ends the whole job
#     within seconds, with its message.
# Usage: data_parallel.sh <qslaw> <source dir>
source "$(dirname "$0")/lib.sh"
command -v mpirun > /dev/null || { echo "skipped: no mpirun (apt-get install openmpi-bin)"; exit 77; }
"$qslaw" info | grep -q "Open MPI" || { echo "skipped: this build has no MPI"; exit 77; }
mpi=(mpirun -np 2 --oversubscribe)
[[ $(id -u) == 0 ]] && mpi+=(--allow-run-as-root)

cat > "$work/dp.yaml" <<YAML
include: $src/experiments/tiny/pipeline.yaml
name: dp_tiny
sweep: ~
YAML
# Pretraining alone, long enough to be killed mid-stage.
cat > "$work/lm.yaml" <<YAML
include: $src/experiments/tiny/pretrain_llm.yaml
name: dp_lm
stages: [pretrain_llm]
pretrain_llm:
  train: {steps: 1500, checkpoint_every: 50, log_every: 50}
YAML
cfg=$work/dp.yaml
run1() { "$qslaw" run "$cfg" --runs "$1" --no-progress "${@:2}"; }
run2() { "$qslaw" run "$cfg" --runs "$1" --no-progress --ranks 2 "${@:2}"; }

# "stage step loss" of every logged training step.
curve() { sed -n 's/.*"loss":\([^,}]*\).*"stage":"\([a-z_]*\)","step":\([0-9]*\).*/\2 \3 \1/p' "$1"/*/metrics.jsonl; }
# Two curves agree on every step both hold, to `rtol`; prints how many and the largest difference.
same_curve() {
  join <(curve "$1" | awk '{print $1"/"$2, $3}' | sort) <(curve "$2" | awk '{print $1"/"$2, $3}' | sort) |
    awk -v rtol="$3" '{d = $2 - $3; if (d < 0) d = -d; r = d / ($3 < 0 ? -$3 : $3); if (r > worst) worst = r; n++}
                      END {printf "%d steps, max relative difference %.2g\n", n, worst; exit !(n > 0 && worst <= rtol)}'
}
# Per tensor ||a - b|| <= 1e-5 ||b|| + 1e-5. The absolute part is for tensors
# whose exact gradient is zero - attention's key biases, which softmax
# ignores: they hold rounding noise that Adam scales up to ~1e-7 in any run.
same_weights() {  # <cache a> <cache b> <file under cache/>
  "$qslaw" diff "$1/cache/$3" "$2/cache/$3" --norm --rtol 1e-5 --atol 1e-5 > "$work/diff.txt" ||
    die "$3 differs: $(cat "$work/diff.txt")"
}

# 1. One process and two.
run1 "$work/one" > "$work/one.log" 2>&1 || die "one process failed: $(tail -3 "$work/one.log")"
run2 "$work/two" > "$work/two.log" 2>&1 || die "two ranks failed: $(tail -3 "$work/two.log")"
grep -q "(2 processes)" "$work/two.log" || die "the 2-rank run does not say it ran 2 processes"
[[ $(grep -c "^\[instruct\] loss" "$work/two.log") == 1 ]] || die "rank 1 printed too (expected rank 0's log only)"
summary=$(same_curve "$work/one/dp_tiny" "$work/two/dp_tiny" 1e-5) || die "loss curves differ: $summary"
for f in $(cd "$work/one/cache" && find pretrain_llm pretrain_clip calibrate align warmup instruct -name '*.h5' | sort); do
  same_weights "$work/one" "$work/two" "$f"
done
[[ -z $(find "$work/two/cache" -name '*.rank1') ]] || die "rank 1's scratch folders were left behind"
echo "ok: 1 and 2 ranks: $summary; $(find "$work/one/cache" -path '*instruct*' -name tuned.h5 | wc -l) tuned model and every upstream weight file equal to 1e-5 (per tensor norm)"

# 1b. Calibration: LWC's block-wise fitting and scale learning alone (its
#     lwc+alpha row trains through the pretraining loop) on 1 and 2 ranks.
cfg=$src/experiments/tiny/calibrate.yaml
run1 "$work/cal1" > "$work/cal1.log" 2>&1 || die "calibrate, one process: $(tail -3 "$work/cal1.log")"
run2 "$work/cal2" > "$work/cal2.log" 2>&1 || die "calibrate, two ranks: $(tail -3 "$work/cal2.log")"
for f in $(cd "$work/cal1/cache" && find calibrate -name '*.h5' | sort); do same_weights "$work/cal1" "$work/cal2" "$f"; done
summary=$(same_curve "$work/cal1/calibrate_tiny" "$work/cal2/calibrate_tiny" 1e-5) || die "calibrate: loss curves differ: $summary"
echo "ok: calibrate on 1 and 2 ranks: $(cd "$work/cal1/cache" && find calibrate -name '*.h5' | wc -l) quantized models equal to 1e-5, $summary"

# 2. Killed mid-stage, resumed at the other world size.
cfg=$work/lm.yaml
run1 "$work/reference" > "$work/reference.log" 2>&1 || die "the uninterrupted run failed"
for order in "2 1" "1 2"; do
  read -r first second <<< "$order"
  dir=$work/resume$first$second
  launch=("$qslaw" run "$cfg" --runs "$dir" --no-progress --ranks "$first")
  setsid "${launch[@]}" > "$dir.a.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 600; ++i)); do  # until the first checkpoint is written, then SIGKILL every process of the job
    compgen -G "$dir/cache/pretrain_llm/*.partial/checkpoint.h5" > /dev/null && break
    sleep 0.05
  done
  kill -9 -- -$pid 2> /dev/null || true
  wait $pid 2> /dev/null || true
  compgen -G "$dir/cache/pretrain_llm/*.partial/checkpoint.h5" > /dev/null || die "$first ranks: no checkpoint before the kill"
  ! grep -q "^results:" "$dir.a.log" || die "$first ranks: the run ended before it was killed (make it longer)"
  resume=(run1); [[ $second == 2 ]] && resume=(run2)
  "${resume[@]}" "$dir" > "$dir.b.log" 2>&1 || die "$first -> $second ranks: the resumed run failed: $(tail -3 "$dir.b.log")"
  grep -q "resumed from" "$dir.b.log" || die "$first -> $second ranks: the run did not resume"
  summary=$(same_curve "$work/reference/dp_lm" "$dir/dp_lm" 1e-5) || die "$first -> $second ranks: the loss curve differs: $summary"
  same_weights "$work/reference" "$dir" "$(cd "$work/reference/cache" && find pretrain_llm -name model.h5)"
  echo "ok: killed on $first rank(s) at $(grep -o 'resumed from .* at step [0-9]*' "$dir.b.log" | grep -o '[0-9]*$'), resumed on $second: $summary (the killed and the resumed run's logged steps against the uninterrupted run's), weights equal"
done

# 3. One rank fails mid-pipeline (its instruction data is corrupt): the job
#    ends within seconds with that rank's message, nobody left waiting.
printf '[{"id": "1", "image": "a.png", "conversations": [{"from": "human"' > "$work/bad.json"
mkdir -p "$work/images"
SECONDS=0
status=0
mpirun --oversubscribe $([[ $(id -u) == 0 ]] && echo --allow-run-as-root) \
  -np 1 "$qslaw" run "$work/dp.yaml" --runs "$work/two" --no-progress --force instruct : \
  -np 1 "$qslaw" run "$work/dp.yaml" instruct.source="$work/bad.json" instruct.images="$work/images" --runs "$work/two" \
  --no-progress --force instruct > "$work/fail.log" 2>&1 || status=$?
((status != 0)) || die "the job succeeded although rank 1 could not read its data"
grep -q "error (rank 1 of 2): $work/bad.json: not valid JSON" "$work/fail.log" || die "rank 1's message is missing: $(tail -3 "$work/fail.log")"
((SECONDS < 60)) || die "the failed job took ${SECONDS} s to end"
echo "ok: a failing rank ended the job in ${SECONDS} s with its message (exit $status)"

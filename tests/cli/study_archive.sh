#!/usr/bin/env bash
# scripts/archive-sweep.py: two real runs of the tiny sweep (seeds 0 and 1,
# separate run folders, as a study spread over sessions has them) archived
# into one folder, from which `qslaw table` prints both seeds; archiving again
# changes nothing, nor does a run replayed from the cache; a rerun with other
# results replaces its copy; an unfinished variant is left out, a run stopped
# before any variant finished is skipped; a hostile index is
# refused without touching the archive.
source "$(dirname "$0")/lib.sh"
archive=$src/scripts/archive-sweep.py
command -v python3 > /dev/null || { echo "skipped: no python3"; exit 77; }

cat > "$work/seed1.yaml" << EOF
include: $src/experiments/tiny/pipeline.yaml
sweep:
  seeds: [1]
EOF
"$qslaw" run "$src/experiments/tiny/pipeline.yaml" --runs "$work/runs" --no-progress > "$work/s0.log" 2>&1 ||
  die "the seed-0 sweep failed: $(tail -3 "$work/s0.log")"
"$qslaw" run "$work/seed1.yaml" --runs "$work/runs" --no-progress > "$work/s1.log" 2>&1 ||
  die "the seed-1 sweep failed: $(tail -3 "$work/s1.log")"
runs=("$work"/runs/pipeline_tiny/*/)
((${#runs[@]} == 2)) || die "expected 2 run folders, found ${#runs[@]}"

python3 "$archive" "${runs[@]}" --into "$work/study" > "$work/archive.log" || die "archiving failed: $(cat "$work/archive.log")"
grep -q "4 finished runs copied; .* holds 4" "$work/archive.log" || die "unexpected: $(cat "$work/archive.log")"
"$qslaw" table "$work/study" > "$work/table.txt" || die "qslaw table on the archive failed"
grep -q "mean ± std over seeds {0, 1}" "$work/study/table.md" || die "the archived table is not over seeds 0 and 1: $(head -1 "$work/study/table.md")"
for row in QLoRA QSLAW; do
  grep -q "^| $row |" "$work/study/table.md" || die "row $row missing from the archived table"
done
# The archive's table holds the mean and spread over both runs (of the text
# perplexity: the tiny model's accuracy is 0 at every seed).
want=$(python3 - "${runs[@]}" << 'EOF'
import glob, json, sys, statistics
xs = [json.load(open(f))["evaluate"]["text_ppl"] for r in sys.argv[1:] for f in glob.glob(f"{r}/qslaw-s*/results.json")]
assert len(xs) == 2, xs
assert xs[0] != xs[1], xs
print(f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}")
EOF
)
grep "^| QSLAW |" "$work/study/table.md" | grep -qF "| $want |" ||
  die "QSLAW's archived text ppl is not the mean of its runs ($want): $(grep '^| QSLAW' "$work/study/table.md")"

sums() { find "$work/study" -type f ! -name 'table.*' ! -name '*.svg' -print | LC_ALL=C sort | xargs sha256sum; }
before=$(sums)
python3 "$archive" "${runs[@]}" --into "$work/study" > /dev/null || die "archiving again failed"
[[ $(sums) == "$before" ]] || die "archiving the same runs again changed the archive"
# A later run that replayed seed 0 from the stage cache (the same results)
# leaves the archive as it is: the record keeps the run that computed it.
# (Found by its variant folder: two runs in one second are named id and
# id-1, and "id-1/" sorts first.)
seed0=$(dirname "$(ls -d "$work"/runs/pipeline_tiny/*/qslaw-s0)")
replay=$work/runs/pipeline_tiny/99999999-replay
cp -r "$seed0" "$replay"
python3 "$archive" "$replay" --into "$work/study" > /dev/null || die "archiving a replayed run failed"
[[ $(sums) == "$before" ]] || die "archiving a cache replay changed the archive (its run id?): $(grep -m2 '"run"' "$work/study/sweep.json")"

# A variant that has not finished (no evaluate results) is not archived.
partial=$work/partial
mkdir -p "$partial/qslaw-s2"
echo '[{"name": "QSLAW", "seed": 2, "dir": "qslaw-s2"}]' > "$partial/sweep.json"
echo '{"instruct": {}}' > "$partial/qslaw-s2/results.json"
python3 "$archive" "$partial" --into "$work/study" > "$work/partial.log" || die "archiving a partial run failed"
grep -q "0 finished runs copied; .* holds 4" "$work/partial.log" || die "a partial run was archived: $(cat "$work/partial.log")"

# A run folder stopped before any variant finished (no index yet) is skipped
# with a word; a folder that does not exist is an error.
stopped=$work/stopped
mkdir -p "$stopped" && cp "$seed0/config.yaml" "$stopped/"
python3 "$archive" "$stopped" --into "$work/study" > /dev/null 2> "$work/stopped.log" || die "a stopped run folder was not skipped: $(cat "$work/stopped.log")"
grep -q "skipped .*stopped: no sweep.json" "$work/stopped.log" || die "no word on the skipped folder: $(cat "$work/stopped.log")"
[[ $(sums) == "$before" ]] || die "a stopped run folder changed the archive"
if python3 "$archive" "$work/no-such-run" --into "$work/study" 2> "$work/missing.log"; then die "a missing run folder was accepted"; fi
grep -q "no such run folder" "$work/missing.log" || die "unclear error: $(cat "$work/missing.log")"

# A run folder whose index names a path outside it is refused, the archive untouched.
hostile=$work/hostile
mkdir -p "$hostile"
echo '[{"name": "x", "seed": 0, "dir": "../../etc"}]' > "$hostile/sweep.json"
if python3 "$archive" "$hostile" --into "$work/study" 2> "$work/hostile.log"; then die "a hostile index was accepted"; fi
grep -q "not a plain folder name" "$work/hostile.log" || die "unclear error: $(cat "$work/hostile.log")"
[[ $(sums) == "$before" ]] || die "a refused archive call changed the archive"
echo '{not json' > "$hostile/sweep.json"
if python3 "$archive" "$hostile" --into "$work/study" 2> "$work/hostile.log"; then die "a malformed index was accepted"; fi
grep -q "cannot read .*sweep.json" "$work/hostile.log" || die "unclear error: $(cat "$work/hostile.log")"
# A variant run again with other results replaces its copy and its run id.
python3 - "$replay/qslaw-s0/results.json" << 'EOF'
import json, sys
r = json.load(open(sys.argv[1])); r["evaluate"]["text_ppl"] += 1.0
json.dump(r, open(sys.argv[1], "w"))
EOF
python3 "$archive" "$replay" --into "$work/study" > /dev/null || die "archiving a changed rerun failed"
python3 - "$work/study/sweep.json" << 'EOF' || die "a changed rerun did not take over its variant's record"
import json, sys
runs = {(v["dir"], v["run"]) for v in json.load(open(sys.argv[1]))}
assert ("qslaw-s0", "99999999-replay") in runs, runs
assert not any(d == "qslaw-s1" and r == "99999999-replay" for d, r in runs), runs
EOF
echo "ok: 2 sweep runs archived into one table over seeds {0, 1}; rearchiving and cache replays idempotent; reruns replace; partial and hostile inputs refused"

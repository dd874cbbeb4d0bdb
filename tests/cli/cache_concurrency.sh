#!/usr/bin/env bash
# Two processes on one stage cache, started together (with a random stagger),
# `trials` times; and runs killed with SIGKILL at a random moment, then rerun.
# Every run must succeed and every cached file must equal a single process's.
# Usage: cache_concurrency.sh <qslaw> <source dir> [trials]
source "$(dirname "$0")/lib.sh"
trials=${3:-20}
cfg=$src/experiments/tiny/pipeline.yaml
run() { "$qslaw" run "$cfg" --runs "$1" --no-progress > "$2" 2>&1; }

run "$work/reference" "$work/reference.log" || die "the reference run failed: $(tail -3 "$work/reference.log")"
cache_listing "$work/reference" > "$work/reference.sums"
[[ $(wc -l < "$work/reference.sums") -gt 20 ]] || die "the reference cache holds too few files"

for ((t = 1; t <= trials; ++t)); do
  dir=$work/trial$t
  run "$dir" "$dir.a.log" & a=$!
  sleep "0.$((RANDOM % 10))"
  run "$dir" "$dir.b.log" & b=$!
  wait $a || die "trial $t: process A failed: $(tail -3 "$dir.a.log")"
  wait $b || die "trial $t: process B failed: $(tail -3 "$dir.b.log")"
  cache_listing "$dir" | diff -q - "$work/reference.sums" > /dev/null || die "trial $t: the cache differs from a single process's"
  "$qslaw" cache verify --runs "$dir" > /dev/null || die "trial $t: qslaw cache verify fails"
  rm -rf "$dir"
done

# SIGKILL at a random moment (mid-stage, mid-write), then a rerun on the same cache.
for ((t = 1; t <= trials / 4 + 1; ++t)); do
  dir=$work/killed$t
  run "$dir" "$dir.a.log" & a=$!
  sleep "$((RANDOM % 4)).$((RANDOM % 10))"
  kill -9 $a 2> /dev/null || true
  wait $a 2> /dev/null || true
  run "$dir" "$dir.b.log" || die "kill trial $t: the rerun failed: $(tail -3 "$dir.b.log")"
  cache_listing "$dir" | diff -q - "$work/reference.sums" > /dev/null || die "kill trial $t: the cache differs from an uninterrupted run's"
  rm -rf "$dir"
done
echo "ok: $trials concurrent trials and $((trials / 4 + 1)) killed runs, every cache equal to a single process's"

#!/usr/bin/env bash
# A byte flipped in each kind of cached artifact (and an edited but valid
# tokenizer, and a truncated done.json): the next run refuses it naming the
# file, `--force <stage>` recomputes it, and the cache ends equal to the
# untouched one. Dataset files are remade by themselves.
# Usage: cache_corruption.sh <qslaw> <source dir>
source "$(dirname "$0")/lib.sh"
cfg=$src/experiments/tiny/pipeline.yaml
runs=$work/runs
run() { "$qslaw" run "$cfg" --runs "$runs" --no-progress "$@" > "$work/last.log" 2>&1; }

run || die "the first run failed: $(tail -3 "$work/last.log")"
cache_listing "$runs" > "$work/reference.sums"

flip() {  # flips one bit of the byte in the middle of a file
  local file=$1 size at byte
  size=$(stat -c %s "$file")
  at=$((size / 2))
  byte=$(od -An -tu1 -j "$at" -N1 "$file" | tr -d ' ')
  printf "$(printf '\\%03o' $((byte ^ 4)))" | dd of="$file" bs=1 seek="$at" conv=notrunc status=none
}

check_refused() {  # <stage> <file>: refused naming the file, then recomputed by --force
  local stage=$1 file=$2
  if run; then die "a corrupt $(basename "$file") was used without complaint"; fi
  grep -q "$(basename "$file")" "$work/last.log" || die "the error does not name $(basename "$file"): $(tail -2 "$work/last.log")"
  grep -q -- "--force $stage" "$work/last.log" || die "the error does not say how to recompute: $(tail -2 "$work/last.log")"
  run --force "$stage" || die "--force $stage failed: $(tail -3 "$work/last.log")"
  cache_listing "$runs" | diff -q - "$work/reference.sums" > /dev/null || die "after --force $stage the cache differs from the original"
}

one() { ls $runs/cache/$1 | head -1; }

flip "$(one 'pretrain_llm/*/model.h5')";      check_refused pretrain_llm model.h5
echo " " >> "$(one 'pretrain_llm/*/tokenizer.json')"; check_refused pretrain_llm tokenizer.json
flip "$(one 'pretrain_clip/*/vision.h5')";    check_refused pretrain_clip vision.h5
flip "$(one 'calibrate/*/lwc_*.h5')";         check_refused calibrate lwc_4b_g16.h5
flip "$(one 'align/*/projector.h5')";         check_refused align projector.h5
done_json=$(one 'instruct/*/done.json')
head -c 40 "$done_json" > "$done_json.cut" && mv "$done_json.cut" "$done_json"
check_refused instruct done.json

for dataset in "$(one 'datasets/captions_s0_*.h5')" "$(one 'datasets/sqa_*.h5')"; do
  flip "$dataset"
  run --force align || die "a corrupt dataset was not remade: $(tail -3 "$work/last.log")"
  grep -q "making it again" "$work/last.log" || die "no message about the corrupt $(basename "$dataset")"
  cache_listing "$runs" | diff -q - "$work/reference.sums" > /dev/null || die "the remade $(basename "$dataset") differs"
done
"$qslaw" cache verify --runs "$runs" > /dev/null || die "qslaw cache verify fails on the repaired cache"
flip "$(one 'pretrain_clip/*/vision.h5')"
if "$qslaw" cache verify --runs "$runs" > "$work/verify.log"; then die "qslaw cache verify missed a flipped byte"; fi
grep -q "vision.h5" "$work/verify.log" || die "qslaw cache verify does not name vision.h5"
echo "ok: every corrupt artifact refused with its name, recomputed by --force, datasets remade"

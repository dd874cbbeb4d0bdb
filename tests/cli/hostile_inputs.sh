#!/usr/bin/env bash
# The failures a hostile but realistic user found (issue 19), each a clear
# message and a non-zero exit - never an abort, a signal or a silent default.
# Usage: hostile_inputs.sh <qslaw> <source dir>
source "$(dirname "$0")/lib.sh"
bench=$(dirname "$qslaw")/../bench
tiny=$src/experiments/tiny

expect() {  # <exit status> <text the output must hold> <command...>
  local want=$1 text=$2 rc=0
  shift 2
  "$@" > "$work/out.log" 2>&1 || rc=$?
  [[ $rc -eq $want ]] || die "'$*' exited $rc (want $want): $(tail -2 "$work/out.log")"
  grep -qF -- "$text" "$work/out.log" || die "'$*' does not say '$text': $(tail -2 "$work/out.log")"
}
run() { "$qslaw" run "$@" --runs "$work/runs" --no-progress; }

# One training step: the sample text of an untrained model is not valid UTF-8.
expect 0 "results:" run "$tiny/pretrain_llm.yaml" pretrain_llm.train.steps=1
expect 1 "empty value for 'pretrain_llm.train.steps'" run "$tiny/pretrain_llm.yaml" pretrain_llm.train.steps=
expect 1 "'name' must be" run "$tiny/pretrain_llm.yaml" "name=$(printf 'a%.0s' {1..300})"
expect 1 "'name' must be" run "$tiny/pretrain_llm.yaml" name=../../escaped
[[ ! -e $work/escaped && ! -e $work/../escaped ]] || die "a run folder was written outside runs/"
expect 1 "cuda:N" run "$tiny/pretrain_llm.yaml" pretrain_llm.train.device=cuda:99999999999
expect 1 "'pretrain_clip.vision.patch_size' must be in" run "$tiny/pretrain_clip.yaml" pretrain_clip.vision.patch_size=0
expect 1 "'pretrain_clip.vision.heads' must be in" run "$tiny/pretrain_clip.yaml" pretrain_clip.vision.heads=0
expect 1 "'instruct.train.batch_size' must be in" run "$tiny/pipeline.yaml" instruct.train.batch_size=1000000000
expect 1 "one training step needs about" env QSLAW_MAX_MEMORY_MB=1 "$qslaw" run "$tiny/pretrain_llm.yaml" pretrain_llm.train.steps=2 \
  --runs "$work/runs" --no-progress
expect 1 "sweep variant 'QLoRA' sets 'method.preset'" run "$tiny/pipeline.yaml" method.preset=foo
expect 1 "error: --out /dev/null" "$qslaw" generate sqa --n 2 --out /dev/null
expect 105 "not in range" "$qslaw" generate scenes --n 0
expect 105 "--n" "$qslaw" generate scenes --n 99999999999999999999 --out "$work/scenes"
[[ ! -e $work/scenes ]] || die "generate wrote scenes for an out-of-range --n"
expect 2 "unknown command 'frobnicate'" "$qslaw" frobnicate
# Checkpoints from outside: inspected from their headers, refused by name.
expect 0 "language model: LLaMA, 2 layers, hidden 32, 4 heads (2 key/value)" "$qslaw" inspect "$src/tests/fixtures/hf_llava"
expect 0 "vision tower: CLIP vision, 3 layers" "$qslaw" inspect "$src/tests/fixtures/hf_llava"
expect 0 "model.layers.1.self_attn.v_proj.weight" "$qslaw" inspect --all "$src/tests/fixtures/hf_llama/linear_rope_bf16_sharded"
printf '\xff\xff\xff\xff\xff\xff\xff\x7f{}' > "$work/bad.safetensors"
expect 1 "bad.safetensors: header length" "$qslaw" inspect "$work/bad.safetensors"
expect 1 "the tokenizer has 320 tokens but the LLM's vocabulary only 61" "$qslaw" eval-sqa "$src/tests/fixtures/hf_llava" \
  --tokenizer "$src/tests/fixtures/tokenizers/llama_like.model" --scienceqa "$src/tests/fixtures/scienceqa"
expect 1 "missing 'nope'" "$qslaw" eval-sqa "$src/tests/fixtures/hf_llava" \
  --tokenizer "$src/tests/fixtures/tokenizers/llama_like.model" --scienceqa "$src/tests/fixtures/scienceqa" --split nope
# qslaw quantize: the deployed packed model, which inspect then describes.
expect 0 "written to" "$qslaw" quantize "$src/tests/fixtures/hf_llama/gqa_tied_f16" "$work/packed" --group-size 16
expect 0 "quantized: qslaw (4-bit, groups of 16, 14 linears)" "$qslaw" inspect "$work/packed"
expect 0 "model.layers.1.mlp.up_proj.qweight" "$qslaw" inspect --all "$work/packed"
expect 1 "--dtype 'f8'" "$qslaw" quantize "$src/tests/fixtures/hf_llama/gqa_tied_f16" "$work/packed8" --dtype f8
expect 1 "bits" "$qslaw" quantize "$src/tests/fixtures/hf_llama/gqa_tied_f16" "$work/packed5" --bits 5
expect 1 "is the input's" "$qslaw" quantize "$work/packed" "$work/packed"
expect 1 "cannot open safetensors file $work/none.safetensors" "$qslaw" quantize "$src/tests/fixtures/hf_llama/gqa_tied_f16" "$work/packed_g" --grid "$work/none.safetensors"
# qslaw merge: a PEFT adapter folded into its base; the packed model back to full precision.
expect 0 "6 adapted linears merged" "$qslaw" merge "$src/tests/fixtures/hf_llama/gqa_tied_f16" "$work/merged" \
  --adapter "$src/tests/fixtures/hf_llama/gqa_tied_f16_lora"
expect 0 "model: LLaMA, 2 layers" "$qslaw" inspect "$work/merged"
expect 0 "written to $work/unpacked as f32" "$qslaw" merge "$work/packed" "$work/unpacked" --dtype f32
expect 1 "adapter_config.json" "$qslaw" merge "$src/tests/fixtures/hf_llama/gqa_tied_f16" "$work/merged2" \
  --adapter "$work/empty_model_missing"
# qslaw convert: a Hugging Face LLaMA to qslaw's model.h5 and back.
expect 0 "model.h5" "$qslaw" convert "$src/tests/fixtures/hf_llama/mha_f32" "$work/model.h5"
expect 0 "$work/converted" "$qslaw" convert "$work/model.h5" "$work/converted" --dtype bf16
expect 0 "model: LLaMA, 2 layers, hidden 32, 4 heads (4 key/value)" "$qslaw" inspect "$work/converted"
expect 1 "grouped-query attention" "$qslaw" convert "$src/tests/fixtures/hf_llama/gqa_tied_f16" "$work/gqa.h5"
expect 1 "the output must be a .h5 file" "$qslaw" convert "$src/tests/fixtures/hf_llama/mha_f32" "$work/nowhere"
mkdir -p "$work/empty_model"
expect 1 "holds neither model.safetensors nor model.safetensors.index.json" "$qslaw" inspect "$work/empty_model"
if [[ -x $bench/bench_quant ]]; then  # benchmarks are not built everywhere (QSLAW_BUILD_BENCH)
  expect 2 "reps must be" "$bench/bench_quant" 0
  expect 2 "--reps must be" "$bench/bench_attention" --reps -1
fi

# A truncated done.json is named, and --force recomputes it.
done_json=$(ls "$work"/runs/cache/pretrain_llm/*/done.json | head -1)
head -c 20 "$done_json" > "$done_json.cut" && mv "$done_json.cut" "$done_json"
expect 1 "done.json is not valid JSON" run "$tiny/pretrain_llm.yaml" pretrain_llm.train.steps=1
expect 0 "results:" run "$tiny/pretrain_llm.yaml" pretrain_llm.train.steps=1 --force pretrain_llm

# A diverged run's NaN metric is written as null and shown as nan in the table.
sweep=$work/runs/nan/1
mkdir -p "$sweep/a-s0"
echo '[{"name": "a", "seed": 0, "dir": "a-s0"}]' > "$sweep/sweep.json"
echo '{"evaluate": {"accuracy": {"Avg": null, "NAT": 50.0}, "text_ppl": null, "questions": 4}}' > "$sweep/a-s0/results.json"
expect 0 "| nan |" "$qslaw" table "$sweep"
echo "ok: every hostile input gets a message and a clean exit"

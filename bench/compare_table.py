#!/usr/bin/python3
"""Markdown table of a compare.sh run: median tokens/s and peak RSS per
(mode, threads, sequence, width) for qslaw and PyTorch, and their ratios."""
import json
import statistics
import sys
from collections import defaultdict


def train_flops_per_sample(seq, dim, vocab=2048, image_tokens=64):
    """Matmul FLOPs of one sample's training step in mode full (3x the forward:
    forward, and the input and weight gradients), attention scores included."""
    def block(t, d, hidden, mlp_mats):
        return 4 * 2 * t * d * d + 2 * 2 * t * t * d + mlp_mats * 2 * t * d * hidden
    vit = 2 * 64 * 192 * 128 + 3 * block(65, 128, 512, 2)  # layer -2 of 4: three blocks run
    hidden = 256 * ((int(8 * dim / 3) + 255) // 256)
    projector = 2 * image_tokens * (128 * dim + dim * dim)
    llm = 8 * block(seq, dim, hidden, 3) + 2 * seq * dim * vocab
    return 3 * (vit + projector + llm)


def main(path):
    runs = defaultdict(list)
    blas = set()
    lm_head = set()
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            runs[(r["mode"], r["threads"], r["seq"], r["dim"], r["impl"])].append(r)
            blas.update(r.get("blas", []))
            if r["impl"] == "qslaw":
                lm_head.add("every position" if r.get("all_logits", True) else "the positions with a target")
    keys = sorted({k[:4] for k in runs}, key=lambda k: (k[1], ["full", "lora", "qslaw"].index(k[0]), k[2], k[3]))
    print(f"PyTorch BLAS: {', '.join(sorted(blas)) or 'unknown'}")
    print(f"qslaw's final norm and LM head: on {' / '.join(sorted(lm_head)) or 'unknown'} "
          "(PyTorch: every position); GFLOP/s counts the reference's work\n")
    print("| mode | threads | seq | dim | PyTorch tok/s | qslaw tok/s | ratio | PyTorch RSS MB | qslaw RSS MB | qslaw GFLOP/s | rounds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in keys:
        t, q = runs.get(k + ("torch",), []), runs.get(k + ("qslaw",), [])
        med = lambda rs, f: statistics.median(r[f] for r in rs) if rs else float("nan")
        ratio = med(q, "tokens_per_s") / med(t, "tokens_per_s") if t and q else float("nan")
        # FLOP/s only for mode full, where every matmul has its three products.
        gflops = (f"{train_flops_per_sample(k[2], k[3]) / k[2] * med(q, 'tokens_per_s') / 1e9:.0f}"
                  if k[0] == "full" and q else "-")
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {med(t, 'tokens_per_s'):.0f} | {med(q, 'tokens_per_s'):.0f} | "
              f"{ratio:.2f} | {med(t, 'peak_rss_mb'):.0f} | {med(q, 'peak_rss_mb'):.0f} | {gflops} | {min(len(t), len(q))} |")


if __name__ == "__main__":
    main(sys.argv[1])

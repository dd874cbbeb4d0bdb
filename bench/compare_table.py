#!/usr/bin/python3
"""Markdown table of a compare.sh run: median tokens/s and peak RSS per
(mode, threads, sequence, width) for qslaw and PyTorch, and their ratios."""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    runs = defaultdict(list)
    blas = set()
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            runs[(r["mode"], r["threads"], r["seq"], r["dim"], r["impl"])].append(r)
            blas.update(r.get("blas", []))
    keys = sorted({k[:4] for k in runs}, key=lambda k: (k[1], ["full", "lora", "qslaw"].index(k[0]), k[2], k[3]))
    print(f"PyTorch BLAS: {', '.join(sorted(blas)) or 'unknown'}\n")
    print("| mode | threads | seq | dim | PyTorch tok/s | qslaw tok/s | ratio | PyTorch RSS MB | qslaw RSS MB | rounds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in keys:
        t, q = runs.get(k + ("torch",), []), runs.get(k + ("qslaw",), [])
        med = lambda rs, f: statistics.median(r[f] for r in rs) if rs else float("nan")
        ratio = med(q, "tokens_per_s") / med(t, "tokens_per_s") if t and q else float("nan")
        print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {med(t, 'tokens_per_s'):.0f} | {med(q, 'tokens_per_s'):.0f} | "
              f"{ratio:.2f} | {med(t, 'peak_rss_mb'):.0f} | {med(q, 'peak_rss_mb'):.0f} | {min(len(t), len(q))} |")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Keeps a sweep's finished runs in the repository: study/<sweep>/.

The stage cache (runs/) is not versioned, and a study spans sessions and
machines; what its tables are built from must survive both. This copies each
finished variant of the given run folders (its config.yaml and results.json,
which holds every stage's results and the instruct loss curve) into the
archive folder and merges the archive's sweep.json, so that
`./qslaw table study/<sweep>` prints the table over every seed archived so
far. A variant run again replaces its earlier copy; one replayed from the
stage cache (the same results) keeps the id of the run that computed it.

  scripts/archive-sweep.py runs/mix_ratio/20261130-1200 [more run folders] --into study/mix_ratio
"""
import argparse
import json
import os
import shutil
import sys


def fail(message):
    print(f"archive-sweep: {message}", file=sys.stderr)
    sys.exit(2)


def read_index(path):
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")
    if not isinstance(index, list) or not all(isinstance(v, dict) and {"name", "seed", "dir"} <= v.keys() for v in index):
        fail(f"{path}: expected a list of {{name, seed, dir}} entries")
    for v in index:
        if os.path.basename(v["dir"]) != v["dir"] or v["dir"] in ("", ".", ".."):
            fail(f"{path}: variant folder {v['dir']!r} is not a plain folder name")
    return index


def finished(run_dir, entry):
    results = os.path.join(run_dir, entry["dir"], "results.json")
    try:
        with open(results) as f:
            return "evaluate" in json.load(f)
    except (OSError, ValueError):
        return False


def same_file(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="sweep run folders (runs/<sweep>/<run-id>)")
    ap.add_argument("--into", required=True, help="archive folder (study/<sweep>)")
    args = ap.parse_args()

    os.makedirs(args.into, exist_ok=True)
    archive_index = os.path.join(args.into, "sweep.json")
    entries = {v["dir"]: v for v in read_index(archive_index)} if os.path.exists(archive_index) else {}
    order = [v["name"] for v in entries.values()]
    added = 0
    for run_dir in args.runs:
        if not os.path.isdir(run_dir):
            fail(f"{run_dir}: no such run folder")
        index = os.path.join(run_dir, "sweep.json")
        if not os.path.exists(index):
            # A sweep writes its index as variants finish: a run stopped
            # before the first one has nothing to archive.
            print(f"archive-sweep: skipped {run_dir}: no sweep.json (no variant of it finished)", file=sys.stderr)
            continue
        for v in read_index(index):
            if v["name"] not in order:
                order.append(v["name"])
            if not finished(run_dir, v):
                continue
            dest = os.path.join(args.into, v["dir"])
            run_id = os.path.basename(os.path.normpath(run_dir))
            # A later run that took this variant from the stage cache writes
            # the same results: keep the id of the run that computed it.
            if v["dir"] in entries and same_file(os.path.join(run_dir, v["dir"], "results.json"),
                                                 os.path.join(dest, "results.json")):
                run_id = entries[v["dir"]].get("run", run_id)
            os.makedirs(dest, exist_ok=True)
            for name in ("config.yaml", "results.json"):
                src = os.path.join(run_dir, v["dir"], name)
                if os.path.exists(src):
                    shutil.copyfile(src, os.path.join(dest, name))
            entries[v["dir"]] = {"name": v["name"], "seed": v["seed"], "dir": v["dir"], "run": run_id}
            added += 1
    # Seed by seed, each seed's variants in the experiment's order: the table's
    # rows follow the order in which names first appear.
    merged = sorted(entries.values(), key=lambda v: (v["seed"], order.index(v["name"])))
    write_atomically(archive_index, json.dumps(merged, indent=1) + "\n")
    print(f"archive-sweep: {added} finished runs copied; {args.into} holds {len(merged)}")


if __name__ == "__main__":
    main()

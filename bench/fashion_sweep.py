"""A small sweep for the Fashion-MNIST recipe 'accurate' (issue 19): width, dropout, epochs.

Each point is one ``xpnn train --dataset fashion-mnist ... --json`` in a fresh process, as a
user runs it (the pinned-OpenBLAS variables of this project's machines unset: see
host.PINNED_BLAS_VARS), one after another with nothing else running. Reported per point:
test accuracy on the 10 000 test images, training seconds and the wall time of the whole
command (start-up, loading, training, evaluation). The accuracy is deterministic (seed 0);
the times are one sample each, so ``--repeat`` reruns the chosen point for its spread.

    .venv/bin/python bench/fashion_sweep.py                 # every point, then the recipe again
    .venv/bin/python bench/fashion_sweep.py --points 0 1    # a subset
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import host
import harness

ALL = "Adam, lr 1e-3, batch 128, cosine schedule, seed 0"
# (hidden, dropout, epochs): the points, widest last
POINTS = [
    ((512, 256), 0.0, 30),   # the default recipe (no dropout)
    ((512, 256), 0.2, 40),
    ((1024, 512), 0.2, 30),  # --recipe accurate
    ((1024, 512), 0.2, 40),
    ((1024, 512), 0.3, 60),
]


def run_point(hidden, dropout, epochs, extra=()) -> dict:
    command = [sys.executable, "-m", "xpnn", "train", "--dataset", "fashion-mnist", "--hidden",
               ",".join(map(str, hidden)), "--dropout", str(dropout), "--epochs", str(epochs),
               "--lr-schedule", "cosine", "--batch-size", "128", "--json", "--quiet", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=harness.REPO_ROOT,
                          env=host.worker_environment())
    wall = time.perf_counter() - started
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"hidden": list(hidden), "dropout": dropout, "epochs": epochs,
            "test_accuracy": summary["test_accuracy"], "train_seconds": summary["train_seconds"],
            "wall_seconds": wall, "flags": command[3:]}


def report(env, blas, rows, recipe_runs) -> str:
    lines = ["# Fashion-MNIST sweep for --recipe accurate", "",
             f"{env['date']}, {env['cpu_model']}, {env['usable_cores']} cores, BLAS: {blas}; "
             f"{ALL}; every point a fresh `xpnn train` process (one sample each).", ""]
    warning = host.load_warning(env)
    if warning:
        lines += [warning, ""]
    lines += ["| hidden | dropout | epochs | test accuracy | training s | wall s |",
              "|---|---|---|---|---|---|"]
    for row in rows:
        if "error" in row:
            lines.append(f"| error: {row['error']} | | | | | |")
            continue
        lines.append(f"| {','.join(map(str, row['hidden']))} | {row['dropout']} | "
                     f"{row['epochs']} | {row['test_accuracy']:.4f} | "
                     f"{row['train_seconds']:.0f} | {row['wall_seconds']:.0f} |")
    if recipe_runs:
        walls = [run["wall_seconds"] for run in recipe_runs]
        accuracies = ", ".join(f"{run['test_accuracy']:.4f}" for run in recipe_runs)
        lines += ["", f"`xpnn train --dataset fashion-mnist --recipe accurate`, "
                      f"{len(walls)} runs: test accuracy {accuracies}; "
                      f"wall {statistics.median(walls):.0f} s median "
                      f"({min(walls):.0f}-{max(walls):.0f} s)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    host.unpin_blas_and_reexec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="*", help="indices into POINTS")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of --recipe accurate itself, after the sweep")
    parser.add_argument("--out", default=str(harness.RESULTS_DIR / "fashion_sweep"))
    args = parser.parse_args()
    import numpy  # noqa: F401  (so that threadpoolctl sees the BLAS the workers load)

    env, blas = host.environment(), host.blas_summary(host.thread_pools())
    chosen = POINTS if args.points is None else [POINTS[i] for i in args.points]
    rows = []
    for point in chosen:
        rows.append(run_point(*point))
        print(rows[-1], flush=True)
        with open(f"{args.out}.partial.json", "w") as file:  # each point kept as it ends
            json.dump(rows, file, indent=1)
    recipe_runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "xpnn", "train", "--dataset",
                               "fashion-mnist", "--recipe", "accurate", "--json", "--quiet"],
                              capture_output=True, text=True, cwd=harness.REPO_ROOT,
                              env=host.worker_environment())
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        recipe_runs.append({"test_accuracy": summary["test_accuracy"],
                            "wall_seconds": time.perf_counter() - started})
        print(recipe_runs[-1], flush=True)
    text = report(env, blas, rows, recipe_runs)
    with open(f"{args.out}.json", "w") as file:
        json.dump({"environment": env, "blas": blas, "points": rows, "recipe": recipe_runs},
                  file, indent=1)
    with open(f"{args.out}.md", "w") as file:
        file.write(text)
    print(text)


if __name__ == "__main__":
    main()

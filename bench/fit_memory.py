"""Peak memory of xpnn's fit against the bytes of its data: does fit copy or widen X?

Fashion-MNIST's 60 000 x 784 training images, uint8 as loaded (45 MiB; not divided by 255),
MLPClassifier(dtype="float32", max_iter=2, random_state=0), plain and early_stopping=True.
Each run is a fresh worker process, 3 repeats interleaved. In the worker, after loading the
data, either the first fit of the process is measured ("first": lazy imports and compiled
code included) or a warm-up fit on 600 rows comes first ("warm"). The memmap variants save
the array with np.save to a temporary .npy and fit on np.load(mmap_mode="r") (warm only).
bench/memory.py's PeakMemory gives the peak anonymous memory (heap, NumPy buffers; not a
memmap's file pages) and peak RSS above the level before the fit, as ratios to X.nbytes.

The worker imports ``memory`` from this script's folder and ``xpnn`` from wherever the
process finds it, so PYTHONPATH selects the checkout (recorded: xpnn.__file__):

    .venv/bin/python bench/fit_memory.py --label after
    cd /tmp/old && PYTHONPATH=/tmp/old /work/main/.venv/bin/python \\
        /work/main/bench/fit_memory.py --label before --out /tmp/before
    .venv/bin/python bench/fit_memory.py --smoke --out /tmp/fit_memory_smoke  # 6000 rows, 1 run
"""
from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import host
import harness

VARIANTS = {"plain": {}, "early_stopping": {"early_stopping": True},
            "memmap": {"memmap": True},
            "memmap+early_stopping": {"memmap": True, "early_stopping": True}}
RUNS = [("plain", "first"), ("plain", "warm"), ("early_stopping", "first"),
        ("early_stopping", "warm"), ("memmap", "warm"), ("memmap+early_stopping", "warm")]
WARMUP_ROWS = 600


# -- the worker: one (variant, mode), one process ---------------------------------------------


def worker(args) -> dict:
    import xpnn  # from sys.path as this process finds it: PYTHONPATH picks the checkout
    from memory import PeakMemory  # this script's folder (sys.path[0])
    from xpnn.data.idx import read_idx

    variant = VARIANTS[args.worker]
    X = read_idx(Path(args.data) / "train-images-idx3-ubyte.gz")[:args.rows].reshape(-1, 784)
    y = read_idx(Path(args.data) / "train-labels-idx1-ubyte.gz")[:args.rows]
    data_bytes = X.nbytes

    def model():
        return xpnn.MLPClassifier(dtype="float32", max_iter=2, random_state=0,
                                  early_stopping=variant.get("early_stopping", False))

    with tempfile.TemporaryDirectory(prefix="fit_memory_") as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=2: "did not converge"
        if variant.get("memmap"):
            np.save(Path(folder) / "X.npy", X)
            X = np.load(Path(folder) / "X.npy", mmap_mode="r")
        if args.mode == "warm":
            model().fit(X[:WARMUP_ROWS], y[:WARMUP_ROWS])
        gc.collect()
        with PeakMemory() as peak:
            started = time.perf_counter()
            clf = model().fit(X, y)
            fit_seconds = time.perf_counter() - started
        is_memmap = isinstance(X, np.memmap)
        del X  # the memmap closes before its folder goes
    return {"variant": args.worker, "mode": args.mode, "rows": args.rows,
            "data_bytes": data_bytes, "memmap": is_memmap, "anon_bytes": peak.anon_bytes,
            "rss_bytes": peak.rss_bytes, "anon_ratio": peak.anon_bytes / data_bytes,
            "rss_ratio": peak.rss_bytes / data_bytes, "fit_seconds": fit_seconds,
            "epochs": len(clf.history_), "xpnn_file": xpnn.__file__,
            "thread_pools": host.thread_pools()}


# -- the driver --------------------------------------------------------------------------------


def checkout_commit(xpnn_file: str | None) -> str | None:
    """``git describe --always --dirty`` of the checkout holding xpnn, when it is a git one."""
    if not xpnn_file:
        return None
    try:
        done = subprocess.run(["git", "-C", str(Path(xpnn_file).parent), "describe", "--always",
                               "--dirty"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def measure(args) -> dict:
    environment = host.environment()
    # workers run from the repository root: keep a relative PYTHONPATH pointing where it did
    paths = os.environ.get("PYTHONPATH")
    env = ({"PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in paths.split(os.pathsep))}
           if paths else None)
    runs, problems = {run: [] for run in RUNS}, {}
    for repeat in range(1, args.repeats + 1):
        for variant, mode in RUNS:
            if (variant, mode) in problems:
                continue
            flags = [variant, "--mode", mode, "--rows", str(args.rows), "--data", args.data]
            result = harness.run_worker(Path(__file__).resolve(), flags, args.timeout, env=env)
            if "error" in result:
                problems[variant, mode] = result["error"]
                line = f"ERROR {result['error']}"
            else:
                runs[variant, mode].append(result)
                line = (f"peak anon {result['anon_ratio']:.2f}x data, peak RSS "
                        f"{result['rss_ratio']:.2f}x, fit {result['fit_seconds']:.1f} s")
            print(f"[repeat {repeat}/{args.repeats}] {variant} ({mode}): {line}",
                  file=sys.stderr, flush=True)
    summary = [{"variant": variant, "mode": mode, "runs": len(done),
                **{key: harness.spread([r[key] for r in done])
                   for key in ("anon_ratio", "rss_ratio", "anon_bytes", "rss_bytes",
                               "fit_seconds")}}
               for (variant, mode), done in runs.items() if done]
    first = next((done[0] for done in runs.values() if done), {})
    return {"benchmark": "fit_memory", "label": args.label, "environment": environment,
            "xpnn_file": first.get("xpnn_file"), "xpnn_commit": checkout_commit(
                first.get("xpnn_file")), "thread_pools": first.get("thread_pools"),
            "settings": {"rows": args.rows, "data_bytes": args.rows * 784, "dtype": "float32",
                         "max_iter": 2, "repeats": args.repeats, "smoke": args.smoke},
            "summary": summary,
            "problems": [{"variant": v, "mode": m, "error": e} for (v, m), e in problems.items()],
            "runs": [run for done in runs.values() for run in done]}


def cell(stats: dict, form: str = ".2f") -> str:
    return f"{stats['median']:{form}} ({stats['min']:{form}}-{stats['max']:{form}})"


def markdown_report(result: dict) -> str:
    env, settings = result["environment"], result["settings"]
    warning = host.load_warning(env)
    rows = [[row["variant"], row["mode"], str(row["runs"]), cell(row["anon_ratio"]),
             cell(row["rss_ratio"]), f"{row['anon_bytes']['median'] / host.MIB:.1f}",
             f"{row['rss_bytes']['median'] / host.MIB:.1f}", cell(row["fit_seconds"])]
            for row in result["summary"]]
    rows += [[p["variant"], p["mode"], "0", *["-"] * 4, p["error"].replace("|", "/")]
             for p in result["problems"]]
    commit = f" (git {result['xpnn_commit']})" if result["xpnn_commit"] else ""
    return "\n".join([
        f"## Peak memory of fit against the data's bytes: {result['label']} ({env['date']})", "",
        *([warning, ""] if warning else []),
        f"- xpnn: {result['xpnn_file']}{commit}",
        f"- machine: {env['cpu_model']}, {env['cpu_count']} cores; BLAS: "
        f"{host.blas_summary(result['thread_pools'] or [])}",
        f"- data: Fashion-MNIST {settings['rows']:,} x 784 uint8 as loaded, "
        f"{settings['data_bytes'] / host.MIB:.1f} MiB; MLPClassifier(dtype=\"float32\", "
        f"max_iter=2, random_state=0); {settings['repeats']} repeat(s), interleaved, one "
        "process per run" + (" (SMOKE RUN)" if settings["smoke"] else ""),
        "- peaks above the level before fit; first: the process's first fit; warm: after a "
        "600-row fit; memmap: np.load(mmap_mode=\"r\") of a .npy (its pages are RSS, not anon)",
        "",
        harness.markdown_table(["variant", "mode", "runs", "peak anon / data", "peak RSS / data",
                               "peak anon MiB", "peak RSS MiB", "fit s"], rows),
        "", "Median (min-max) over runs.", ""])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="", help="a name for this checkout, e.g. before")
    parser.add_argument("--repeats", type=int, default=3, help="runs per row (default 3)")
    parser.add_argument("--rows", type=int, default=60000, help="training rows (default 60000)")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="folder with the Fashion-MNIST IDX .gz files")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per worker")
    parser.add_argument("--smoke", action="store_true", help="6000 rows, 1 repeat")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("first", "warm"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.repeats = 6000, 1
    return args


def main(argv=None) -> int:
    return harness.script_main(argv, "fit_memory", parse_args, worker, measure, markdown_report)


if __name__ == "__main__":
    sys.exit(main())

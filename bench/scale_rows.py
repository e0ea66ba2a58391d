"""Cost that grows with the work: one epoch of xpnn's fit on 1x to 128x Fashion-MNIST.

The 60 000 training images grown to N rows by pixel shifts: copy k (0-based) is every image
shifted by the k-th (dy, dx) of range(-6, 7) squared, ordered by |dy| + |dx| then (dy, dx),
zero fill; copy 0 is the original, labels repeat. Built in place in one np.empty((N, 784),
uint8) (7.68 M rows: 6.0 GB). Pixels stay uint8 and are handed to fit with
``scaling=(None, 1/255)``, what ``xpnn train`` does with its saved preprocessing: xpnn keeps
the caller's dtype and casts and scales each batch as it gathers it, the path measured here.
(Raw 0-255 pixels without the scaling train badly, loss 6.7 after one 60k epoch, and run
1.7x slower per row: a saturated softmax underflows in exp.)

Each (size, repeat) is a fresh worker: build the data (timed apart), a warm-up fit on 600
rows (imports, numba's compiled code), then MLPClassifier((256, 128), batch 128, float32, one
epoch) inside bench/memory.py's PeakMemory. Flat s/100k rows and bytes/row across sizes: the
cost grows with the work and nothing more. Repeats interleaved; the largest size runs
--repeats-largest (1) times.

    .venv/bin/python bench/scale_rows.py                     # 60k, 480k, 1.92M x3; 7.68M x1
    .venv/bin/python bench/scale_rows.py --smoke --out /tmp/scale_rows_smoke
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import host
import harness

SIZES = (60_000, 480_000, 1_920_000, 7_680_000)
SMOKE_SIZES, SMOKE_BASE_ROWS = (6000, 24000), 3000
SIDE = 28  # images are SIDE x SIDE
WARMUP_ROWS = 600
GIB = 2**30
RATIO_KEYS = ("epoch_s_per_100k", "fit_s_per_100k", "anon_bytes_per_row", "rss_bytes_per_row")


# -- the data: shifted copies, built in place -------------------------------------------------


def offsets() -> list[tuple[int, int]]:
    """Every shift (dy, dx) in the order the copies take them: (0, 0) first."""
    grid = [(dy, dx) for dy in range(-6, 7) for dx in range(-6, 7)]
    return sorted(grid, key=lambda shift: (abs(shift[0]) + abs(shift[1]), shift))


def span(shift: int) -> tuple[int, int, int, int]:
    """Along one axis: (to start, to stop, from start, from stop) of a shift by ``shift``."""
    return max(shift, 0), SIDE + min(shift, 0), max(-shift, 0), SIDE - max(shift, 0)


def grown(images, labels, n_rows: int):
    """(X (n_rows, 784) uint8, y): shifted copies of ``images`` (n, 28, 28), one allocation."""
    base = images.shape[0]
    copies, rest = divmod(n_rows, base)
    if rest or not 1 <= copies <= len(offsets()):
        raise SystemExit(f"{n_rows} rows: not 1 to {len(offsets())} copies of {base} images")
    X = np.empty((n_rows, SIDE * SIDE), np.uint8)
    for k, (dy, dx) in enumerate(offsets()[:copies]):
        block = X[k * base:(k + 1) * base].reshape(base, SIDE, SIDE)  # a view into X
        y0, y1, from_y0, from_y1 = span(dy)
        x0, x1, from_x0, from_x1 = span(dx)
        block[:, :y0] = block[:, y1:] = 0  # zero fill where the shift uncovers pixels
        block[:, y0:y1, :x0] = block[:, y0:y1, x1:] = 0
        block[:, y0:y1, x0:x1] = images[:, from_y0:from_y1, from_x0:from_x1]
    return X, np.tile(labels, copies)


# -- the worker: one size, one process -------------------------------------------------------


def model():
    import xpnn

    return xpnn.MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=128, max_iter=1,
                              dtype="float32", random_state=0, n_iter_no_change=np.inf, tol=0)


SCALING = (None, np.float32(1.0 / 255.0))  # xpnn train's saved preprocessing of pixels


def worker(args) -> dict:
    from memory import PeakMemory, status_bytes
    from xpnn.data.idx import read_idx

    images = read_idx(Path(args.data) / "train-images-idx3-ubyte.gz")[:args.base_rows]
    labels = read_idx(Path(args.data) / "train-labels-idx1-ubyte.gz")[:args.base_rows]
    started = time.perf_counter()
    X, y = grown(images, labels, args.worker)
    build_seconds = time.perf_counter() - started
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch: "did not converge"
        model().fit(X[:WARMUP_ROWS], y[:WARMUP_ROWS], scaling=SCALING)  # imports, numba
        gc.collect()
        with PeakMemory() as peak:
            started = time.perf_counter()
            clf = model().fit(X, y, scaling=SCALING)
            fit_seconds = time.perf_counter() - started
    n, epoch = X.shape[0], clf.history_[0]
    return {"rows": n, "data_bytes": X.nbytes, "build_seconds": build_seconds,
            "fit_seconds": fit_seconds, "epoch_seconds": epoch["seconds"],
            "epoch_s_per_100k": epoch["seconds"] / n * 1e5, "fit_s_per_100k": fit_seconds / n * 1e5,
            "anon_bytes": peak.anon_bytes, "anon_bytes_per_row": peak.anon_bytes / n,
            "rss_bytes": peak.rss_bytes, "rss_bytes_per_row": peak.rss_bytes / n,
            "total_peak_rss_bytes": status_bytes("VmHWM"), "train_loss": epoch["loss"],
            "xpnn_file": sys.modules["xpnn"].__file__, "thread_pools": host.thread_pools()}


# -- the driver: interleaved runs, summary, report --------------------------------------------


def measure(args) -> dict:
    environment = host.environment()  # the load average at the start
    sizes = sorted(args.sizes)
    repeats = {n: args.repeats_largest if n == sizes[-1] and len(sizes) > 1 else args.repeats
               for n in sizes}
    runs, problems = {n: [] for n in sizes}, {}
    flags = ["--base-rows", str(args.base_rows), "--data", str(args.data)]
    for round_ in range(max(repeats.values())):
        for n in sizes:
            if round_ >= repeats[n] or n in problems:
                continue
            result = harness.run_worker(Path(__file__).resolve(), [str(n), *flags], args.timeout)
            if "error" in result:
                problems[n] = line = f"ERROR {result['error']}"
            else:
                runs[n].append(result)
                line = (f"epoch {result['epoch_seconds']:.2f} s, {result['epoch_s_per_100k']:.3f}"
                        f" s/100k rows, peak anon {result['anon_bytes_per_row']:.1f} B/row")
            print(f"[round {round_ + 1}] {n} rows: {line}", file=sys.stderr, flush=True)
    keys = (*RATIO_KEYS, "epoch_seconds", "fit_seconds", "total_peak_rss_bytes",
            "build_seconds", "train_loss")
    summary = {n: {"runs": len(runs[n]), "data_bytes": runs[n][0]["data_bytes"],
                   **{key: harness.spread([r[key] for r in runs[n]]) for key in keys}}
               for n in sizes if runs[n]}
    reference = summary.get(sizes[0])
    for row in summary.values():  # flatness: this size's median over the smallest size's
        row["ratio_to_smallest"] = ({key: row[key]["median"] / reference[key]["median"]
                                     if reference[key]["median"] else None for key in RATIO_KEYS}
                                    if reference else None)
    first = next((r[0] for r in runs.values() if r), {})
    return {"benchmark": "scale_rows", "environment": environment,
            "settings": {"sizes": sizes, "repeats": repeats, "base_rows": args.base_rows,
                         "smoke": args.smoke, "hidden": [256, 128], "batch_size": 128,
                         "epochs": 1, "dtype": "float32",
                         "pixels": "uint8, each batch cast and scaled by 1/255 (scaling=)"},
            "xpnn_file": first.get("xpnn_file"), "thread_pools": first.get("thread_pools"),
            "summary": {str(n): row for n, row in summary.items()},
            "problems": {str(n): p for n, p in problems.items()},
            "runs": {str(n): r for n, r in runs.items()}}


def cell(stats: dict, form: str, scale: float = 1.0) -> str:
    """'median (min-max)' of a spread, each value divided by ``scale``."""
    median, low, high = (stats[key] / scale for key in ("median", "min", "max"))
    return f"{median:{form}} ({low:{form}}-{high:{form}})"


def markdown_report(result: dict) -> str:
    env, settings, summary = result["environment"], result["settings"], result["summary"]
    warning = host.load_warning(env)
    rows, flat = [], []
    for n, row in summary.items():
        rows.append([f"{int(n):,}", f"{row['data_bytes'] / GIB:.2f}", str(row["runs"]),
                     cell(row["epoch_s_per_100k"], ".3f"), cell(row["fit_s_per_100k"], ".3f"),
                     cell(row["anon_bytes_per_row"], ".1f"), cell(row["rss_bytes_per_row"], ".1f"),
                     cell(row["total_peak_rss_bytes"], ".2f", GIB),
                     f"{row['build_seconds']['median']:.2f}", f"{row['train_loss']['median']:.3f}"])
        ratios = row["ratio_to_smallest"] or {}
        flat.append([f"{int(n):,}", *("-" if ratios.get(k) is None else f"{ratios[k]:.2f}x"
                                      for k in RATIO_KEYS)])
    rows += [[f"{int(n):,}", *["-"] * 8, problem.replace("|", "/")]
             for n, problem in result["problems"].items()]
    smallest = f"{settings['sizes'][0]:,}"
    return "\n".join([
        f"## xpnn fit cost against rows: Fashion-MNIST grown by pixel shifts ({env['date']})", "",
        *([warning, ""] if warning else []),
        f"- machine: {env['cpu_model']}, {env['cpu_count']} cores ({env['usable_cores']} usable)",
        f"- BLAS: {host.blas_summary(result['thread_pools'] or [])}",
        f"- xpnn: {result['xpnn_file']}",
        f"- work: {settings['base_rows']:,} training images, copy k shifted by the k-th (dy, dx) "
        "(zero fill), uint8 pixels as given, fit(..., scaling=(None, 1/255)): each batch cast "
        "and scaled as xpnn gathers it; MLP 784-256-128-10, "
        "float32, batch 128, Adam, one epoch; a warm-up fit on 600 rows first; one process "
        "per run, repeats interleaved: "
        + ", ".join(f"{int(n):,} x{k}" for n, k in settings["repeats"].items())
        + (" (SMOKE RUN)" if settings["smoke"] else ""),
        "- memory: peaks during fit above the level before it (the data already resident, "
        "not counted), per row; total peak RSS: the worker's VmHWM, data included", "",
        harness.markdown_table(
            ["rows", "data GiB", "runs", "epoch s/100k rows", "fit s/100k rows",
             "peak anon B/row", "peak RSS B/row", "total peak RSS GiB", "build s",
             "train loss"], rows),
        "", "Median (min-max) over runs.", "",
        f"Flatness: each size's median over the {smallest}-row median (1.00x: flat).", "",
        harness.markdown_table(["rows", "epoch s/100k", "fit s/100k", "anon B/row", "RSS B/row"],
                              flat), ""])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")],
                        default=list(SIZES), help="rows, comma-separated (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (default 3)")
    parser.add_argument("--repeats-largest", type=int, default=1,
                        help="runs of the largest size (default 1)")
    parser.add_argument("--base-rows", type=int, default=60000, help=argparse.SUPPRESS)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="folder with the Fashion-MNIST IDX .gz files")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR / "scale_rows")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds one worker may run (default 3600)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"test the script: {SMOKE_SIZES} rows from {SMOKE_BASE_ROWS} images, "
                             "1 repeat")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.sizes, args.base_rows = list(SMOKE_SIZES), SMOKE_BASE_ROWS
        args.repeats = args.repeats_largest = 1
    return args


def main(argv=None) -> int:
    return harness.script_main(argv, "scale_rows", parse_args, worker, measure, markdown_report)


if __name__ == "__main__":
    sys.exit(main())

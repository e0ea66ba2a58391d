"""dask-ml's Incremental over Fashion-MNIST as a dask array, against partial_fit on NumPy over
the same blocks: test accuracy, time from a fresh process, peak memory against the array.

The data, prepared once by the driver: Fashion-MNIST's 60 000 training and 10 000 test
images, uint8, written with ``dask.array.to_npy_stack`` as 8 blocks each (7 500 and 1 250
rows), in a temporary folder. Each run is a fresh worker process (``harness.run_worker``,
without the pinned-OpenBLAS variables), the variants interleaved, one seed per repeat:

- ``incremental``: ``distributed.LocalCluster(n_workers=2, processes=True,
  threads_per_worker=1)`` and a ``Client``; X = ``da.from_npy_stack(...) / 255`` (float32,
  each block read and scaled on the worker that trains on it: the driver never holds it);
  ``Incremental(MLPClassifier(...), scoring="accuracy", shuffle_blocks=True,
  random_state=seed)``, ``partial_fit`` once per pass (dask-ml's way to several epochs; an
  int random_state gives the same block order every pass); ``score`` on the dask test array,
  block by block on the workers.
- ``partial_fit``: the blocks read into one NumPy array / 255 (float32), then
  ``MLPClassifier.partial_fit`` over the 8 blocks in order, once per epoch; ``score``.
- ``fit``: the same NumPy array, ``fit`` with ``max_iter`` = the epochs (every epoch shuffles
  all 60 000 rows): what block-by-block training is measured against.

The model is compare.py's: 784-256-128-10 ReLU, float32, batch 128, Adam lr 1e-3, alpha 0.
Every process first warms up (scikit-learn's imports, the kernels' compilation: a tiny fit;
the Incremental driver runs it on both dask workers side by side, with dask-ml's import),
then measures from the data's loading to the score: times, and memory with
``memory.PeakMemory`` (peak anonymous memory and peak RSS added) in the driver (the process
that calls fit; with LocalCluster also its scheduler and nannies) and in each dask worker,
against the float32 training array's bytes.

    .venv/bin/python bench/dask_incremental.py                         # 20 epochs, 3 repeats
    .venv/bin/python bench/dask_incremental.py --smoke --out /tmp/smoke  # 6000 rows, 2 epochs
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# this folder's sparse.py would shadow pydata's sparse, which dask imports: the folder goes
# last on the path (spawned dask workers inherit the path and import this script)
BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR] + [str(BENCH_DIR)]

import host  # noqa: E402
import harness  # noqa: E402
import memory  # noqa: E402

VARIANTS = ("incremental", "partial_fit", "fit")
BLOCKS = 8
CLASSES = np.arange(10)


# -- the worker: one variant, one process -----------------------------------------------------


def model(seed: int, epochs: int):
    import xpnn

    return xpnn.MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=128,
                              learning_rate_init=1e-3, alpha=0.0, dtype="float32",
                              max_iter=epochs, n_iter_no_change=epochs + 1, random_state=seed)


def warm_up() -> None:
    """A tiny partial_fit, fit and predict of the benchmark's settings on 300 rows (more than
    a batch): scikit-learn's imports and the kernels' compilation for float32 (whose own
    peak is 100 MiB above where they leave the RSS), before the timings and the peaks."""
    rows, labels = np.zeros((300, 784), np.float32), np.arange(300) % CLASSES.size
    tiny = model(0, 1).set_params(hidden_layer_sizes=(4, 2))
    tiny.partial_fit(rows, labels, classes=CLASSES).predict(rows)
    tiny.fit(rows, labels).score(rows, labels)


def worker_warm_up() -> None:
    """A dask worker's warm-up: ``warm_up`` and dask-ml's import (its partial_fit task
    function: 4 s here), so that the first pass times training alone."""
    import dask_ml.wrappers  # noqa: F401

    warm_up()


def start_peaks(dask_worker) -> None:
    """On a dask worker (client.run): its memory peaks from now on."""
    dask_worker.bench_peak = memory.PeakMemory().__enter__()


def stop_peaks(dask_worker) -> dict:
    peak = dask_worker.bench_peak
    peak.__exit__(None, None, None)
    return peaks(peak)


def peaks(peak) -> dict:
    """What the data and the training added to a process, in MiB: peak anonymous memory and
    peak RSS above the level before them, and that RSS."""
    return {"anon_added_mib": peak.anon_bytes / host.MIB,
            "rss_added_mib": peak.rss_bytes / host.MIB,
            "rss_before_mib": peak.rss_start / host.MIB}


def read_blocks(folder: Path) -> np.ndarray:
    """The npy stack's blocks (0.npy, 1.npy, ...) in one host array, / 255 in float32."""
    blocks = sorted(folder.glob("*.npy"), key=lambda path: int(path.stem))
    return np.concatenate([np.load(path) for path in blocks]) / np.float32(255)


def numpy_run(args, started: float) -> dict:
    warm_up()
    data = Path(args.data_dir)
    with memory.PeakMemory() as peak:
        X, X_test = read_blocks(data / "X"), read_blocks(data / "X_test")
        y, y_test = np.load(data / "y.npy"), np.load(data / "y_test.npy")
        clf = model(args.seed, args.epochs)
        began, pass_seconds = time.perf_counter(), []
        if args.worker == "fit":
            clf.fit(X, y)
            pass_seconds = [row["seconds"] for row in clf.history_]
        else:
            block = -(-X.shape[0] // BLOCKS)  # as prepare() cut the blocks; slices are views
            for _ in range(args.epochs):
                began_pass = time.perf_counter()
                for start in range(0, X.shape[0], block):
                    clf.partial_fit(X[start:start + block], y[start:start + block],
                                    classes=CLASSES)
                pass_seconds.append(time.perf_counter() - began_pass)
        train = time.perf_counter() - began
        scored = time.perf_counter()
        accuracy = clf.score(X_test, y_test)
        score_seconds = time.perf_counter() - scored
    return {"test_accuracy": accuracy, "train_seconds": train, "pass_seconds": pass_seconds,
            "score_seconds": score_seconds, "array_bytes": X.nbytes,
            "setup_seconds": began - started, "driver": peaks(peak),
            "thread_pools": host.thread_pools()}


def incremental_run(args, started: float) -> dict:
    import dask.array as da
    import distributed
    from dask_ml.wrappers import Incremental

    data = Path(args.data_dir)
    began_cluster = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    try:
        with distributed.Client(cluster) as client:
            times = {"cluster_start_seconds": time.perf_counter() - began_cluster}
            client.run(worker_warm_up)  # both workers side by side
            times["worker_warm_up_seconds"] = time.perf_counter() - began_cluster - times[
                "cluster_start_seconds"]
            warm_up()
            client.run(start_peaks)
            with memory.PeakMemory() as peak:  # (LocalCluster's nannies: in this process)
                X, X_test = (da.from_npy_stack(data / name) / np.float32(255)
                             for name in ("X", "X_test"))
                y, y_test = (da.from_npy_stack(data / name) for name in ("y", "y_test"))
                incremental = Incremental(model(args.seed, args.epochs), scoring="accuracy",
                                          shuffle_blocks=True, random_state=args.seed)
                began, pass_seconds = time.perf_counter(), []
                for _ in range(args.epochs):
                    began_pass = time.perf_counter()
                    incremental.partial_fit(X, y, classes=CLASSES)
                    pass_seconds.append(time.perf_counter() - began_pass)
                train = time.perf_counter() - began
                scored = time.perf_counter()
                accuracy = float(incremental.score(X_test, y_test))
                score_seconds = time.perf_counter() - scored
            workers = list(client.run(stop_peaks).values())
            worker_pools = next(iter(client.run(host.thread_pools).values()))
    finally:
        cluster.close()
    return {"test_accuracy": accuracy, "train_seconds": train, "pass_seconds": pass_seconds,
            "score_seconds": score_seconds, "array_bytes": int(X.nbytes),
            "setup_seconds": began - started, **times, "driver": peaks(peak),
            "workers": workers, "thread_pools": host.thread_pools(),
            "worker_thread_pools": worker_pools}


def worker(args) -> dict:
    started = time.perf_counter()
    result = incremental_run(args, started) if args.worker == "incremental" else numpy_run(
        args, started)
    return {"variant": args.worker, "seed": args.seed, "epochs": args.epochs,
            "in_process_seconds": time.perf_counter() - started, **result}


# -- the driver -------------------------------------------------------------------------------


def prepare(source: Path, folder: Path, rows: int | None) -> dict:
    """The four arrays as npy stacks of BLOCKS blocks (y beside them as plain .npy too)."""
    import dask.array as da
    from xpnn.data.idx import read_idx

    arrays = {"X": read_idx(source / "train-images-idx3-ubyte.gz").reshape(-1, 784),
              "y": read_idx(source / "train-labels-idx1-ubyte.gz").astype(np.int64),
              "X_test": read_idx(source / "t10k-images-idx3-ubyte.gz").reshape(-1, 784),
              "y_test": read_idx(source / "t10k-labels-idx1-ubyte.gz").astype(np.int64)}
    if rows:
        arrays["X"], arrays["y"] = arrays["X"][:rows], arrays["y"][:rows]
    for name, array in arrays.items():
        block = -(-array.shape[0] // BLOCKS)
        da.to_npy_stack(folder / name, da.from_array(array, chunks=(block, *array.shape[1:])))
        if name.startswith("y"):
            np.save(folder / f"{name}.npy", array)
    return {"train_rows": int(arrays["X"].shape[0]), "test_rows": int(arrays["X_test"].shape[0]),
            "uint8_bytes": int(arrays["X"].nbytes), "float32_bytes": int(arrays["X"].nbytes * 4)}


def measure(args) -> dict:
    environment = host.environment()
    runs, problems = {variant: [] for variant in args.variants}, []
    with tempfile.TemporaryDirectory(prefix="dask_incremental_") as folder:
        data = prepare(Path(args.data), Path(folder), args.rows)
        for repeat in range(args.repeats):
            for variant in args.variants:
                flags = [variant, "--seed", str(repeat), "--epochs", str(args.epochs),
                         "--data-dir", folder]
                began = time.perf_counter()
                result = harness.run_worker(Path(__file__).resolve(), flags, args.timeout)
                result["process_seconds"] = time.perf_counter() - began
                if "error" in result:
                    problems.append({"variant": variant, "seed": repeat, **result})
                else:
                    runs[variant].append(result)
                print(f"[repeat {repeat + 1}/{args.repeats}] {variant}: " + (
                    result.get("error") or f"accuracy {result['test_accuracy']:.4f}, train "
                    f"{result['train_seconds']:.1f} s, process {result['process_seconds']:.1f} s"
                    f", driver anon +{result['driver']['anon_added_mib']:.0f} MiB"),
                    file=sys.stderr, flush=True)
    return {"benchmark": "dask_incremental", "environment": environment,
            "load_average_at_end": host.environment()["load_average"],
            "settings": {"epochs": args.epochs, "repeats": args.repeats, "blocks": BLOCKS,
                         "smoke": args.smoke, **data},
            "summary": summarize(runs), "problems": problems,
            "runs": [run for done in runs.values() for run in done]}


def summarize(runs: dict) -> list[dict]:
    """Per variant: the spread over runs of accuracy, times and memory (each dask worker's
    peaks pooled over runs; both workers' anonymous memory summed per run)."""
    rows = []
    for variant, done in runs.items():
        if not done:
            continue
        row = {"variant": variant, "runs": len(done),
               **{key: harness.spread([r[key] for r in done])
                  for key in ("test_accuracy", "train_seconds", "process_seconds")},
               "pass_seconds": harness.spread(
                   [s for r in done for s in harness.timed_epochs(r["pass_seconds"])]),
               **{f"driver_{key}": harness.spread([r["driver"][key] for r in done])
                  for key in ("anon_added_mib", "rss_added_mib", "rss_before_mib")}}
        if variant == "incremental":
            row.update({f"worker_{key}": harness.spread(
                [w[key] for r in done for w in r["workers"]])
                for key in ("anon_added_mib", "rss_added_mib", "rss_before_mib")})
            row["workers_anon_added_mib"] = harness.spread(
                [sum(w["anon_added_mib"] for w in r["workers"]) for r in done])
            row.update({key: harness.spread([r[key] for r in done])
                        for key in ("cluster_start_seconds", "worker_warm_up_seconds")})
        rows.append(row)
    return rows


def cell(stats: dict, form: str = ".1f") -> str:
    return f"{stats['median']:{form}} ({stats['min']:{form}}-{stats['max']:{form}})"


def memory_cell(row: dict, who: str, array_mib: float) -> str:
    """'+anon MiB (x the array); RSS +MiB over MiB' of the driver's or a worker's peaks."""
    if f"{who}_anon_added_mib" not in row:
        return "-"
    anon = row[f"{who}_anon_added_mib"]
    return (f"+{cell(anon, '.0f')} ({anon['median'] / array_mib:.2f}x); RSS "
            f"+{row[f'{who}_rss_added_mib']['median']:.0f} over "
            f"{row[f'{who}_rss_before_mib']['median']:.0f}")


def markdown_report(result: dict) -> str:
    env, settings = result["environment"], result["settings"]
    array_mib = settings["float32_bytes"] / host.MIB
    rows = [[row["variant"], str(row["runs"]), cell(row["test_accuracy"], ".4f"),
             cell(row["train_seconds"]), cell(row["pass_seconds"], ".2f"),
             cell(row["process_seconds"]), memory_cell(row, "driver", array_mib),
             memory_cell(row, "worker", array_mib),
             (f"+{row['workers_anon_added_mib']['median']:.0f} "
              f"({row['workers_anon_added_mib']['median'] / array_mib:.2f}x)"
              if "workers_anon_added_mib" in row else "-")]
            for row in result["summary"]]
    rows += [[p["variant"], "0", p["error"].replace("|", "/"), *["-"] * 6]
             for p in result["problems"]]
    runs = result["runs"]
    seeds = {row["variant"]: ", ".join(f"{r['test_accuracy']:.4f}" for r in runs
                                       if r["variant"] == row["variant"])
             for row in result["summary"]}
    numpy_pools = next((r["thread_pools"] for r in runs if r["variant"] != "incremental"), [])
    dask_pools = next((r["worker_thread_pools"] for r in runs if "workers" in r), [])
    dask = next((row for row in result["summary"] if row["variant"] == "incremental"), None)
    warning = host.load_warning(env)
    loads = ["/".join(f"{v:.2f}" for v in loads)
             for loads in (env["load_average"], result["load_average_at_end"])]
    return "\n".join([
        f"## dask-ml Incremental vs partial_fit on NumPy ({env['date']})", "",
        *([warning, ""] if warning else []),
        f"- machine: {env['cpu_model']}, {env['usable_cores']} usable cores; load average "
        f"at start {loads[0]}, at end {loads[1]}",
        f"- Python {env['python']}; " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        f"- BLAS, NumPy processes: {host.blas_summary(numpy_pools)}",
        f"- BLAS, dask workers: {host.blas_summary(dask_pools)}",
        f"- data: Fashion-MNIST {settings['train_rows']:,} train / {settings['test_rows']:,} "
        f"test rows in {settings['blocks']} blocks each; the float32 training array (/ 255) is "
        f"{array_mib:.1f} MiB (uint8 on disk {settings['uint8_bytes'] / host.MIB:.1f} MiB)",
        f"- MLP 784-256-128-10 ReLU, float32, batch 128, Adam lr 1e-3, alpha 0; "
        f"{settings['epochs']} epochs (passes); {settings['repeats']} repeats interleaved, "
        f"seed = repeat; one fresh process per run" + (" (SMOKE RUN)" if settings["smoke"]
                                                        else ""),
        "- incremental: LocalCluster(n_workers=2, processes=True, threads_per_worker=1), "
        "Incremental(shuffle_blocks=True, random_state=seed).partial_fit once per pass, "
        "score on the dask test array; partial_fit: NumPy, the 8 blocks in order each epoch; "
        "fit: NumPy, max_iter = epochs",
        "- train s: every epoch (pass), after the warm-up; s/pass: every pass but the first; "
        "process s: the fresh process's whole wall time (imports, data, cluster start, "
        "warm-up, training, score, close)" + (
            f"; of it, the cluster's start {dask['cluster_start_seconds']['median']:.1f} s and "
            f"the workers' warm-up (imports, kernel compilation) "
            f"{dask['worker_warm_up_seconds']['median']:.1f} s" if dask else ""),
        "- memory (bench/memory.py's PeakMemory, from the data's loading to the score): the "
        "peak anonymous memory added (heap, NumPy buffers) in MiB and as a multiple of the "
        "float32 training array, and the peak RSS added over the RSS before; driver: the "
        "process that calls fit (for incremental also LocalCluster's scheduler and nannies); "
        "each dask worker: pooled over both workers and all runs", "",
        harness.markdown_table(["variant", "runs", "test accuracy", "train s", "s/pass",
                                "process s", "driver: memory added, MiB",
                                "each dask worker: memory added, MiB",
                                "both workers: anon added"], rows),
        "", "Median (min-max) over runs. Accuracy per seed: " + "; ".join(
            f"{variant} {values}" for variant, values in seeds.items()), ""])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs = passes (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--rows", type=int, default=None, help="training rows (default all)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="folder with the Fashion-MNIST IDX .gz files")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per worker")
    parser.add_argument("--smoke", action="store_true", help="6000 rows, 2 epochs, 1 repeat")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.epochs, args.repeats = 6000, 2, 1
    return args


def main(argv=None) -> int:
    return harness.script_main(argv, "dask_incremental", parse_args, worker, measure, markdown_report)


if __name__ == "__main__":
    sys.exit(main())

"""The floor: how fast could one epoch be if it were nothing but its matrix products?

One training step of the MLP 784-256-128-10 at batch B is eight GEMMs, laid out as xpnn
does them (``a @ w`` forward, ``a.T @ delta`` weight gradients, ``delta @ w.T`` input
gradients for every layer but the first). Their FLOPs (2 m n k each) grow linearly with
the rows, so an epoch of N rows costs N/B steps' worth. This script measures NumPy's
float32 GEMM throughput at exactly those shapes and at a large square size, turns both
into an epoch-time lower bound, and (``--xpnn``) times real xpnn-numpy epochs in their
own process to say how far above the floor xpnn runs.

    python bench/limit.py --xpnn
    python bench/limit.py --xpnn --epochs 2 --subset 3000 --reps 3 --out /tmp/smoke
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import host
import peers
import harness

LAYER_SIZES = [peers.N_FEATURES, *peers.HIDDEN, peers.N_CLASSES]
FULL_TRAIN_ROWS = 60000


def step_gemms(batch: int, sizes=LAYER_SIZES) -> list[dict]:
    """The products of one forward + backward step: (m x k) @ (k x n) each, in xpnn's order."""
    products = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        products.append({"name": f"forward  a{layer - 1} @ w{layer}", "kind": "forward",
                         "m": batch, "k": fan_in, "n": fan_out})
    for layer in range(len(sizes) - 1, 0, -1):
        fan_in, fan_out = sizes[layer - 1], sizes[layer]
        products.append({"name": f"grad w{layer} = a{layer - 1}.T @ delta{layer}",
                         "kind": "weight_grad", "m": fan_in, "k": batch, "n": fan_out})
        if layer > 1:  # the input gradient of layer 1 is never needed
            products.append({"name": f"grad a{layer - 1} = delta{layer} @ w{layer}.T",
                             "kind": "input_grad", "m": batch, "k": fan_out, "n": fan_in})
    for product in products:
        product["flops"] = 2 * product["m"] * product["k"] * product["n"]
    return products


def epoch_flops(rows: int, sizes=LAYER_SIZES) -> int:
    """FLOPs of one epoch over ``rows`` rows: every product is linear in the batch size."""
    return sum(product["flops"] for product in step_gemms(1, sizes)) * rows


def operands(product: dict, rng: np.random.Generator):
    """float32 operands with xpnn's memory layout: transposes are views, not copies."""
    m, k, n = product["m"], product["k"], product["n"]

    def normal(*shape):
        return rng.standard_normal(shape, dtype=np.float32)

    if product["kind"] == "weight_grad":
        return normal(k, m).T, normal(k, n)  # a.T (view of (batch, fan_in)) @ delta
    if product["kind"] == "input_grad":
        return normal(m, k), normal(n, k).T  # delta @ w.T (view of (fan_in, fan_out))
    return normal(m, k), normal(k, n)


def loop_length(call, min_seconds: float) -> int:
    """Calls per timing loop so one loop lasts at least ``min_seconds`` (after a warm-up)."""
    call()  # warm-up: thread pool start, page faults
    inner = 1
    while True:
        started = time.perf_counter()
        for _ in range(inner):
            call()
        if time.perf_counter() - started >= min_seconds:
            return inner
        inner *= 2


def best_seconds(calls: dict, reps: int, min_seconds: float = 0.05) -> dict:
    """Best mean seconds per call of each named callable over ``reps`` rounds.

    Rounds visit every callable in turn, so a burst of load from elsewhere hits one
    round of each rather than every round of one.
    """
    inner = {name: loop_length(call, min_seconds) for name, call in calls.items()}
    best = {name: float("inf") for name in calls}
    for _ in range(reps):
        for name, call in calls.items():
            started = time.perf_counter()
            for _ in range(inner[name]):
                call()
            best[name] = min(best[name], (time.perf_counter() - started) / inner[name])
    return best


def measure(batch: int, square: int, reps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    products = step_gemms(batch)
    pairs = [operands(product, rng) for product in products]
    big_left = rng.standard_normal((square, square), dtype=np.float32)
    big_right = rng.standard_normal((square, square), dtype=np.float32)

    def one_step():  # the eight products back to back, as a step runs them
        for left, right in pairs:
            left @ right

    calls = {product["name"]: (lambda left=left, right=right: left @ right)
             for product, (left, right) in zip(products, pairs)}
    calls["step"] = one_step
    calls["square"] = lambda: big_left @ big_right
    best = best_seconds(calls, reps)
    for product in products:
        product.update(seconds=best[product["name"]],
                       gflops=product["flops"] / best[product["name"]] / 1e9)
    step_flops = sum(product["flops"] for product in products)
    return {"batch": batch, "products": products, "step_flops": step_flops,
            "step_seconds": best["step"], "exact_gflops": step_flops / best["step"] / 1e9,
            "square": square, "square_seconds": best["square"],
            "square_gflops": 2 * square**3 / best["square"] / 1e9}


def time_xpnn(args, rows: int) -> dict:
    """xpnn-numpy epochs in their own process (compare.py's worker), the warm-up left out."""
    flags = ["xpnn-numpy", "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    if args.subset:
        flags += ["--subset", str(rows)]
    if args.data:
        flags += ["--data", args.data]
    result = harness.run_worker(harness.BENCH_DIR / "compare.py", flags, args.timeout)
    if "error" in result:
        return result
    timed = harness.timed_epochs(result["epoch_seconds"])
    blas_threads = [pool.get("num_threads") for pool in result.get("thread_pools", [])
                    if pool.get("user_api") == "blas"]
    return {"epoch_seconds": result["epoch_seconds"], "timed": harness.spread(timed),
            "test_accuracy": result["test_accuracy"], "train_rows": result["train_rows"],
            "blas_threads": blas_threads[0] if blas_threads else None}


def markdown_report(result: dict) -> str:
    env, floors = result["environment"], result["floors"]
    by_threads = result["gemm"]  # {"1": measurement, "2": ...}
    settings = list(by_threads)
    first = by_threads[settings[0]]
    header = ["product", "shape", "MFLOP"] + [f"GFLOP/s, {n} thr" for n in settings]
    rows = []
    for index, product in enumerate(first["products"]):
        rows.append([product["name"], f"({product['m']}x{product['k']}) @ "
                     f"({product['k']}x{product['n']})", f"{product['flops'] / 1e6:.2f}"]
                    + [f"{by_threads[n]['products'][index]['gflops']:.1f}" for n in settings])
    rows.append(["one step, all eight back to back", "", f"{first['step_flops'] / 1e6:.2f}"]
                + [f"{by_threads[n]['exact_gflops']:.1f}" for n in settings])
    size = first["square"]
    rows.append([f"square {size}", f"({size}x{size}) @ ({size}x{size})",
                 f"{2 * size**3 / 1e6:.0f}"]
                + [f"{by_threads[n]['square_gflops']:.1f}" for n in settings])
    lines = [f"## The floor: GEMM-only epoch time ({env['date']})", ""]
    warning = host.load_warning(env)
    if warning:
        lines += [warning, ""]
    lines += [
        f"- machine: {env['cpu_model']}, {env['cpu_count']} cores; numpy "
        f"{env['versions'].get('numpy')}; BLAS: {host.blas_summary(result['thread_pools'])}",
        f"- MLP {'-'.join(map(str, LAYER_SIZES))}, batch {first['batch']}, float32; one epoch = "
        f"{result['rows']} rows = {result['epoch_flops'] / 1e9:.2f} GFLOP "
        "(forward + weight gradients + input gradients of layers 2..L, 2 m n k each); "
        f"best of {result['reps']} rounds",
        "",
        harness.markdown_table(header, rows),
        "",
        "| BLAS threads | floor at exact shapes s | floor at square s |",
        "|---|---|---|",
    ]
    lines += [f"| {n} | {floors[n]['exact_shapes_s']:.3f} | {floors[n]['square_s']:.3f} |"
              for n in settings]
    xpnn_run = result.get("xpnn")
    if xpnn_run and "error" in xpnn_run:
        lines += ["", f"- xpnn-numpy: {xpnn_run['error']}"]
    elif xpnn_run:
        timed, threads = xpnn_run["timed"], str(xpnn_run["blas_threads"])
        if threads not in floors:  # not measured at the worker's thread count
            threads = settings[-1]
            lines += ["", f"- note: xpnn ran with {xpnn_run['blas_threads']} BLAS threads, "
                          f"not measured here; compared with the {threads}-thread floor"]
        floor = floors[threads]
        lines += ["", (
            f"- xpnn-numpy ({xpnn_run['blas_threads']} BLAS threads): median epoch "
            f"**{timed['median']:.3f} s** (min-max {timed['min']:.3f}-{timed['max']:.3f}, timed "
            f"epochs: {timed['n']}) = **{timed['median'] / floor['exact_shapes_s']:.2f}x** the "
            f"exact-shape floor, {timed['median'] / floor['square_s']:.2f}x the square floor; "
            f"test accuracy {xpnn_run['test_accuracy']:.4f}")]
    return "\n".join(lines) + "\n"


def thread_settings(text: str) -> list[int]:
    """'1,all' -> [1, os.cpu_count()]: the BLAS thread counts to measure at."""
    counts = []
    for item in text.split(","):
        item = item.strip()
        count = os.cpu_count() if item == "all" else int(item)
        if count < 1:
            raise argparse.ArgumentTypeError(f"thread count {item!r} must be at least 1")
        if count not in counts:
            counts.append(count)
    return counts


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Epoch-time lower bound from NumPy float32 GEMM throughput at the MLP's "
                    "exact shapes and at a large square size; optionally xpnn's distance to it.")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--square", type=int, default=2048, help="square GEMM size (default 2048)")
    parser.add_argument("--reps", type=int, default=7, help="repetitions; the best counts "
                        "(default 7)")
    parser.add_argument("--threads", type=thread_settings, default=thread_settings("1,all"),
                        help="BLAS thread counts to measure at, e.g. 1,2 or all "
                             "(default 1,all; xpnn runs at all)")
    parser.add_argument("--xpnn", action="store_true",
                        help="also time xpnn-numpy epochs (own process) and compare to the floor")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs for --xpnn (default 3; the first is warm-up)")
    parser.add_argument("--subset", type=int, default=None, metavar="ROWS",
                        help="count and train on ROWS rows instead of 60000 (smoke runs)")
    parser.add_argument("--data", default=None, help="Fashion-MNIST IDX directory for --xpnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the xpnn run")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR,
                        help="where limit.json/.md go (default bench/results)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    host.unpin_blas_and_reexec()  # measure the BLAS a user would get
    args = parse_args(argv)
    environment = host.environment()
    rows = min(args.subset, FULL_TRAIN_ROWS) if args.subset else FULL_TRAIN_ROWS
    flops = epoch_flops(rows)
    gemm, floors = {}, {}
    for threads in args.threads:
        with threadpool_limits(limits=threads, user_api="blas"):
            gemm[str(threads)] = measured = measure(args.batch_size, args.square, args.reps,
                                                    args.seed)
        floors[str(threads)] = {"exact_shapes_s": flops / (measured["exact_gflops"] * 1e9),
                                "square_s": flops / (measured["square_gflops"] * 1e9)}
    result = {"benchmark": "limit", "environment": environment, "rows": rows,
              "reps": args.reps, "thread_pools": host.thread_pools(), "gemm": gemm,
              "epoch_flops": flops, "floors": floors}
    if args.xpnn:
        result["xpnn"] = time_xpnn(args, rows)
    report = markdown_report(result)
    harness.write_json(args.out / "limit.json", result)
    harness.write_text_atomic(args.out / "limit.md", report)
    print(report)
    print(f"written: {args.out / 'limit.json'}, limit.md")
    return 1 if "error" in result.get("xpnn", {}) else 0


if __name__ == "__main__":
    sys.exit(main())

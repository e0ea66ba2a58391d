"""xpnn on a GPU (CuPy) against PyTorch on the same GPU: one process per run, under a deadline.

Work: Fashion-MNIST 60000 / 10000, MLP 784-256-128-10 with ReLU, float32 (TF32 off in
torch; CuPy does not use TF32 unless CUPY_TF32=1), Adam lr 1e-3, batch 128 and 1024,
5 epochs. Each (implementation, batch) pair runs in its own worker process; epoch times
are synchronised (xpnn reads its loss to the host at the end of every epoch; torch
calls torch.cuda.synchronize). torch.compile runs last, so if the deadline comes first it
is what gets skipped. Reported: median epoch time over epochs 2..N, final test accuracy,
and xpnn's time divided by each torch variant's at the same batch size.

    python3 bench/gpu_bench.py --data .data/fashion-mnist             # on the GPU machine
    python3 bench/gpu_bench.py --device cpu --subset 2000 --epochs 2  # the code path, on a CPU
    python3 bench/gpu_bench.py --dry-run                               # plan + imports only
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import host
import peers
import harness

IMPLS = ("xpnn", "torch-eager", "torch-compile")
RUN_CAP_S = {"xpnn": 120, "torch-eager": 90, "torch-compile": 180}  # one worker, at most
MIN_RUN_S = 20  # do not start a run with less time than this left


# -- worker ---------------------------------------------------------------------------------


def worker(args) -> dict:
    X, y, X_test, y_test = peers.load_fashion_mnist(args.data, args.subset)
    recipe = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
              "seed": args.seed}
    record = {"impl": args.worker, "batch_size": args.batch_size, "device": args.device,
              "train_rows": int(X.shape[0]), "epochs": args.epochs}
    on_gpu = args.device.startswith("cuda")
    if args.worker == "xpnn":
        record.update(peers.train_xpnn(X, y, X_test, y_test, device=args.device, **recipe))
        record["backend"] = "cupy" if on_gpu else "numpy"
        if on_gpu:
            import cupy

            name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
            record["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
            record["gpu_pool_mib"] = cupy.get_default_memory_pool().total_bytes() / host.MIB
            record["cupy_tf32"] = os.environ.get("CUPY_TF32", "0")
        return record

    import torch

    if on_gpu:  # full float32 products, as CuPy computes them
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    else:
        torch.set_num_threads(os.cpu_count())
    compile_it = args.worker == "torch-compile"
    try:
        record.update(peers.train_torch(X, y, X_test, y_test, device=args.device,
                                         compile=compile_it, **recipe))
    except Exception as exc:
        if not compile_it:
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        record["unavailable"] = f"torch.compile failed: {type(exc).__name__}: {first_line}"
        return record
    record["backend"] = f"torch {torch.__version__}"
    if on_gpu:
        record["gpu"] = torch.cuda.get_device_name(0)
        record["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / host.MIB
    return record


# -- driver ---------------------------------------------------------------------------------


def plan(args) -> list[tuple[str, int]]:
    """xpnn and torch-eager at every batch size first, interleaved; torch-compile last."""
    first = [(impl, batch) for batch in args.batch_sizes for impl in args.impls
             if impl != "torch-compile"]
    return first + [("torch-compile", batch) for batch in args.batch_sizes
                    if "torch-compile" in args.impls]


def worker_args(impl: str, batch: int, args) -> list[str]:
    flags = [impl, "--batch-size", str(batch), "--epochs", str(args.epochs), "--lr",
             repr(args.lr), "--seed", str(args.seed), "--device", args.device]
    if args.subset:
        flags += ["--subset", str(args.subset)]
    if args.data:
        flags += ["--data", args.data]
    return flags


def run_all(args) -> dict:
    """Every planned run, in order, until the deadline; results saved after each run."""
    started = time.monotonic()
    script = Path(__file__).resolve()
    result = {"benchmark": "gpu_bench", "environment": host.environment(),
              "settings": {"epochs": args.epochs, "batch_sizes": args.batch_sizes,
                           "lr": args.lr, "seed": args.seed, "device": args.device,
                           "hidden": list(peers.HIDDEN), "train_rows": args.subset or 60000,
                           "tf32": False},
              "total_seconds": 0.0, "runs": []}
    for impl, batch in plan(args):
        left = args.deadline_s - (time.monotonic() - started)
        if left < MIN_RUN_S:
            run = {"impl": impl, "batch_size": batch,
                   "skipped": f"time budget: {left:.0f} s left of {args.deadline_s:.0f}"}
        else:
            run_started = time.monotonic()
            run = harness.run_worker(script, worker_args(impl, batch, args),
                                    min(RUN_CAP_S[impl], left - 5))
            run.setdefault("impl", impl)
            run.setdefault("batch_size", batch)
            run["wall_seconds"] = time.monotonic() - run_started
            if "epoch_seconds" in run:
                run["timed"] = harness.spread(harness.timed_epochs(run["epoch_seconds"]))
        result["runs"].append(run)
        result["total_seconds"] = time.monotonic() - started
        save(result, args.out)  # a timeout from outside still leaves what finished
        print(f"{impl:13s} batch {batch:5d}: {progress_line(run)}", file=sys.stderr, flush=True)
    return result


def save(result: dict, out: Path) -> str:
    report = markdown_report(result)
    harness.write_json(out / "gpu_bench.json", result)
    harness.write_text_atomic(out / "gpu_bench.md", report)
    return report


def progress_line(run: dict) -> str:
    for key in ("skipped", "unavailable", "error"):
        if key in run:
            return f"{key}: {run[key]}"
    timed = harness.timed_epochs(run["epoch_seconds"])
    return (f"epoch {harness.spread(timed)['median']:.3f} s (first {run['epoch_seconds'][0]:.2f} "
            f"s), test acc {run['test_accuracy']:.4f}, {run['wall_seconds']:.0f} s wall")


def markdown_report(result: dict) -> str:
    settings = result["settings"]
    done = {(run["impl"], run["batch_size"]): run for run in result["runs"] if "timed" in run}
    rows = []
    for run in result["runs"]:
        impl, batch = run["impl"], run["batch_size"]
        if "timed" not in run:
            problem = run.get("skipped") or run.get("unavailable") or run.get("error")
            rows.append([impl, str(batch), "-", "-", "-", "-", "-",
                         str(problem).replace("|", "/")[:160]])
            continue
        xpnn_run = done.get(("xpnn", batch))
        ratio = ("-" if impl == "xpnn" or xpnn_run is None
                 else f"{xpnn_run['timed']['median'] / run['timed']['median']:.2f}")
        rows.append([impl, str(batch), f"{run['timed']['median']:.3f}",
                     f"{run['timed']['min']:.3f}-{run['timed']['max']:.3f}",
                     f"{run['epoch_seconds'][0]:.2f}", f"{run['test_accuracy']:.4f}", ratio,
                     run.get("backend", "")])
    gpus = sorted({run["gpu"] for run in result["runs"] if run.get("gpu")})
    versions = ", ".join(f"{name} {version}" for name, version
                         in result["environment"]["versions"].items())
    lines = [
        f"## xpnn (CuPy) vs PyTorch on {', '.join(gpus) or settings['device']} "
        f"({result['environment']['date']})",
        "",
        f"MLP 784-256-128-10, float32 (TF32 off), Adam lr {settings['lr']:g}, "
        f"{settings['train_rows']} train rows, {settings['epochs']} epochs; epoch time = median "
        f"of epochs 2..{settings['epochs']}, synchronised; xpnn/torch > 1: xpnn is slower. "
        f"{versions}. Total {result['total_seconds']:.0f} s.",
        "",
        harness.markdown_table(["impl", "batch", "median epoch s", "min-max s", "first epoch s",
                               "test acc", "xpnn/this", "backend / notes"], rows),
    ]
    return "\n".join(lines) + "\n"


def dry_run(args) -> int:
    """What would run, whether the data loads, which GPU libraries import; no CUDA calls."""
    X, y, X_test, _ = peers.load_fashion_mnist(args.data, args.subset)
    print(f"data: {X.shape[0]} train / {X_test.shape[0]} test rows, {X.dtype}, "
          f"{peers.float32_mib(X.shape[0] + X_test.shape[0]):.1f} MiB")
    for module in ("xpnn", "array_api_compat", "cupy", "torch"):
        try:
            imported = __import__(module)
            print(f"import {module}: ok ({getattr(imported, '__version__', '?')})")
        except ImportError as exc:
            print(f"import {module}: {exc}")
    for impl, batch in plan(args):
        print(f"would run: {impl} batch {batch}, {args.epochs} epochs on {args.device}, "
              f"at most {RUN_CAP_S[impl]} s")
    print(f"deadline: {args.deadline_s:.0f} s in all; results to {args.out}")
    return 0


def batch_list(text: str) -> list[int]:
    try:
        sizes = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes must be integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return sizes


def impl_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in IMPLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(IMPLS)}; got {text!r}")
    return names


def parse_args(argv=None):
    default_out = Path(os.environ["OUT"]) if os.environ.get("OUT") else harness.RESULTS_DIR
    parser = argparse.ArgumentParser(
        description="xpnn (CuPy) vs PyTorch eager / torch.compile on one GPU: Fashion-MNIST, "
                    "MLP 784-256-128-10, Adam, batch 128 and 1024, one process per run.")
    parser.add_argument("--data", default=".data/fashion-mnist",
                        help="directory with the four Fashion-MNIST IDX .gz files "
                             "(default .data/fashion-mnist; '' for xpnn's own lookup)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-sizes", type=batch_list, default=[128, 1024],
                        help="comma-separated (default 128,1024)")
    parser.add_argument("--impls", type=impl_list, default=list(IMPLS),
                        help=f"comma-separated subset of {','.join(IMPLS)}")
    parser.add_argument("--device", default="cuda",
                        help="cuda, cuda:N, or cpu to exercise the code path without a GPU")
    parser.add_argument("--subset", type=int, default=None, metavar="ROWS",
                        help="train on the first ROWS rows only (smoke runs)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deadline-s", type=float, default=170.0,
                        help="seconds for all runs together; runs that would start later are "
                             "skipped and reported (default 170)")
    parser.add_argument("--out", type=Path, default=default_out,
                        help="where gpu_bench.json/.md go (default $OUT, else bench/results)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan, load the data, try the imports; run nothing")
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=128, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0
    if args.dry_run:
        return dry_run(args)
    result = run_all(args)
    report = save(result, args.out)
    print(f"written: {args.out / 'gpu_bench.json'}, gpu_bench.md", file=sys.stderr)
    print(report)  # the table comes last
    return 0 if any("timed" in run for run in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())

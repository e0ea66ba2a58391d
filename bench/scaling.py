"""Data-parallel scaling on this machine: Fashion-MNIST epoch time on 1 and 2 MPI ranks.

Three runs of the same training (784-256-128-10, ReLU, Adam lr 1e-3, global batch 128,
float32, no L2, ``--epochs`` epochs), each in its own processes:

  1 process, 1 BLAS thread        the unit of work of one rank
  1 process, 2 BLAS threads       what the two cores give without MPI
  mpiexec -n 2, 1 thread per rank  data parallel: each rank 64 rows of every batch

Per run: the median epoch time (first epoch left out as warm-up), the final training loss
(the same model in every run, to float32 rounding), and for the MPI run the Allreduce calls,
bytes and seconds per step as the reducer counted them inside training (that time includes
waiting for the slower rank), plus a bare Allreduce of the same 0.94 MB buffer timed alone.

    .venv/bin/python bench/scaling.py            # writes bench/results/scaling.{json,md}
    .venv/bin/python bench/scaling.py --epochs 2 --subset 6000 --out /tmp/smoke
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import host  # noqa: E402
import peers  # noqa: E402
import harness  # noqa: E402

SCRIPT = Path(__file__).resolve()
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def worker(args) -> dict:
    """One training run on this process (one rank under mpiexec); rank 0 returns the record."""
    import xpnn
    import xpnn.parallel.distributed as distributed

    comm = distributed.launched_comm()
    made = []  # the reducer the estimator makes, kept to read its counters afterwards
    make_reducer = distributed.make_reducer
    distributed.make_reducer = lambda c, backend: made.append(make_reducer(c, backend)) or made[-1]

    X, y, _, _ = peers.load_fashion_mnist(args.data, args.subset, args.dtype)
    model = xpnn.MLPClassifier(peers.HIDDEN, solver="adam", learning_rate_init=1e-3,
                               batch_size=128, alpha=0.0, max_iter=args.epochs,
                               n_iter_no_change=math.inf, random_state=0, dtype=args.dtype,
                               comm=comm)
    model.fit(X, y)
    seconds = [row["seconds"] for row in model.history_]
    record = {"ranks": 1 if comm is None else comm.Get_size(),
              "epoch_seconds": seconds, "epoch": harness.spread(harness.timed_epochs(seconds)),
              "final_loss": model.loss_curve_[-1], "thread_pools": host.thread_pools()}
    if made and made[0].size > 1:  # one process is a group of one: nothing to count
        reducer = made[0]
        steps = reducer.calls
        record["allreduce"] = {"calls": steps, "bytes_per_step": reducer.nbytes / steps,
                               "seconds_per_step": reducer.seconds / steps,
                               "seconds_per_epoch": reducer.seconds / args.epochs}
        record["bare_allreduce_seconds"] = bare_allreduce(comm, reducer.nbytes // steps)
    if comm is not None and comm.Get_rank() != 0:
        return None
    return record


def bare_allreduce(comm, nbytes: int, repeats: int = 50) -> float:
    """Median seconds of one in-place float32 Allreduce of ``nbytes`` bytes, alone."""
    import numpy as np
    from mpi4py import MPI

    buffer = np.ones(nbytes // 4, dtype=np.float32)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        started = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def launch(label, ranks, threads, args) -> dict:
    command = [sys.executable, str(SCRIPT), "--worker", "--epochs", str(args.epochs)]
    if args.subset:
        command += ["--subset", str(args.subset)]
    if args.data:
        command += ["--data", args.data]
    command += ["--dtype", args.dtype]
    if ranks > 1:
        command = [str(MPIEXEC), "-n", str(ranks), *command]
    env = host.worker_environment(host.thread_env(threads))
    for name in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALRANKID"):
        env.pop(name, None)
    print(f"  {label} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=harness.REPO_ROOT,
                          timeout=args.timeout)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return {"label": label, "threads_per_rank": threads, **json.loads(line)}
    tail = done.stderr.strip().splitlines()[-10:]
    return {"label": label, "error": f"exit {done.returncode}: {tail[-1] if tail else ''}",
            "stderr_tail": tail}


def report(runs, env, args) -> str:
    base = next(run for run in runs if run["label"].startswith("1 process, 1"))
    rows = []
    for run in runs:
        if "error" in run:
            rows.append([run["label"], run["error"], "", "", "", ""])
            continue
        median = run["epoch"]["median"]
        reduce = run.get("allreduce")
        rows.append([
            run["label"], f"{median:.3f} s", f"{base['epoch']['median'] / median:.2f}x",
            f"{run['final_loss']:.5f}",
            "" if not reduce else (f"{reduce['calls'] // args.epochs} x "
                                   f"{reduce['bytes_per_step'] / 1e6:.3f} MB"),
            "" if not reduce else (f"{reduce['seconds_per_step'] * 1e3:.3f} ms in training "
                                   f"({reduce['seconds_per_epoch'] / median:.0%} of the "
                                   f"epoch); {run['bare_allreduce_seconds'] * 1e3:.3f} ms alone"),
        ])
    table = harness.markdown_table(
        ["run", "median epoch", "speed-up vs 1 thread", "final train loss",
         "Allreduces per epoch x bytes", "Allreduce per step"], rows)
    lines = [f"Fashion-MNIST{f' (first {args.subset} rows)' if args.subset else ''}, "
             f"784-256-128-10, Adam, global batch 128, {args.dtype}, {args.epochs} epochs (median "
             f"of epochs 2..{args.epochs}); {env['cpu_model']}, {env['usable_cores']} cores, "
             f"{env['date']}, load average {env['load_average'][0]:.2f} at the start.", "",
             table]
    warning = host.load_warning(env)
    if warning:
        lines += ["", warning]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--subset", type=int, help="train on the first ROWS rows only")
    parser.add_argument("--data", help="a directory with the four Fashion-MNIST IDX files")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        record = worker(args)
        if record is not None:
            print(json.dumps(record))
        return 0
    if not MPIEXEC.exists():
        sys.exit(f"no {MPIEXEC}: install the MPI extra (pip install -e '.[mpi]')")
    host.unpin_blas_and_reexec()
    env = host.environment()
    runs = [launch("1 process, 1 BLAS thread", 1, 1, args),
            launch("1 process, 2 BLAS threads", 1, 2, args),
            launch("mpiexec -n 2, 1 BLAS thread per rank", 2, 1, args)]
    text = report(runs, env, args)
    print(text)
    harness.write_json(args.out / "scaling.json", {"environment": env, "epochs": args.epochs,
                                                  "subset": args.subset, "runs": runs})
    harness.write_text_atomic(args.out / "scaling.md", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a user waits for before and around the work: the default job against its imports,
numba's load against what its kernels save (issue 40, items 1 and 2).

Three measurements, each in fresh processes, interleaved round by round:

- **the default job**: the wall time of ``xpnn train --quiet --json`` (the digits, their
  recipe) against ``python -c "import numpy, sklearn.base"``, ``python -c pass`` and
  ``xpnn train --help`` (the CLI's own start); with
  ``--before DIR`` the same job of another checkout (a ``git worktree``) in the same rounds.
  One more run of each under ``python -X importtime`` says where the imports go, package by
  package (what xpnn's job imports that the baseline does not).
- **numba's load**: ``fused.ready()`` timed after ``import numpy`` (what ``fused.plan`` weighs
  as ``LOAD_SECONDS``).
- **what numba's pass saves a step**: in one process, the same fit timed with the kernels
  loaded and with them held back (NumPy's in-place update, the same bits), alternated after a
  warm-up; per step and per model size (what ``fused.plan`` weighs as ``STEP_SECONDS`` +
  ``PARAMETER_STEP_SECONDS`` x parameters).

    .venv/bin/python bench/start_up.py                       # 5 rounds, this checkout
    .venv/bin/python bench/start_up.py --before /tmp/old     # and an older checkout
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import harness
import host

BASELINE = ["-c", "import numpy, sklearn.base"]
EMPTY = ["-c", "pass"]
HELP = ["-m", "xpnn", "train", "--help"]
JOB = ["-m", "xpnn", "train", "--quiet", "--json"]
# model sizes whose update is timed: (input features, hidden layers, rows, batch, epochs)
SIZES = {"digits 64-256-128-10": (64, (256, 128), 1437, 32, 8),
         "fashion 784-256-128-10": (784, (256, 128), 6000, 128, 4),
         "fashion 784-512-256-10": (784, (512, 256), 6000, 128, 3)}


def wall(argv: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd,
                          env=host.worker_environment())
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{argv}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return seconds, done.stdout


def import_times(argv: list[str], cwd: Path) -> dict:
    """Self time (ms) of every module ``python -X importtime`` reports, by module name."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, cwd=cwd, env=host.worker_environment())
    times = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            times[match[2]] = int(match[1]) / 1000
    return times


def by_package(times: dict, skip=frozenset()) -> dict:
    packages = {}
    for name, ms in times.items():
        if name not in skip:
            top = name.split(".")[0]
            packages[top] = packages.get(top, 0.0) + ms
    return dict(sorted(packages.items(), key=lambda item: -item[1]))


# -- workers (one measurement in a fresh process) -----------------------------------------

def load_worker() -> dict:
    import numpy  # noqa: F401  (the load is timed after NumPy, as in a fit)

    from xpnn.kernels import fused
    started = time.perf_counter()
    import numba  # noqa: F401  (the first part of the load: numba's own import)
    imported = time.perf_counter()
    loaded = fused.ready()  # the rest: numba's first use (its registries), the cached code
    return {"load_seconds": time.perf_counter() - started,
            "import_seconds": imported - started, "loaded": loaded}


def update_worker(size: str, repeats: int) -> dict:
    import warnings

    import numpy as np

    import xpnn
    from xpnn.kernels import fused
    features, hidden, rows, batch, epochs = SIZES[size]
    rng = np.random.default_rng(0)
    X = rng.random((rows, features), dtype=np.float32)
    y = rng.integers(0, 10, rows)
    model = xpnn.MLPClassifier(hidden, batch_size=batch, max_iter=epochs, tol=0.0,
                               n_iter_no_change=10**6, dtype="float32", random_state=0)
    fused.ready()
    loaded = fused.available

    def timed(with_numba: bool) -> float:
        fused.available = loaded if with_numba else (lambda: False)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y)
        return time.perf_counter() - started

    timed(True), timed(False)  # warm-up: buffers, caches, first calls
    seconds = {"numba": [], "numpy": []}
    for _ in range(repeats):
        seconds["numba"].append(timed(True))
        seconds["numpy"].append(timed(False))
    steps = epochs * -(-rows // batch)
    parameters = sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_)
    return {"size": size, "steps": steps, "parameters": int(parameters), "seconds": seconds}


# -- the measurement ----------------------------------------------------------------------

def measure(args) -> dict:
    env = host.environment()
    here = harness.REPO_ROOT
    checkouts = {"this checkout": here, **({"before": args.before} if args.before else {})}
    walls = {name: [] for name in ("python -c pass", "xpnn train --help",
                                   "import numpy, sklearn.base",
                                   *[f"xpnn train ({name})" for name in checkouts])}
    train_seconds = {name: [] for name in checkouts}
    accuracy = {}
    loads = []
    problems = []
    for round_ in range(args.rounds):
        walls["python -c pass"].append(wall(EMPTY, here)[0])
        walls["xpnn train --help"].append(wall(HELP, here)[0])
        walls["import numpy, sklearn.base"].append(wall(BASELINE, here)[0])
        for name, checkout in checkouts.items():
            seconds, out = wall(JOB, checkout)
            walls[f"xpnn train ({name})"].append(seconds)
            summary = json.loads(out.strip().splitlines()[-1])
            train_seconds[name].append(summary["train_seconds"])
            accuracy[name] = summary["test_accuracy"]  # deterministic: the same every round
        loads.append(harness.run_worker(Path(__file__), ["load"], 120))
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in walls.items()),
              flush=True)
    baseline = import_times(BASELINE, here)
    job = import_times(JOB, here)
    updates = [harness.run_worker(Path(__file__), ["update", "--size", size,
                                                   "--repeats", str(args.repeats)], 900)
               for size in SIZES]
    problems += [u["error"] for u in [*updates, *loads] if "error" in u]
    medians = {name: harness.spread(values)["median"] for name, values in walls.items()}
    summary = {"wall_median": medians,
               "wall_vs_baseline": {name: seconds / medians["import numpy, sklearn.base"]
                                    for name, seconds in medians.items()},
               # each round's command against the same round's baseline (the machine drifts
               # between rounds more than within one)
               "round_ratios": {name: [seconds / base for seconds, base in
                                       zip(values, walls["import numpy, sklearn.base"])]
                                for name, values in walls.items()},
               "train_median": {name: harness.spread(values)["median"]
                                for name, values in train_seconds.items()}}
    return {"environment": env, "summary": summary, "walls": walls,
            "train_seconds": train_seconds, "test_accuracy": accuracy,
            "load_seconds": [u["load_seconds"] for u in loads if "load_seconds" in u],
            "numba_import_seconds": [u["import_seconds"] for u in loads
                                     if "import_seconds" in u],
            "imports_baseline_ms": by_package(baseline),
            "imports_job_only_ms": by_package(job, skip=set(baseline)),
            "imports_total_ms": {"baseline": sum(baseline.values()), "job": sum(job.values())},
            "updates": updates, "problems": problems}


def markdown_report(result: dict) -> str:
    env = result["environment"]
    lines = [f"## Start-up ({env['date']})", "",
             f"- machine: {env['cpu_model']}, {env['usable_cores']} cores, load "
             f"{env['load_average'][0]:.2f} at the start; fresh processes, interleaved", ""]
    warning = host.load_warning(env)
    if warning:
        lines += [warning, ""]
    walls = result["walls"]
    base = harness.spread(walls["import numpy, sklearn.base"])["median"]
    rows = []
    for name, values in walls.items():
        s = harness.spread(values)
        ratios = harness.spread(result["summary"]["round_ratios"][name])
        rows.append([name, f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})",
                     f"{s['median'] / base:.2f}x",
                     f"{ratios['median']:.2f}x ({ratios['min']:.2f}-{ratios['max']:.2f})"])
    lines += ["**Wall time, seconds, median (min-max)**", "",
              harness.markdown_table(["command", "wall s", "vs import numpy, sklearn.base",
                                      "the same, round by round: median (min-max)"],
                                     rows), ""]
    for name, values in result["train_seconds"].items():
        lines.append(f"- `xpnn train` ({name}): test accuracy "
                     f"{result['test_accuracy'][name]:.4f}, training seconds "
                     f"{harness.spread(values)['median']:.2f} median")
    loads = result["load_seconds"]
    if loads:
        s = harness.spread(loads)
        imports = harness.spread(result["numba_import_seconds"])
        lines.append(f"- numba's load (`fused.ready()` after `import numpy`): "
                     f"{s['median']:.2f} s median ({s['min']:.2f}-{s['max']:.2f}); of it "
                     f"`import numba` {imports['median']:.2f} s median, the rest its first "
                     "use (its typing and target registries) and the cached kernels")
    totals = result["imports_total_ms"]
    lines += ["", f"**Imports** (`-X importtime` self times, one run each: the baseline "
              f"{totals['baseline']:.0f} ms, the job {totals['job']:.0f} ms); what the job "
              "imports that the baseline does not, by package:", ""]
    lines.append(harness.markdown_table(
        ["package", "ms"], [[k, f"{v:.1f}"] for k, v in
                            list(result["imports_job_only_ms"].items())[:12]]))
    lines += ["", "**What numba's pass saves a step** (the same fit, kernels loaded vs held "
              "back; medians)", ""]
    rows = []
    for u in result["updates"]:
        if "error" in u:
            rows.append([u.get("size", "?"), u["error"], "", "", ""])
            continue
        numba = harness.spread(u["seconds"]["numba"])["median"] / u["steps"]
        numpy = harness.spread(u["seconds"]["numpy"])["median"] / u["steps"]
        rows.append([u["size"], f"{u['parameters']:,}", f"{numba * 1e6:.0f}",
                     f"{numpy * 1e6:.0f}", f"{(numpy - numba) * 1e6:.0f}"])
    lines.append(harness.markdown_table(
        ["model", "parameters", "step us, numba", "step us, NumPy in place",
         "saved us a step"], rows))
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed fits per kind a size")
    parser.add_argument("--before", type=Path, default=None,
                        help="another checkout's root (e.g. a git worktree)")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR)
    parser.add_argument("--worker", choices=["load", "update"], help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=list(SIZES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args) -> dict:
    return load_worker() if args.worker == "load" else update_worker(args.size, args.repeats)


if __name__ == "__main__":
    sys.exit(harness.script_main(None, "start_up", parse_args, worker, measure,
                                 markdown_report))

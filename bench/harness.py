"""The benchmarks' harness: each implementation in its own worker process, the epochs that
count and their spread, results written atomically as JSON and Markdown.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import host
from host import worker_environment


BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def run_worker(script: Path, args: list[str], timeout_s: float, env: dict | None = None) -> dict:
    """Run ``python script --worker ARGS`` and return the JSON object on its last stdout line.

    ``env`` adds to (or overrides) the worker's environment (see ``worker_environment``).

    Failures come back as {"error": last stderr line, "stderr_tail": [...]}, never raised.
    """
    command = [sys.executable, str(script), "--worker", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              cwd=REPO_ROOT, env=worker_environment(env))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = done.stderr.strip().splitlines()[-20:]
    return {"error": f"exit status {done.returncode}: {tail[-1] if tail else 'no output'}",
            "stderr_tail": tail}


def timed_epochs(seconds: list[float]) -> list[float]:
    """The epochs that count: all but the first (warm-up), unless there is only one."""
    return list(seconds[1:]) if len(seconds) > 1 else list(seconds)


def spread(values) -> dict:
    """Median, quartiles (inclusive method), min and max of a non-empty sample."""
    values = sorted(float(v) for v in values)
    if len(values) > 1:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {"median": statistics.median(values), "q1": q1, "q3": q3, "iqr": q3 - q1,
            "min": values[0], "max": values[-1], "n": len(values)}


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8), creating the folder: a whole file or none (a temporary beside
    it, then a rename). Free of xpnn: a script measuring an older checkout imports that
    one, which may lack what this one has."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def write_json(path: Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")


def write_report(out: Path, name: str, result: dict, report: str, also=()) -> None:
    """A script's results: ``out/name.json`` and ``out/name.md``, and the report printed;
    ``also``: the names of more files the script wrote there (a plot)."""
    write_json(out / f"{name}.json", result)
    write_text_atomic(out / f"{name}.md", report)
    print(report)
    print(f"written: {', '.join([str(out / (name + '.json')), f'{name}.md', *also])}")


def script_main(argv, name: str, parse_args, worker, measure, markdown_report, *,
                failed=lambda result: bool(result["problems"]), also=None) -> int:
    """A benchmark script's main: ``--worker`` runs one measurement in this process and prints
    it as JSON; otherwise ``measure`` starts the workers and its result is written as
    ``name.json`` / ``name.md`` (``write_report``), with ``also(args, result)`` writing more
    files and returning their names; exit 1 when ``failed(result)`` (default: it found
    problems)."""
    host.unpin_blas_and_reexec()  # measure the BLAS a user would get
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0
    result = measure(args)
    extra = also(args, result) if also is not None else ()
    write_report(args.out, name, result, markdown_report(result), extra)
    return 1 if failed(result) else 0


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

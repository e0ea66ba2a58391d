"""Sparse input, never densified: xpnn (after, and optionally before) against scikit-learn.

The work (issue 17): a 30 000 x 200 000 CSR matrix with 40 non-zeros a row (float64, seed 0;
45 GiB if it were dense), binary labels, an MLP with hidden (32,), Adam, batch 256. Each run
is a fresh process that builds the data, times one epoch of ``fit`` (max_iter=1, from the
call to its return: validation, initialisation and the epoch), then ``score`` on the first
10 000 rows. Peak RSS (VmHWM) is read after the fit, then reset (``/proc/self/clear_refs``)
and read again after score, so the second is the score's own peak above what is resident.
Implementations run interleaved, ``--repeats`` times each; the workers run without the
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE pin (``host.unpin_blas_and_reexec``).

  python bench/sparse.py                          xpnn and scikit-learn, 3 repeats
  python bench/sparse.py --before /tmp/before     also xpnn from that checkout (PYTHONPATH)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import host  # noqa: E402
import harness  # noqa: E402

ROWS, COLS, PER_ROW, HIDDEN, BATCH, SCORE_ROWS = 30_000, 200_000, 40, (32,), 256, 10_000


def make_data():
    import scipy.sparse

    rng = np.random.default_rng(0)
    indices = rng.integers(0, COLS, ROWS * PER_ROW).astype(np.int32)
    indptr = np.arange(0, ROWS * PER_ROW + 1, PER_ROW)
    X = scipy.sparse.csr_matrix((rng.random(ROWS * PER_ROW), indices, indptr),
                                shape=(ROWS, COLS))
    y = (X[:, :COLS // 2].sum(axis=1).A1 > X[:, COLS // 2:].sum(axis=1).A1).astype(np.int64)
    return X, y


def peak_rss_mib() -> float:
    """VmHWM: this process image's peak RSS since start (or the last reset), in MiB."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status
                    if line.startswith("VmHWM"))


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def worker(implementation: str) -> dict:
    import warnings

    X, y = make_data()
    if implementation == "sklearn":
        from sklearn.neural_network import MLPClassifier
        model = MLPClassifier(hidden_layer_sizes=HIDDEN, batch_size=BATCH, max_iter=1,
                              random_state=0)
    else:
        import xpnn
        model = xpnn.MLPClassifier(hidden_layer_sizes=HIDDEN, batch_size=BATCH, max_iter=1,
                                   random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: one epoch on purpose
        started = time.perf_counter()
        model.fit(X, y)
        fit_seconds = time.perf_counter() - started
    fit_peak = peak_rss_mib()
    reset = reset_peak_rss()
    resident = host.current_rss_mib()
    started = time.perf_counter()
    accuracy = model.score(X[:SCORE_ROWS], y[:SCORE_ROWS])
    score_seconds = time.perf_counter() - started
    return {"implementation": implementation, "fit_seconds": fit_seconds,
            "score_seconds": score_seconds, "fit_peak_rss_mib": fit_peak,
            "score_peak_rss_mib": peak_rss_mib() if reset else None,
            "rss_before_score_mib": resident, "score_accuracy": float(accuracy),
            "xpnn_path": (str(Path(sys.modules["xpnn"].__file__).parent)
                          if "xpnn" in sys.modules else None),
            "blas": host.thread_pools()}


def report(runs: dict, env: dict, args) -> str:
    header = ["implementation", "epoch fit s (median)", "min-max s", "score s (median)",
              "min-max s", "fit peak RSS MiB", "score peak RSS MiB", "score accuracy"]
    rows = []
    for name, results in runs.items():
        ok = [r for r in results if "error" not in r]
        if not ok:
            rows.append([name, "error: " + results[0]["error"], "", "", "", "", "", ""])
            continue
        fit, score = (harness.spread(r[key] for r in ok) for key in ("fit_seconds",
                                                                     "score_seconds"))
        score_peaks = [r["score_peak_rss_mib"] for r in ok if r["score_peak_rss_mib"]]
        rows.append([name, f"{fit['median']:.2f}", f"{fit['min']:.2f}-{fit['max']:.2f}",
                     f"{score['median']:.3f}", f"{score['min']:.3f}-{score['max']:.3f}",
                     f"{max(r['fit_peak_rss_mib'] for r in ok):.0f}",
                     f"{max(score_peaks):.0f}" if score_peaks else "n/a",
                     f"{ok[0]['score_accuracy']:.4f}"])
    blas = next((host.blas_summary(r["blas"]) for results in runs.values() for r in results
                 if "blas" in r), "unknown")
    lines = ["# Sparse input: one epoch and a score, xpnn vs scikit-learn", "",
             f"- machine: {env['cpu_model']}, {env['usable_cores']} usable cores; load average "
             f"at start {env['load_average']}, at end {env['load_average_end']}",
             f"- BLAS (workers, unpinned): {blas}",
             f"- work: CSR {ROWS} x {COLS}, {PER_ROW} non-zeros a row (float64 input), "
             f"hidden {HIDDEN}, Adam, batch {BATCH}, one epoch (max_iter=1); score on "
             f"{SCORE_ROWS} rows; xpnn and scikit-learn train in the input's float64 "
             f"(the before tree: xpnn's then default float32)",
             f"- {args.repeats} repeats, interleaved, each a fresh process; fit s: the fit "
             f"call (validation, initialisation, the epoch); peaks: VmHWM after fit, then "
             f"reset and read after score",
             f"- versions: {env['versions']}"]
    warning = host.load_warning(env)
    if warning:
        lines.append(f"- {warning}")
    lines += ["", harness.markdown_table(header, rows), ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", help="a checkout of xpnn before the change (PYTHONPATH)")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    host.unpin_blas_and_reexec()
    env = host.environment()
    implementations = {"xpnn (after)": ("xpnn", {"PYTHONPATH": str(harness.REPO_ROOT)})}
    if args.before:
        implementations["xpnn (before)"] = ("xpnn", {"PYTHONPATH": str(Path(args.before))})
    implementations["scikit-learn"] = ("sklearn", None)
    runs = {name: [] for name in implementations}
    for repeat in range(args.repeats):
        for name, (implementation, extra_env) in implementations.items():
            result = harness.run_worker(Path(__file__).resolve(), [implementation], 900,
                                       env=extra_env)
            print(f"repeat {repeat + 1} {name}: "
                  f"{ {k: v for k, v in result.items() if k != 'blas'} }", flush=True)
            runs[name].append(result)
    env["load_average_end"] = list(__import__("os").getloadavg())
    harness.write_json(args.out / "sparse.json", {"environment": env, "runs": runs})
    text = report(runs, env, args)
    harness.write_text_atomic(args.out / "sparse.md", text)
    print(text)


if __name__ == "__main__":
    main()

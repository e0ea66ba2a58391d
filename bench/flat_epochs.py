"""Do epochs stay as fast at the end of a fit as at its start? (issue 26: subnormals)

The issue's own call, as a new user writes it: ``MLPClassifier(hidden_layer_sizes=(256,
128), batch_size=128, max_iter=6, dtype="float32")`` on Fashion-MNIST (pixels / 255, Adam,
scikit-learn's default alpha=1e-4), every epoch timed. Variants, each run a fresh worker
process, interleaved across repeats:

- ``xpnn``: as installed (subnormals flushed where they are made: ``numerics.flush_subnormal``);
- ``xpnn-ftz``: the same with the CPU's flush-to-zero and denormals-are-zero modes switched
  on for the whole process (``torch.set_flush_denormal(True)``): no subnormal arithmetic
  at all, the floor the rule aims at (and what xpnn must not do to a user's process);
- ``before``: with ``--before DIR``, xpnn imported from another checkout (PYTHONPATH=DIR),
  e.g. a ``git worktree`` of the commit before the rule;
- ``xpnn-warm-start`` (and ``before-warm-start``): the loop a scikit-learn user writes to
  watch each epoch, ``warm_start=True, max_iter=1`` and ``fit`` once per epoch. Each call
  restarts Adam (scikit-learn's rule), whose first large steps leave weights of 1e-32 under
  L2: normal numbers whose GEMM products are subnormal (``numerics.weight_floor``).

    python bench/flat_epochs.py --repeats 3 --before /tmp/old
    python bench/flat_epochs.py --repeats 1 --epochs 2 --subset 6000 --out /tmp/smoke
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import host
import peers
import harness

VARIANTS = ("xpnn", "xpnn-ftz", "before", "xpnn-warm-start", "before-warm-start")


def worker(args) -> dict:
    if args.worker == "xpnn-ftz":
        import torch

        torch.set_flush_denormal(True)
    import xpnn

    X, y, X_test, y_test = peers.load_fashion_mnist(args.data, args.subset)
    warm_start = args.worker.endswith("warm-start")
    started = time.perf_counter()
    epoch_seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = xpnn.MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=128,
                                 max_iter=1 if warm_start else args.epochs, dtype="float32",
                                 random_state=args.seed, warm_start=warm_start)
        if warm_start:
            for _ in range(args.epochs):
                clf.fit(X, y)
                epoch_seconds.append(clf.history_[-1]["seconds"])  # history_: every call's
        else:
            epoch_seconds = [row["seconds"] for row in clf.fit(X, y).history_]
    fit_seconds = time.perf_counter() - started
    return {"epoch_seconds": epoch_seconds,
            "fit_seconds": fit_seconds, "test_accuracy": float(clf.score(X_test, y_test)),
            "xpnn_file": xpnn.__file__, "blas": host.blas_summary(host.thread_pools())}


def report(runs: dict, env: dict, args) -> str:
    lines = [f"## Epoch by epoch, issue 26's call ({env['date']})", "",
             f"- machine: {env['cpu_model']}, {env['usable_cores']} cores; "
             f"BLAS: {next(iter(runs.values()))[0].get('blas', '?')}",
             f"- {args.epochs} epochs x {args.repeats} runs per variant, each a fresh process, "
             f"interleaved; load average at the start {env['load_average'][0]:.2f}", ""]
    warning = host.load_warning(env)
    if warning:
        lines += [warning, ""]
    header = ["variant", *[f"epoch {i + 1} s" for i in range(args.epochs)],
              "slowest / fastest", "fit s", "test accuracy"]
    rows = []
    for variant, results in runs.items():
        good = [r for r in results if "error" not in r]
        if not good:
            rows.append([variant, results[0]["error"], *[""] * (len(header) - 2)])
            continue
        per_epoch = list(zip(*[r["epoch_seconds"] for r in good]))
        medians = [harness.spread(epoch)["median"] for epoch in per_epoch]
        ratios = [max(r["epoch_seconds"]) / min(r["epoch_seconds"]) for r in good]
        rows.append([variant, *[f"{m:.3f}" for m in medians],
                     f"{harness.spread(ratios)['median']:.2f} ({min(ratios):.2f}-{max(ratios):.2f})",
                     f"{harness.spread([r['fit_seconds'] for r in good])['median']:.2f}",
                     f"{good[0]['test_accuracy']:.4f}"])
    return "\n".join(lines + [harness.markdown_table(header, rows),
                              "", "Epoch columns: the median over runs of that epoch's seconds."])


def main(argv=None) -> int:
    host.unpin_blas_and_reexec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--subset", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None)
    parser.add_argument("--before", type=Path, default=None,
                        help="an older xpnn checkout to run as the 'before' variant")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR / "flat_epochs")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    env = host.environment()
    variants = [v for v in VARIANTS if not v.startswith("before") or args.before]
    passed = ["--epochs", str(args.epochs), "--seed", str(args.seed)]
    passed += ["--subset", str(args.subset)] if args.subset else []
    passed += ["--data", args.data] if args.data else []
    runs = {variant: [] for variant in variants}
    for _ in range(args.repeats):
        for variant in variants:
            extra = {"PYTHONPATH": str(args.before)} if variant.startswith("before") else None
            runs[variant].append(harness.run_worker(Path(__file__), [variant, *passed], 900,
                                                   env=extra))
            print(variant, json.dumps(runs[variant][-1])[:200], flush=True)
    harness.write_json(args.out / "flat_epochs.json", {"environment": env, "runs": runs})
    text = report(runs, env, args)
    harness.write_text_atomic(args.out / "flat_epochs.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

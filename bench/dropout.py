"""What dropout costs on the NumPy path: epoch time with dropout 0 against 0.2 on every
hidden layer, the same fit otherwise (Adam, float32, the NumPy step kernel).

Two shapes: Fashion-MNIST's (784-256-128-10, batch 128; random pixels of its shape, since
only the shapes decide the time) and the digits recipe's (64-256-128-10, batch 32: small
products, so the masks' share of a step is at its largest). The two settings alternate, run
after run, so a noisy machine slows both alike; per setting the median and the best epoch
time (each run's first epoch left out as warm-up). Beside them, far less noisy, the extra
work of one step measured alone, best of a few hundred: drawing its masks
(``Dropout.masks``) and multiplying them in (the kernel's forward and backward with masks
minus without), and that extra work times the steps as a share of the best epoch without
dropout.

    .venv/bin/python bench/dropout.py                 # writes bench/results/dropout.{json,md}
    .venv/bin/python bench/dropout.py --rows 2000 --epochs 2 --runs 1 --out /tmp/smoke

On a busy machine, OPENBLAS_NUM_THREADS=1 in front steadies the times (the BLAS line of
the report says which pools ran how many threads).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import timeit
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import host  # noqa: E402
import harness  # noqa: E402

# name -> (features, hidden, batch size, rows by default)
SHAPES = {"fashion-mnist": (784, (256, 128), 128, 10000),
          "digits": (64, (256, 128), 32, 1797)}
RATES = (0.0, 0.2)


def epoch_seconds(X, y, hidden, batch_size, rate, epochs) -> list:
    import xpnn

    model = xpnn.MLPClassifier(hidden, batch_size=batch_size, max_iter=epochs, dropout=rate,
                               n_iter_no_change=math.inf, random_state=0, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few epochs on purpose
        model.fit(X, y)
    return [row["seconds"] for row in model.history_][1:] or [model.history_[0]["seconds"]]


def best_of(function, number=200) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number


def step_extra_seconds(n_features, hidden, batch_size, rate) -> dict:
    """One step's extra work alone: the masks' draw, and their products in the kernel's
    forward and backward (with masks minus without)."""
    import xpnn
    from xpnn import kernels
    from xpnn.core import mlp
    from xpnn.backend.devices import numpy_backend
    from xpnn.training.dropout import Dropout

    backend, rng = numpy_backend(), np.random.default_rng(0)
    kernel = kernels.select(backend, mlp.MLPSpec(), xpnn.MLPClassifier()._optimizer())
    params = mlp.init_params(mlp.layer_sizes(n_features, hidden, 10), rng, "float32", backend)
    X = rng.random((batch_size, n_features), dtype=np.float32)
    y = rng.integers(0, 10, batch_size)
    dropout = Dropout((rate,) * len(hidden), hidden, 0, backend)
    steps = iter(range(10**9))  # a new step each call: a new draw

    def passes(masks):
        outputs, trace = kernel.forward(params, X, masks)
        kernel.backward(params, trace, kernel.loss_with_grad(outputs, y, None)[1])

    masks = dropout.masks(0, 0, 0, batch_size, np.float32)
    return {"draw": best_of(lambda: dropout.masks(0, next(steps), 0, batch_size, np.float32)),
            "products": best_of(lambda: passes(masks)) - best_of(lambda: passes(None))}


def measure(name, rows, epochs, runs) -> dict:
    n_features, hidden, batch_size, default_rows = SHAPES[name]
    rng = np.random.default_rng(0)
    n = rows or default_rows
    X = rng.random((n, n_features), dtype=np.float32)
    y = rng.integers(0, 10, n)
    seconds = {rate: [] for rate in RATES}
    for _ in range(runs):
        for rate in RATES:
            seconds[rate] += epoch_seconds(X, y, hidden, batch_size, rate, epochs)
    median = {rate: statistics.median(values) for rate, values in seconds.items()}
    best = {rate: min(values) for rate, values in seconds.items()}
    extra = step_extra_seconds(n_features, hidden, batch_size, RATES[1])
    steps = math.ceil(n / batch_size)
    return {"shape": name, "rows": n, "hidden": list(hidden), "batch_size": batch_size,
            "epoch_seconds": {str(rate): values for rate, values in seconds.items()},
            "median": {str(rate): value for rate, value in median.items()},
            "best": {str(rate): value for rate, value in best.items()},
            "cost_median": median[RATES[1]] / median[RATES[0]] - 1.0,
            "cost_best": best[RATES[1]] / best[RATES[0]] - 1.0,
            "step_extra_seconds": extra,
            "extra_share": sum(extra.values()) * steps / best[RATES[0]]}


def report(records, env) -> str:
    machine = (f"{env['cpu_model']}, {env['usable_cores']} cores, {env['date']}, load "
               f"average {env['load_average'][0]:.2f} at the start; BLAS: {env['blas']}.")
    header = ("| shape | rows | batch | epoch, dropout 0: median / best | dropout 0.2 | "
              "cost: median / best | a step's extra work alone: draw + products | "
              "its share of the best epoch |")
    warning = host.load_warning(env)
    lines = [machine, "", *([warning, ""] if warning else []), header,
             "|---|---|---|---|---|---|---|---|"]
    for r in records:
        extra = r["step_extra_seconds"]
        lines.append(
            f"| {r['shape']} {r['hidden']} | {r['rows']} | {r['batch_size']} | "
            f"{r['median']['0.0']:.3f} / {r['best']['0.0']:.3f} s | "
            f"{r['median']['0.2']:.3f} / {r['best']['0.2']:.3f} s | "
            f"{100 * r['cost_median']:+.1f} / {100 * r['cost_best']:+.1f} % | "
            f"{1e6 * extra['draw']:.0f} + {1e6 * extra['products']:.0f} us | "
            f"{100 * r['extra_share']:.1f} % |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="rows per shape (default: its own)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="alternating runs per setting")
    parser.add_argument("--out", default=str(harness.RESULTS_DIR / "dropout"))
    args = parser.parse_args(argv)
    env = host.environment()
    import xpnn  # noqa: F401  (loads NumPy's BLAS, so that its pool is listed)

    env["blas"] = host.blas_summary(host.thread_pools())
    records = [measure(name, args.rows, args.epochs, args.runs) for name in SHAPES]
    Path(f"{args.out}.json").write_text(json.dumps({"environment": env, "records": records},
                                                   indent=1))
    Path(f"{args.out}.md").write_text(report(records, env))
    print(report(records, env))


if __name__ == "__main__":
    main()

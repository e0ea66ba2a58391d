"""xpnn against its peers on the CPU: the same MLP, data and optimizer, one process per run.

Work: Fashion-MNIST (60000 train / 10000 test), MLP 784-256-128-10 with ReLU, float32,
batch 128, Adam lr 1e-3, N epochs. Each run is a fresh worker process
(``compare.py --worker IMPL``, one JSON line out), so thread pools and allocators never
share a process; runs are interleaved A B C A B C across repeats. Per run: per-epoch
seconds (the first epoch is warm-up and excluded when there are more), test accuracy,
peak RSS.

    python bench/compare.py                                   # 5 epochs x 3 repeats, all
    python bench/compare.py --epochs 1 --repeats 1 --subset 3000 --out /tmp/smoke
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import host
import peers
import harness

IMPLS = ("xpnn-numpy", "xpnn-numpy-dropout", "torch-eager", "torch-eager-dropout",
         "torch-compile", "sklearn", "xpnn-torch",
         "xpnn-torch-compile", "xpnn-jax", "xpnn-jax-eager", "jax-jit", "xpnn-strict")
BASELINE = "xpnn-numpy"
SMOKE_ONLY = ("xpnn-strict",)  # run once, 1 epoch on --strict-rows rows: proves it works
# the dropout rows: a row without dropout plus "-dropout", and the rate on every hidden layer
DROPOUT = {"xpnn-numpy-dropout": 0.2, "torch-eager-dropout": 0.2}


def without_dropout(impl: str) -> str:
    """The row a dropout row is the same as but for dropout (any other row: itself)."""
    return impl.removesuffix("-dropout")
DESCRIPTIONS = {
    "xpnn-numpy": "xpnn.MLPClassifier on NumPy arrays",
    "xpnn-numpy-dropout": "as xpnn-numpy with dropout=0.2 on both hidden layers",
    "torch-eager": "nn.Sequential + torch.optim.Adam, xpnn's initial weights",
    "torch-eager-dropout": "as torch-eager with nn.Dropout(0.2) after both ReLUs",
    "torch-compile": "as torch-eager, forward + loss through torch.compile",
    "sklearn": "sklearn.neural_network.MLPClassifier (adam, alpha=0), its own init",
    "xpnn-torch": "xpnn.MLPClassifier fed torch CPU tensors",
    "xpnn-torch-compile": "as xpnn-torch, its whole step through torch.compile (experiment)",
    "xpnn-jax": "xpnn.MLPClassifier fed JAX CPU arrays: its step compiled whole (jax.jit)",
    "xpnn-jax-eager": "as xpnn-jax with the JAX kernel off: the array-API step op by op",
    "jax-jit": "a hand-written jax.jit step (mnist_classifier_fromscratch style, Adam)",
    "xpnn-strict": "xpnn.MLPClassifier on array-api-strict arrays (smoke only)",
}


class Unavailable(Exception):
    """An implementation that cannot run here (e.g. torch.compile without a compiler)."""


# -- workers: one implementation, one process ------------------------------------------------


def train_sklearn(X, y, X_test, y_test, *, epochs, batch_size, lr, seed, recipe):
    """scikit-learn's MLPClassifier, one timed call per epoch.

    ``partial_fit`` (default) keeps Adam's moments and step count across calls and, given
    a RandomState object, draws a new shuffle each epoch. ``warm_start`` (fit with
    max_iter=1 and warm_start=True) builds a fresh Adam optimizer on every call and
    reseeds the shuffle from an int, so every epoch restarts Adam's bias correction and
    repeats one batch order: the same cost per epoch, a different optimisation.
    """
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    fit_started = time.perf_counter()
    random_state = np.random.RandomState(seed) if recipe == "partial_fit" else seed
    clf = MLPClassifier(hidden_layer_sizes=peers.HIDDEN, activation="relu", solver="adam",
                        alpha=0.0, batch_size=batch_size, learning_rate_init=lr, max_iter=1,
                        warm_start=recipe == "warm_start", shuffle=True,
                        random_state=random_state, tol=0.0, n_iter_no_change=10**9)
    classes = np.arange(peers.N_CLASSES)
    seconds, train_loss = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            started = time.perf_counter()
            if recipe == "partial_fit":
                clf.partial_fit(X, y, classes=classes)
            else:
                clf.fit(X, y)
            seconds.append(time.perf_counter() - started)
            train_loss.append(float(clf.loss_))
    fit_seconds = time.perf_counter() - fit_started
    return {"epoch_seconds": seconds, "fit_seconds": fit_seconds, "train_loss": train_loss,
            "test_accuracy": float(clf.score(X_test, y_test)), "sklearn_recipe": recipe}


def run_impl(impl, X, y, X_test, y_test, args) -> dict:
    """Train ``impl`` on the host arrays; returns the recipe's record (see peers.train_xpnn)."""
    recipe = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
              "seed": args.seed}
    dropout, impl = DROPOUT.get(impl, 0.0), without_dropout(impl)
    if impl == "xpnn-numpy":
        return peers.train_xpnn(X, y, X_test, y_test, dropout=dropout, **recipe)
    if impl == "sklearn":
        return train_sklearn(X, y, X_test, y_test, recipe=args.sklearn_recipe, **recipe)
    if impl == "xpnn-strict":
        import array_api_strict as strict

        return peers.train_xpnn(*(strict.asarray(a) for a in (X, y, X_test, y_test)), **recipe)

    if impl in ("xpnn-jax", "xpnn-jax-eager", "jax-jit"):
        return run_jax(impl, X, y, X_test, y_test, recipe)

    import torch  # the rest run on torch, with as many threads as numpy's BLAS has

    torch.set_num_threads(args.threads or os.cpu_count())
    if impl in ("xpnn-torch", "xpnn-torch-compile"):
        if impl == "xpnn-torch-compile":  # measured, not kept: see bench/README.md
            peers.register_torch_compiled_step()
        return peers.train_xpnn(*(torch.from_numpy(a) for a in (X, y, X_test, y_test)),
                                 **recipe)
    if impl == "torch-eager":
        return peers.train_torch(X, y, X_test, y_test, dropout=dropout, **recipe)
    if impl == "torch-compile":
        try:
            return peers.train_torch(X, y, X_test, y_test, compile=True, **recipe)
        except Exception as exc:  # dynamo/inductor errors have many types; name it and move on
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            raise Unavailable(f"torch.compile failed: {type(exc).__name__}: {first_line}") from exc
    raise ValueError(f"unknown implementation {impl!r}")


def run_jax(impl, X, y, X_test, y_test, recipe) -> dict:
    """The JAX rows, on JAX's CPU arrays (float32: JAX's default, no x64), moved before the
    timed fit as the torch rows' tensors are: xpnn with its compiled step, xpnn with the JAX
    kernel removed (the reference stages, op by op), and the hand-written jax.jit step."""
    import jax.numpy as jnp

    arrays = [jnp.asarray(a) for a in (X, y, X_test, y_test)]
    if impl == "jax-jit":
        return peers.train_jax(*arrays, **recipe)
    if impl == "xpnn-jax-eager":
        from xpnn import kernels

        del kernels.KERNELS["jax"]  # this worker process only
    return peers.train_xpnn(*arrays, **recipe)


def worker(args) -> dict:
    """One run of one implementation in this process; the record compare() collects."""
    X, y, X_test, y_test = peers.load_fashion_mnist(args.data, args.subset)
    record = {"impl": args.worker, "train_rows": int(X.shape[0]), "test_rows": int(X_test.shape[0]),
              "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
              "rss_after_load_mib": host.current_rss_mib(),
              "peak_rss_after_load_mib": host.peak_rss_mib()}
    try:
        record.update(run_impl(args.worker, X, y, X_test, y_test, args))
    except Unavailable as exc:
        record["unavailable"] = str(exc)
        return record
    record["peak_rss_mib"] = host.peak_rss_mib()
    record["thread_pools"] = host.thread_pools()
    if "torch" in sys.modules:
        record["torch_threads"] = sys.modules["torch"].get_num_threads()
    return record


# -- the driver: interleaved runs, summary, report -------------------------------------------


def worker_args(impl: str, args) -> list[str]:
    smoke = impl in SMOKE_ONLY
    rows = min(args.strict_rows, args.subset or args.strict_rows) if smoke else args.subset
    flags = [impl, "--epochs", str(1 if smoke else args.epochs),
             "--batch-size", str(args.batch_size), "--lr", repr(args.lr), "--seed", str(args.seed),
             "--sklearn-recipe", args.sklearn_recipe]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    if rows:
        flags += ["--subset", str(rows)]
    if args.data:
        flags += ["--data", args.data]
    return flags


def compare(args) -> dict:
    """Run every implementation ``--repeats`` times, interleaved; returns the full result."""
    environment = host.environment()  # before the runs: the load average at the start
    impls = args.impls
    runs = {impl: [] for impl in impls}
    problems = {}  # impl -> "unavailable: ..." or the first error
    script = Path(__file__).resolve()
    for repeat in range(1, args.repeats + 1):
        for impl in impls:
            if impl in problems or (impl in SMOKE_ONLY and repeat > 1):
                continue
            started = time.perf_counter()
            result = harness.run_worker(script, worker_args(impl, args), args.timeout,
                                       env=host.thread_env(args.threads))
            wall = time.perf_counter() - started
            if "unavailable" in result:
                problems[impl] = f"unavailable: {result['unavailable']}"
            elif "error" in result:
                problems[impl] = f"error: {result['error']}"
            else:
                result["wall_seconds"] = wall
                runs[impl].append(result)
            print(f"[repeat {repeat}/{args.repeats}] {impl:19s} {progress_line(result)} "
                  f"({wall:.1f} s wall)", file=sys.stderr, flush=True)

    summary = {impl: summarize(impl, runs[impl]) for impl in impls if runs[impl]}
    baseline = summary.get(BASELINE)
    for impl, row in summary.items():
        comparable = baseline is not None and not row["smoke"] and not baseline["smoke"]
        row["ratio_to_xpnn_numpy"] = (row["epoch_seconds"]["median"]
                                      / baseline["epoch_seconds"]["median"]
                                      if comparable else None)
        # the fit against PyTorch's eager loop with the same dropout (none for most rows)
        torch_row = summary.get("torch-eager" + impl.removeprefix(without_dropout(impl)))
        row["fit_ratio_to_torch_eager"] = (
            row["fit_seconds_per_epoch"]["median"] / torch_row["fit_seconds_per_epoch"]["median"]
            if torch_row is not None and row["fit_seconds_per_epoch"] and not row["smoke"]
            else None)
    jit_row = summary.get("jax-jit")
    for impl in ("xpnn-jax", "xpnn-jax-eager"):
        if impl in summary and jit_row is not None:  # the target: within 1.15x
            summary[impl]["ratio_to_jax_jit"] = {
                key: summary[impl][key]["median"] / jit_row[key]["median"]
                for key in ("epoch_seconds", "fit_seconds_per_epoch")}
    train_rows = args.subset or 60000
    data_mib = peers.float32_mib(train_rows + 10000)
    return {"benchmark": "compare", "environment": environment,
            "settings": {"epochs": args.epochs, "repeats": args.repeats,
                         "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                         "hidden": list(peers.HIDDEN), "train_rows": train_rows,
                         "test_rows": 10000, "strict_rows": args.strict_rows,
                         "sklearn_recipe": args.sklearn_recipe, "smoke": bool(args.subset),
                         "threads": args.threads or "all cores",
                         "order": "interleaved: each repeat runs every implementation once"},
            "data_float32_mib": data_mib, "rss_budget_mib": data_mib + 150.0,
            "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "summary": summary, "problems": problems, "runs": runs}


def progress_line(result: dict) -> str:
    if "unavailable" in result:
        return f"unavailable: {result['unavailable']}"
    if "error" in result:
        return f"ERROR {result['error']}"
    epochs = harness.timed_epochs(result["epoch_seconds"])
    return (f"epoch {harness.spread(epochs)['median']:.3f} s, test acc "
            f"{result['test_accuracy']:.4f}, peak RSS {result['peak_rss_mib']:.0f} MiB")


def summarize(impl: str, runs: list[dict]) -> dict:
    """Pool the timed epochs of all runs; accuracy and RSS over runs."""
    pooled = [s for run in runs for s in harness.timed_epochs(run["epoch_seconds"])]
    first = runs[0]
    return {"description": DESCRIPTIONS[impl], "runs": len(runs), "smoke": impl in SMOKE_ONLY,
            "train_rows": first["train_rows"], "epochs": first["epochs"],
            "epoch_seconds": harness.spread(pooled),
            "run_median_epoch_seconds": [harness.spread(harness.timed_epochs(r["epoch_seconds"]))
                                         ["median"] for r in runs],
            "first_epoch_seconds": harness.spread([r["epoch_seconds"][0] for r in runs]),
            # what a user waits for: fit() from a fresh process (setup and first epoch
            # included), per epoch; and how uneven a run's epochs are (slowest / fastest)
            "fit_seconds_per_epoch": (harness.spread(fits) if (fits := [
                r["fit_seconds"] / len(r["epoch_seconds"]) for r in runs if "fit_seconds" in r])
                else None),
            "slowest_over_fastest": harness.spread([max(r["epoch_seconds"]) / min(r["epoch_seconds"])
                                                   for r in runs]),
            "test_accuracy": harness.spread([r["test_accuracy"] for r in runs]),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "peak_rss_after_load_mib": max(r["peak_rss_after_load_mib"] for r in runs),
            "thread_pools": first.get("thread_pools"), "torch_threads": first.get("torch_threads")}


def markdown_report(result: dict) -> str:
    env, settings = result["environment"], result["settings"]
    rows = []
    for impl, row in result["summary"].items():
        epoch = row["epoch_seconds"]
        ratio = row["ratio_to_xpnn_numpy"]
        rss = row["peak_rss_mib"]
        note = (f"smoke: 1 epoch on {row['train_rows']} rows" if row["smoke"]
                else f"runs: {row['runs']}, timed epochs per run: {max(row['epochs'] - 1, 1)}")
        fit = row["fit_seconds_per_epoch"]
        fit_ratio = row["fit_ratio_to_torch_eager"]
        rows.append([impl, f"{epoch['median']:.3f}", f"{epoch['q1']:.3f}-{epoch['q3']:.3f}",
                     f"{epoch['min']:.3f}-{epoch['max']:.3f}",
                     "-" if ratio is None else f"{ratio:.2f}x",
                     f"{row['first_epoch_seconds']['median']:.3f}",
                     "-" if not fit else f"{fit['median']:.3f}",
                     "-" if fit_ratio is None else f"{fit_ratio:.2f}x",
                     f"{row['slowest_over_fastest']['max']:.2f}",
                     f"{row['test_accuracy']['median']:.4f}",
                     f"{rss:.0f}{'' if rss <= result['rss_budget_mib'] else ' (over)'}", note])
    for impl, problem in result["problems"].items():
        rows.append([impl, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-",
                     problem.replace("|", "/")])
    table = harness.markdown_table(
        ["implementation", "median epoch s", "IQR s", "min-max s", "vs xpnn-numpy",
         "first epoch s", "fit s/epoch", "fit vs torch-eager (same dropout)",
         "slowest/fastest epoch",
         "test acc", "peak RSS MiB", "notes"], rows)
    baseline = result["summary"].get(BASELINE, {})
    versions = ", ".join(f"{name} {version}" for name, version in env["versions"].items())
    warning = host.load_warning(env)
    lines = [
        f"## xpnn vs peers on the CPU ({env['date']})",
        "",
        *([warning, ""] if warning else []),
        f"- machine: {env['cpu_model']}, {env['cpu_count']} cores ({env['usable_cores']} usable),"
        f" load average at start {_loads(env['load_average'])}, at end "
        f"{_loads(result['load_average_end'])}",
        f"- Python {env['python']}; {versions}",
        f"- BLAS (xpnn-numpy worker): {host.blas_summary(baseline.get('thread_pools') or [])}",
        f"- work: Fashion-MNIST {settings['train_rows']} train / {settings['test_rows']} test, "
        f"MLP 784-{'-'.join(map(str, settings['hidden']))}-10 ReLU, float32, batch "
        f"{settings['batch_size']}, Adam lr {settings['lr']:g}, epochs: {settings['epochs']}, "
        f"repeats: {settings['repeats']} (interleaved), one process per run, threads: "
        f"{settings['threads']}"
        + (" (SMOKE RUN: subset of rows)" if settings["smoke"] else ""),
        f"- data in float32: {result['data_float32_mib']:.1f} MiB; RSS budget data + 150 MiB = "
        f"{result['rss_budget_mib']:.1f} MiB",
        "- epoch times: all epochs after the first (warm-up) of every run, pooled; "
        "'first epoch' is the warm-up epoch; sklearn starts from its own initialisation"
        + (f" ({settings['sklearn_recipe']})" if "sklearn" in result["summary"] else ""),
        "",
        table,
        *jax_lines(result["summary"]),
        *dropout_lines(result["summary"]),
    ]
    return "\n".join(lines) + "\n"


def jax_lines(summary: dict) -> list[str]:
    """One line per xpnn JAX row: its time over the hand-written jax.jit step's."""
    lines = [f"- {impl} / jax-jit: median epoch {ratio['epoch_seconds']:.2f}x, fit s/epoch "
             f"(compilation included) {ratio['fit_seconds_per_epoch']:.2f}x"
             for impl, row in summary.items() if (ratio := row.get("ratio_to_jax_jit"))]
    return ["", *lines] if lines else []


def dropout_lines(summary: dict) -> list[str]:
    """What dropout costs each library: its dropout row's epoch and fit over its plain row's."""
    lines = []
    for impl in DROPOUT:
        plain = without_dropout(impl)
        if impl in summary and plain in summary:
            with_, without = summary[impl], summary[plain]
            epoch = with_["epoch_seconds"]["median"] / without["epoch_seconds"]["median"] - 1
            fit = (with_["fit_seconds_per_epoch"]["median"]
                   / without["fit_seconds_per_epoch"]["median"] - 1)
            lines.append(f"- dropout's cost, {impl} / {plain}: median epoch {100 * epoch:+.1f} %, "
                         f"fit s/epoch {100 * fit:+.1f} %")
    return ["", *lines] if lines else []


def _loads(loads) -> str:
    return "/".join(f"{x:.2f}" for x in loads) if loads else "n/a"


def plot(result: dict, path: Path) -> None:
    """Epoch time (median, IQR box, min-max whiskers) and test accuracy, side by side."""
    import io

    import matplotlib
    from xpnn.files.fileio import write_file_atomic

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(impl, row) for impl, row in result["summary"].items() if not row["smoke"]]
    if not rows:
        return
    names = [impl for impl, _ in rows]
    medians = [row["epoch_seconds"]["median"] for _, row in rows]
    whiskers = [[m - row["epoch_seconds"]["min"] for m, (_, row) in zip(medians, rows)],
                [row["epoch_seconds"]["max"] - m for m, (_, row) in zip(medians, rows)]]
    accuracy = [row["test_accuracy"]["median"] for _, row in rows]
    positions = range(len(rows))

    fig, (ax_time, ax_acc) = plt.subplots(1, 2, figsize=(11, 0.6 * len(rows) + 2.2))
    ax_time.barh(positions, medians, xerr=whiskers, capsize=4, color="tab:blue", alpha=0.8)
    for position, (_, row) in zip(positions, rows):
        spread = row["epoch_seconds"]
        ax_time.plot([spread["q1"], spread["q3"]], [position, position], color="black", lw=4)
        ratio = row["ratio_to_xpnn_numpy"]
        label = f" {spread['median']:.2f} s" + ("" if ratio is None else f" ({ratio:.2f}x)")
        ax_time.text(spread["max"], position, label, va="center", fontsize=8)
    ax_time.set_yticks(list(positions), names)
    ax_time.invert_yaxis()
    ax_time.set_xlabel("seconds per epoch (median; bar: IQR, whiskers: min-max)")
    ax_time.margins(x=0.25)
    ax_acc.barh(positions, accuracy, color="tab:green", alpha=0.8)
    for position, value in zip(positions, accuracy):
        ax_acc.text(value, position, f" {value:.4f}", va="center", fontsize=8)
    ax_acc.set_yticks(list(positions), [])
    ax_acc.invert_yaxis()
    low = min(accuracy)
    ax_acc.set_xlim(max(0.0, low - 0.05), 1.0)
    ax_acc.set_xlabel(f"test accuracy after {result['settings']['epochs']} epochs")
    env = result["environment"]
    fig.suptitle(f"MLP 784-256-128-10 on Fashion-MNIST, {env['cpu_model']}, "
                 f"{env['cpu_count']} cores, {env['date'][:10]}", fontsize=10)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, dpi=120, format="png")
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, png.getvalue())


# -- command line ---------------------------------------------------------------------------


def impl_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in IMPLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown implementation(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(IMPLS)}")
    return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Time xpnn against PyTorch and scikit-learn on the CPU: Fashion-MNIST, "
                    "MLP 784-256-128-10, float32, Adam, one worker process per run.")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5; "
                        "the first is warm-up and not counted when there are more)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per implementation, "
                        "interleaved A B C A B C (default 3)")
    parser.add_argument("--impls", type=impl_list, default=list(IMPLS),
                        help=f"comma-separated subset of {','.join(IMPLS)} (default: all)")
    parser.add_argument("--subset", type=int, default=None, metavar="ROWS",
                        help="train on the first ROWS training rows only (smoke runs)")
    parser.add_argument("--strict-rows", type=int, default=5000,
                        help="rows for the xpnn-strict smoke run (1 epoch; default 5000)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sklearn-recipe", choices=("partial_fit", "warm_start"),
                        default="partial_fit",
                        help="how sklearn is stepped one epoch at a time: partial_fit keeps "
                             "Adam's state across epochs (default); warm_start refits with "
                             "max_iter=1, which restarts Adam every epoch")
    parser.add_argument("--threads", type=int, default=None,
                        help="cap every worker's BLAS/OpenMP pools and torch at N threads "
                             "(default: all cores, each library's own default)")
    parser.add_argument("--data", default=None,
                        help="directory with the four Fashion-MNIST IDX .gz files (default: "
                             "xpnn's offline lookup, e.g. /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR,
                        help="where compare.json/.md/.png go (default bench/results)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds one worker may run (default 1800)")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument("--worker", choices=IMPLS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def written_plot(args, result) -> list[str]:
    """The PNG beside the report, unless --no-plot: the names written."""
    if args.no_plot:
        return []
    plot(result, args.out / "compare.png")
    return ["compare.png"]


def main(argv=None) -> int:
    # an implementation that is unavailable here is a problem the report lists, not a
    # failure: the run fails when nothing was measured
    return harness.script_main(argv, "compare", parse_args, worker, compare, markdown_report,
                               failed=lambda result: not result["summary"],
                               also=written_plot)


if __name__ == "__main__":
    sys.exit(main())

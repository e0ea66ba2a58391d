"""Where one xpnn-numpy epoch goes: GEMMs, elementwise math, gathers, optimizer.

Four measurements of the same epoch (same seed, so the same initial weights and batches):
  0. the epoch through xpnn's NumPy step kernel (what fit runs), each kernel method timed;
  1. a plain ``MLPClassifier.fit`` epoch: the reference time;
  2. a hand-written replica of xpnn.training.train's inner loop that calls xpnn.core.mlp / xpnn.core.ops /
     xpnn.core.optim itself and times every call. The matrix products are written inline (as
     in xpnn.core.mlp) because they are the split this script exists to measure; a check on the
     first batch asserts the replica's gradients equal ``mlp.loss_and_grads``;
  3. cProfile's top functions of a real ``fit`` epoch. cProfile does not see ``@``: the
     time of a product lands in the tottime of the function that wrote it (mlp.forward,
     mlp.backward).

    python bench/profile_epoch.py
    python bench/profile_epoch.py --subset 3000 --out /tmp/smoke
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import host
import peers
import harness

# phase -> category, in the order the table prints them
PHASES = {
    "forward GEMMs (a @ w)": "GEMM",
    "weight-gradient GEMMs (a.T @ delta)": "GEMM",
    "input-gradient GEMMs (delta @ w.T)": "GEMM",
    "bias add + relu (ops.relu)": "elementwise",
    "softmax + cross-entropy + grad (ops.cross_entropy_with_grad)": "elementwise",
    "relu backward (ops.relu_backward)": "elementwise",
    "bias gradients (xp.sum over the batch)": "elementwise",
    "metrics (loss sum, ops.correct_count)": "elementwise",
    "gathers (xp.take of X and y)": "gather",
    "Adam update (optim.Adam.update)": "optimizer",
    "epoch bookkeeping (permutation, snapshot, finite check)": "bookkeeping",
}


class PhaseTimer:
    """``with timer("phase"):`` adds the block's wall time to that phase."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self._phase = None
        self._started = 0.0

    def __call__(self, phase: str) -> PhaseTimer:
        self._phase = phase
        return self

    def __enter__(self):
        self._started = time.perf_counter()

    def __exit__(self, *exc_info):
        self.seconds[self._phase] += time.perf_counter() - self._started


def step_with_timers(params, opt_state, optimizer, inputs, labels, xp, timer, keep_grads=False):
    """One training step as xpnn.training.train runs it, each call timed.

    Returns (params, opt_state, loss, logits, grads), the new state first.
    """
    from xpnn.core import mlp, ops

    n_layers = mlp.n_weight_layers(params)
    activations, hidden = [inputs], inputs  # as mlp.forward: a0 = inputs, a_l = relu(z_l)
    for layer in range(1, n_layers + 1):
        with timer("forward GEMMs (a @ w)"):
            product = hidden @ params[f"w{layer}"]  # (batch, fan_out)
        with timer("bias add + relu (ops.relu)"):
            z = product
            z += params[f"b{layer}"]  # in place, as mlp.forward
            if layer < n_layers:
                hidden = ops.relu(z, xp)
                activations.append(hidden)
    logits = z
    with timer("softmax + cross-entropy + grad (ops.cross_entropy_with_grad)"):
        loss, delta = ops.cross_entropy_with_grad(logits, labels, xp)

    grads = {}  # as mlp.backward, layer by layer from the top
    for layer in range(n_layers, 0, -1):
        below = activations[layer - 1]
        with timer("weight-gradient GEMMs (a.T @ delta)"):
            grads[f"w{layer}"] = xp.matrix_transpose(below) @ delta
        with timer("bias gradients (xp.sum over the batch)"):
            grads[f"b{layer}"] = xp.sum(delta, axis=0)
        if layer > 1:
            with timer("input-gradient GEMMs (delta @ w.T)"):
                upstream = delta @ xp.matrix_transpose(params[f"w{layer}"])
            with timer("relu backward (ops.relu_backward)"):
                delta = ops.relu_backward(upstream, below, xp)
    grads = {name: grads[name] for name in mlp.parameter_names(n_layers)}
    if keep_grads:  # the update consumes its grads (scales them in place)
        grads, kept = grads, {name: value.copy() for name, value in grads.items()}
    with timer("Adam update (optim.Adam.update)"):
        params, opt_state = optimizer.update(params, grads, opt_state, xp)
    return params, opt_state, loss, logits, kept if keep_grads else grads


def fresh_state(n_features: int, args):
    """What MLPClassifier(random_state=seed).fit builds before its first epoch: weights, Adam,
    rng, backend."""
    from xpnn.core import mlp
    from xpnn.backend.devices import numpy_backend
    from xpnn.core.optim import make_optimizer

    backend = numpy_backend()
    rng = np.random.default_rng(args.seed)  # init first, then one permutation per epoch
    sizes = mlp.layer_sizes(n_features, peers.HIDDEN, peers.N_CLASSES)
    params = mlp.init_params(sizes, rng, "float32", backend)
    optimizer = make_optimizer("adam", args.lr)
    return params, optimizer, optimizer.init_state(params, backend.xp), rng, backend


def check_replica(X, y, args) -> float:
    """Max relative difference between the replica's and mlp.loss_and_grads' gradients."""
    from xpnn.core import mlp

    params, optimizer, opt_state, _, backend = fresh_state(X.shape[1], args)
    xp = backend.xp
    inputs, labels = X[:args.batch_size], y[:args.batch_size]
    _, expected, _ = mlp.loss_and_grads(params, inputs, labels, xp)
    copies = {name: value.copy() for name, value in params.items()}  # the update is in place
    *_, got = step_with_timers(copies, opt_state, optimizer, inputs, labels, xp, PhaseTimer(),
                               keep_grads=True)
    worst = max(float(np.max(np.abs(got[name] - expected[name]))
                      / (np.max(np.abs(expected[name])) + 1e-30)) for name in expected)
    if worst > 1e-5:
        raise SystemExit(f"the replica no longer matches xpnn.core.mlp (max relative gradient "
                         f"difference {worst:.2e}); update step_with_timers to follow it")
    return worst


def replica_epoch(X, y, args) -> tuple[dict, float, float]:
    """One epoch of the replica: (seconds per phase, wall seconds, mean training loss)."""
    from xpnn.core import ops
    from xpnn.backend.devices import copy_array
    from xpnn.core.optim import state_arrays
    from xpnn.training.batches import batch_slices

    params, optimizer, opt_state, rng, backend = fresh_state(X.shape[1], args)
    xp, timer = backend.xp, PhaseTimer()
    bookkeeping = "epoch bookkeeping (permutation, snapshot, finite check)"
    started = time.perf_counter()
    with backend.quiet_float_errors():
        with timer(bookkeeping):
            order = backend.asarray(rng.permutation(X.shape[0]))
            # xpnn snapshots the epoch's start (FitRun.copy)
            [copy_array(v, backend) for v in [*params.values(), *state_arrays(opt_state).values()]]
            loss_sum = xp.zeros((), dtype=X.dtype, device=backend.device)
            correct = xp.zeros((), dtype=xp.int64, device=backend.device)
        for start, stop in batch_slices(X.shape[0], args.batch_size):
            with timer("gathers (xp.take of X and y)"):
                batch_idx = order[start:stop]
                inputs = xp.take(X, batch_idx, axis=0)  # (batch, 784)
                labels = xp.take(y, batch_idx, axis=0)
            params, opt_state, loss, logits, _ = step_with_timers(
                params, opt_state, optimizer, inputs, labels, xp, timer)
            with timer("metrics (loss sum, ops.correct_count)"):
                loss_sum += loss * float(stop - start)
                correct += ops.correct_count(logits, labels, xp)
        with timer(bookkeeping):
            # FitRun.finite_flag and the epoch's one stacked host read
            finite = xp.all(xp.stack([xp.all(xp.isfinite(v)) for v in params.values()]))
            stacked = xp.stack([xp.astype(finite, xp.float64), xp.astype(loss_sum, xp.float64),
                                xp.astype(correct, xp.float64)])
            epoch_loss = float(stacked[1]) / X.shape[0]
    return dict(timer.seconds), time.perf_counter() - started, epoch_loss


KERNEL_PHASES = {  # NumpyStep method -> phase (xpnn/kernels/numpy_step.py)
    "take": "gathers (np.take into reused buffers)",
    "forward": "forward: GEMMs, bias add, relu (out= buffers)",
    "loss_with_grad": "softmax + cross-entropy + grad (in place)",
    "backward": "backward: GEMMs, bias sums, relu gate (out= buffers)",
    "update": "Adam update (numba one pass with xpnn[fast], else optim.Adam)",
}


def kernel_epoch(X, y, args) -> tuple[dict, float, float]:
    """One epoch as fit runs it on NumPy (the step kernel's stages, as FitRun.step calls
    them without L2), each stage timed."""
    from xpnn.core import ops
    from xpnn.kernels.numpy_step import NumpyStep
    from xpnn.core.mlp import MLPSpec
    from xpnn.training.batches import batch_slices

    params, optimizer, opt_state, rng, backend = fresh_state(X.shape[1], args)
    xp, timer = backend.xp, PhaseTimer()
    kernel = NumpyStep(MLPSpec(alpha=0.0), optimizer, backend.xp)
    for method, phase in KERNEL_PHASES.items():
        def timed(*a, _real=getattr(kernel, method), _phase=phase):
            with timer(_phase):
                return _real(*a)
        setattr(kernel, method, timed)
    started = time.perf_counter()
    with backend.quiet_float_errors():
        order = backend.asarray(rng.permutation(X.shape[0]))
        loss_sum = xp.zeros((), dtype=X.dtype, device=backend.device)
        correct = xp.zeros((), dtype=xp.int64, device=backend.device)
        for start, stop in batch_slices(X.shape[0], args.batch_size):
            batch_idx = order[start:stop]
            inputs, labels = kernel.take(X, batch_idx, "X"), kernel.take(y, batch_idx, "y")
            logits, activations = kernel.forward(params, inputs)
            loss, grad_logits = kernel.loss_with_grad(logits, labels, None)
            grads = kernel.backward(params, activations, grad_logits)
            params, opt_state = kernel.update(params, grads, opt_state, 1.0)
            with timer("metrics (loss sum, ops.correct_count)"):
                loss_sum += loss * float(stop - start)
                correct += ops.correct_count(logits, labels, xp)
        epoch_loss = float(loss_sum) / X.shape[0]
    return dict(timer.seconds), time.perf_counter() - started, epoch_loss


def kernel_table(phases: dict, wall: float) -> str:
    untimed = max(wall - sum(phases.values()), 0.0)
    rows = [[phase, f"{seconds:.3f}", f"{100 * seconds / wall:.1f}"]
            for phase, seconds in phases.items()]
    rows.append(["(untimed: Python between the timers)", f"{untimed:.3f}",
                 f"{100 * untimed / wall:.1f}"])
    return harness.markdown_table(["phase (NumPy step kernel)", "seconds", "% of epoch"], rows)


def fit_epoch(X, y, args) -> dict:
    """The history row of one plain MLPClassifier.fit epoch (seconds, loss, ...)."""
    import xpnn

    clf = xpnn.MLPClassifier(hidden_layer_sizes=peers.HIDDEN, max_iter=1,
                             batch_size=args.batch_size, learning_rate_init=args.lr, alpha=0.0,
                             random_state=args.seed)
    return clf.fit(X, y).history_[0]


def profiled_fit(X, y, args) -> tuple[str, list[dict], float]:
    """cProfile of one real fit epoch: (printable top list, rows, the epoch's seconds)."""
    import xpnn

    clf = xpnn.MLPClassifier(hidden_layer_sizes=peers.HIDDEN, max_iter=1,
                             batch_size=args.batch_size, learning_rate_init=args.lr, alpha=0.0,
                             random_state=args.seed)
    profiler = cProfile.Profile()
    profiler.enable()
    clf.fit(X, y)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).sort_stats("tottime")
    stats.print_stats(args.top)
    rows = []
    for (filename, line, function), (_, calls, tottime, cumtime, _) in sorted(
            stats.stats.items(), key=lambda item: -item[1][2])[:args.top]:
        rows.append({"function": f"{Path(filename).name}:{line}({function})", "calls": calls,
                     "tottime": tottime, "cumtime": cumtime})
    return text.getvalue(), rows, clf.history_[0]["seconds"]


def phase_table(phases: dict, wall: float) -> tuple[str, dict]:
    """Markdown rows per phase and per category, with shares of the replica's wall time."""
    untimed = max(wall - sum(phases.values()), 0.0)
    rows = [[phase, PHASES[phase], f"{phases.get(phase, 0.0):.3f}",
             f"{100 * phases.get(phase, 0.0) / wall:.1f}"] for phase in PHASES]
    rows.append(["(untimed: Python between the timers, timer overhead)", "other",
                 f"{untimed:.3f}", f"{100 * untimed / wall:.1f}"])
    categories = defaultdict(float)
    for phase, seconds in phases.items():
        categories[PHASES[phase]] += seconds
    categories["other"] = untimed
    total = [["**" + name + "**", "", f"**{seconds:.3f}**", f"**{100 * seconds / wall:.1f}**"]
             for name, seconds in sorted(categories.items(), key=lambda item: -item[1])]
    table = harness.markdown_table(["phase", "category", "seconds", "% of epoch"], rows + total)
    return table, dict(categories)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Profile one xpnn-numpy epoch (MLP 784-256-128-10, Adam, Fashion-MNIST): "
                    "GEMM vs elementwise vs gathers vs optimizer, plus cProfile's top list.")
    parser.add_argument("--subset", type=int, default=None, metavar="ROWS",
                        help="use the first ROWS training rows (smoke runs)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=20, help="cProfile rows to show (default 20)")
    parser.add_argument("--threads", type=int, default=None,
                        help="cap NumPy's BLAS at N threads (default: its own, all cores)")
    parser.add_argument("--data", default=None, help="Fashion-MNIST IDX directory")
    parser.add_argument("--out", type=Path, default=harness.RESULTS_DIR,
                        help="where profile_epoch.json/.md go (default bench/results)")
    return parser.parse_args(argv)


@dataclass
class EpochMeasurements:
    """The four measurements of one epoch, and the checks that tie them together."""
    rows: int
    gradient_difference: float  # replica vs mlp.loss_and_grads, max relative
    fit_seconds: float
    fit_loss: float
    phases: dict  # replica phase -> seconds
    replica_seconds: float
    replica_loss: float
    kernel_phases: dict  # kernel method -> seconds
    kernel_seconds: float
    profile_text: str
    profile_rows: list
    profiled_seconds: float


def measure(X, y, args) -> EpochMeasurements:
    """Run the four measurements; stop when the replicas no longer run fit's epoch."""
    worst = check_replica(X, y, args)
    fit_row = fit_epoch(X, y, args)  # also warms up BLAS threads and caches
    phases, wall, replica_loss = replica_epoch(X, y, args)
    if not np.isclose(replica_loss, fit_row["loss"], rtol=1e-4):
        raise SystemExit(f"the replica's epoch loss {replica_loss:.6f} differs from fit's "
                         f"{fit_row['loss']:.6f}: it no longer runs the same epoch as xpnn.training.train")
    kernel_phases, kernel_wall, kernel_loss = kernel_epoch(X, y, args)
    if not np.isclose(kernel_loss, fit_row["loss"], rtol=1e-6):
        raise SystemExit(f"the kernel replica's epoch loss {kernel_loss:.6f} differs from "
                         f"fit's {fit_row['loss']:.6f}")
    profile_text, profile_rows, profiled_seconds = profiled_fit(X, y, args)
    return EpochMeasurements(int(X.shape[0]), worst, fit_row["seconds"], fit_row["loss"], phases,
                             wall, replica_loss, kernel_phases, kernel_wall, profile_text,
                             profile_rows, profiled_seconds)


def markdown_report(measured: EpochMeasurements, table: str, environment: dict, args) -> str:
    """profile_epoch.md: the setting, the kernel's and the replica's tables, cProfile's list."""
    lines = [f"## One xpnn-numpy epoch, phase by phase ({environment['date']})", ""]
    warning = host.load_warning(environment)
    if warning:
        lines += [warning, ""]
    lines += [
        f"- machine: {environment['cpu_model']}, {environment['cpu_count']} cores; BLAS: "
        f"{host.blas_summary(host.thread_pools())}",
        f"- {measured.rows} rows, batch {args.batch_size}, MLP 784-256-128-10, Adam, float32",
        f"- plain fit epoch (NumPy step kernel): {measured.fit_seconds:.3f} s; the same epoch "
        f"through the timed kernel: {measured.kernel_seconds:.3f} s; through the timed "
        f"array-API reference replica: {measured.replica_seconds:.3f} s; fit under cProfile: "
        f"{measured.profiled_seconds:.3f} s",
        f"- the replica runs fit's epoch: gradients match mlp.loss_and_grads (max relative "
        f"difference {measured.gradient_difference:.1e}), epoch loss "
        f"{measured.replica_loss:.5f} vs fit's {measured.fit_loss:.5f}",
        "",
        "What fit runs on NumPy (xpnn/kernels/numpy_step.py), by kernel method:",
        "",
        kernel_table(measured.kernel_phases, measured.kernel_seconds),
        "",
        "The array-API reference path (what runs on other namespaces), call by call:",
        "",
        table,
        "",
        f"cProfile, one fit epoch, top {args.top} by tottime (the time of `@` is inside "
        "mlp.forward / mlp.backward):",
        "",
        "```",
        measured.profile_text.strip(),
        "```",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    host.unpin_blas_and_reexec()  # measure the BLAS a user would get
    args = parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads, user_api="blas")  # for the rest of the process
    environment = host.environment()
    X, y, _, _ = peers.load_fashion_mnist(args.data, args.subset)
    measured = measure(X, y, args)
    table, categories = phase_table(measured.phases, measured.replica_seconds)
    report = markdown_report(measured, table, environment, args)
    harness.write_json(args.out / "profile_epoch.json", {
        "benchmark": "profile_epoch", "environment": environment, "rows": measured.rows,
        "batch_size": args.batch_size, "fit_epoch_seconds": measured.fit_seconds,
        "replica_epoch_seconds": measured.replica_seconds,
        "profiled_fit_epoch_seconds": measured.profiled_seconds,
        "kernel_epoch_seconds": measured.kernel_seconds, "kernel_phases": measured.kernel_phases,
        "replica_max_relative_gradient_difference": measured.gradient_difference,
        "phases": measured.phases, "categories": categories,
        "cprofile_top": measured.profile_rows})
    harness.write_text_atomic(args.out / "profile_epoch.md", report)
    print(report)
    print(f"written: {args.out / 'profile_epoch.json'}, profile_epoch.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What every benchmark script shares: the data, the two training recipes, the record, stats.

The recipes live here once so that every comparison does the same work: Fashion-MNIST
scaled to [0, 1] in float32, an MLP 784-256-128-10 with ReLU, Adam, mini-batches drawn
by one shuffled permutation per epoch (one gather per batch), loss and correct counts
summed on the device and read once per epoch. Heavy libraries (torch, scikit-learn,
threadpoolctl) are imported inside the functions that need them, so a worker's peak RSS
only counts what that implementation really loads.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

HIDDEN = (256, 128)
N_FEATURES = 784
N_CLASSES = 10
MIB = 2**20
DISTRIBUTIONS = ("xpnn", "numpy", "torch", "jax", "jaxlib", "scikit-learn", "array-api-compat",
                 "array-api-strict", "threadpoolctl", "matplotlib", "cupy-cuda13x", "cupy-cuda12x")


# -- data -----------------------------------------------------------------------------------


def load_fashion_mnist(data: str | None = None, subset: int | None = None, dtype="float32"):
    """(X_train, y_train, X_test, y_test) on the host: pixels / 255 in ``dtype``, int64 labels.

    ``data``: a directory holding the four IDX .gz files; None: xpnn's offline lookup
    (its cache, then /usr/share/datasets). ``subset``: keep the first rows of train only
    (Fashion-MNIST's order is already shuffled); the test split stays whole.
    """
    from xpnn.data.sources import load_source
    from xpnn.preprocess import fit_preprocessing

    if data:
        splits = load_source(data=data)
    else:
        splits = load_source(dataset="fashion-mnist", offline=True)
    train, test = splits.train, splits.test
    if subset:
        train = train.subset(np.arange(min(int(subset), len(train))))
    scaling = fit_preprocessing(train)
    return (scaling.apply(train.X, dtype), train.y.astype(np.int64),
            scaling.apply(test.X, dtype), test.y.astype(np.int64))


def float32_mib(n_rows: int, n_features: int = N_FEATURES) -> float:
    """Size of ``n_rows`` feature rows stored as float32, in MiB."""
    return n_rows * n_features * 4 / MIB


# -- the xpnn recipe ------------------------------------------------------------------------


def train_xpnn(X, y, X_test, y_test, *, epochs, batch_size, lr, seed, device=None,
               dropout=0.0):
    """xpnn's MLPClassifier on whatever namespace X and y come from (or on ``device``).

    Returns {"epoch_seconds", "train_loss", "train_accuracy" (per epoch), "test_accuracy"}.
    xpnn times each epoch itself, after its once-per-epoch host read of the loss, so a GPU
    epoch time includes the sync.
    """
    import xpnn

    clf = xpnn.MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=epochs, batch_size=batch_size,
                             learning_rate_init=lr, solver="adam", alpha=0.0,
                             n_iter_no_change=np.inf, random_state=seed, dtype="float32",
                             device=device, dropout=dropout)  # no L2, every epoch: as torch
    started = time.perf_counter()
    clf.fit(X, y)
    fit_seconds = time.perf_counter() - started  # what a user waits for: setup, every epoch
    _, accuracy = clf.evaluate(X_test, y_test)
    return {"epoch_seconds": [row["seconds"] for row in clf.history_],
            "fit_seconds": fit_seconds,
            "train_loss": [row["loss"] for row in clf.history_],
            "train_accuracy": [row["accuracy"] for row in clf.history_],
            "test_accuracy": float(accuracy)}


def xpnn_initial_params(seed: int, n_features: int = N_FEATURES, n_classes: int = N_CLASSES):
    """The host float32 weights MLPClassifier(random_state=seed) starts from: {"w1": ...}."""
    from xpnn import mlp
    from xpnn.backend import numpy_backend

    sizes = mlp.layer_sizes(n_features, HIDDEN, n_classes)
    return mlp.init_params(sizes, np.random.default_rng(seed), "float32", numpy_backend())


# -- the PyTorch recipe ---------------------------------------------------------------------


def torch_mlp(params, torch, dropout=0.0):
    """nn.Sequential(Linear, ReLU, ..., Linear) holding xpnn's initial weights (with
    ``dropout``: an nn.Dropout after every ReLU).

    xpnn stores w as (fan_in, fan_out) and computes a @ w; nn.Linear stores (out, in) and
    computes a @ weight.T, so weight = w.T.
    """
    n_layers = len(params) // 2
    layers = []
    for layer in range(1, n_layers + 1):
        weights = np.asarray(params[f"w{layer}"])  # (fan_in, fan_out)
        linear = torch.nn.Linear(*weights.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights.T)))
            linear.bias.copy_(torch.from_numpy(np.asarray(params[f"b{layer}"])))
        layers.append(linear)
        if layer < n_layers:
            layers.append(torch.nn.ReLU())
            if dropout:
                layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers)


def train_torch(X, y, X_test, y_test, *, epochs, batch_size, lr, seed, device="cpu",
                compile=False, dropout=0.0):
    """Plain PyTorch: nn.Sequential + torch.optim.Adam, optionally torch.compile'd.

    Each epoch draws one torch.randperm; each batch is one index_select of X and of y (as
    xpnn's xp.take). ``compile`` compiles forward + loss (backward through AOTAutograd), the
    optimizer step eager; ``dropout``: see torch_mlp. Returns what ``train_xpnn`` returns.
    """
    import torch

    initial = xpnn_initial_params(seed, X.shape[1])  # plumbing, not timed
    fit_started = time.perf_counter()  # as train_xpnn's fit: model, optimizer, every epoch
    device = torch.device(device)
    torch.manual_seed(seed)
    model = torch_mlp(initial, torch, dropout).to(device)
    inputs_all = torch.from_numpy(X).to(device)  # no copy on the CPU
    labels_all = torch.from_numpy(y).to(device)

    def forward_loss(inputs, labels):  # the mean cross-entropy, as nn.CrossEntropyLoss()
        logits = model(inputs)
        return torch.nn.functional.cross_entropy(logits, labels), logits

    step_loss = torch.compile(forward_loss) if compile else forward_loss
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator(device=device).manual_seed(seed)
    n = inputs_all.shape[0]

    seconds, train_loss, train_accuracy = [], [], []
    for _ in range(epochs):
        _synchronize(torch, device)
        started = time.perf_counter()
        order = torch.randperm(n, generator=generator, device=device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for start in range(0, n, batch_size):
            batch_idx = order[start:start + batch_size]
            inputs = inputs_all.index_select(0, batch_idx)  # (batch, 784)
            labels = labels_all.index_select(0, batch_idx)
            loss, logits = step_loss(inputs, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                loss_sum += loss.detach() * labels.shape[0]
                correct += (logits.argmax(dim=1) == labels).sum()
        train_loss.append(float(loss_sum) / n)  # the once-per-epoch host reads, as in xpnn
        train_accuracy.append(int(correct) / n)
        _synchronize(torch, device)
        seconds.append(time.perf_counter() - started)
    fit_seconds = time.perf_counter() - fit_started

    model.eval()  # nn.Dropout off
    with torch.no_grad():
        test_inputs = torch.from_numpy(X_test).to(device)
        test_labels = torch.from_numpy(y_test).to(device)
        hits = sum(int((model(test_inputs[start:start + 8192]).argmax(dim=1)
                        == test_labels[start:start + 8192]).sum())
                   for start in range(0, test_inputs.shape[0], 8192))
    return {"epoch_seconds": seconds, "fit_seconds": fit_seconds, "train_loss": train_loss,
            "train_accuracy": train_accuracy, "test_accuracy": hits / test_inputs.shape[0]}


def _synchronize(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- an experiment: xpnn's whole step through torch.compile ---------------------------------


def register_torch_compiled_step() -> None:
    """Give torch tensors, in this process only, a kernel whose ``whole_step`` is
    ``torch.compile`` of what ``xpnn/kernels/jax_step.py`` traces (``mlp.loss_and_grads`` and
    the optimizer's ``apply``): measured against the eager step and not kept in the library
    (bench/README.md). The update's host scalars go in as 0-d float64 tensors: as Python
    floats, every new value (Adam's bias corrections change each step) recompiles."""
    import sys
    import types

    import torch
    from xpnn import kernels, mlp

    class TorchCompiledStep(kernels.ReferenceStep):
        def __init__(self, spec, optimizer, xp):
            super().__init__(spec, optimizer, xp)

            def step(params, slots, inputs, targets, weights, scalars):
                loss, grads, outputs = mlp.loss_and_grads(params, inputs, targets, xp, spec,
                                                          weights)
                params, slots = optimizer.apply(params, grads, slots, xp, scalars)
                return params, slots, loss, outputs

            self.compiled = torch.compile(step, dynamic=False)

        def whole_step(self, params, opt_state, inputs, targets, weights, lr_scale):
            step = opt_state["step"] + 1
            slots = {slot: opt_state[slot] for slot in self.optimizer.state_slots}
            scalars = {key: None if value is None else torch.tensor(value, dtype=torch.float64)
                       for key, value in self.optimizer.scalars(step, lr_scale).items()}
            with torch.no_grad():
                params, slots, loss, outputs = self.compiled(params, slots, inputs, targets,
                                                             weights, scalars)
            return params, {"step": step, **slots}, loss, outputs

    module = types.ModuleType("bench_torch_compiled_step")
    module.build = TorchCompiledStep
    sys.modules[module.__name__] = module
    kernels.KERNELS["torch"] = module.__name__


# -- a hand-written JAX step ----------------------------------------------------------------


def jax_adam_step(lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """(predict, update) of a hand-written JAX MLP in the style of JAX's
    examples/mnist_classifier_fromscratch.py: params a list of (w, b), ``predict``, a
    log-softmax loss, ``grad``, one ``jax.jit``'d ``update``, with Adam written out
    (torch.optim.Adam's formula; optax is not a dependency here) in place of the example's
    plain SGD. ``update(params, (step, m, v), inputs, labels)`` -> (params, (step, m, v),
    loss, correct rows); the step count is an array, so it never recompiles."""
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    def predict(params, inputs):
        activations = inputs
        for w, b in params[:-1]:
            activations = jax.nn.relu(activations @ w + b)
        final_w, final_b = params[-1]
        return activations @ final_w + final_b  # logits

    def loss(params, inputs, labels):
        logits = predict(params, inputs)
        log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
        return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=1)), logits

    @jax.jit
    def update(params, opt_state, inputs, labels):
        (value, logits), grads = jax.value_and_grad(loss, has_aux=True)(params, inputs, labels)
        step, m, v = opt_state
        step = step + 1
        m = jax.tree.map(lambda m, g: beta1 * m + (1 - beta1) * g, m, grads)
        v = jax.tree.map(lambda v, g: beta2 * v + (1 - beta2) * g * g, v, grads)
        c1, c2 = 1 - beta1 ** step, 1 - beta2 ** step  # bias corrections
        params = jax.tree.map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps),
                              params, m, v)
        hits = jnp.sum(jnp.argmax(logits, axis=1) == labels)
        return params, (step, m, v), value, hits

    return predict, update


def train_jax(X, y, X_test, y_test, *, epochs, batch_size, lr, seed):
    """The hand-written jax.jit step (``jax_adam_step``) on xpnn's initial weights: one
    permutation per epoch (NumPy's generator, moved once), one ``jnp.take`` per batch of X and
    of y, loss and correct counts summed on the device, read once per epoch. Returns what
    ``train_xpnn`` returns."""
    import jax
    import jax.numpy as jnp

    initial = xpnn_initial_params(seed, X.shape[1])  # plumbing, not timed
    fit_started = time.perf_counter()  # as train_xpnn's fit: model, optimizer, every epoch
    n_layers = len(initial) // 2
    params = [(jnp.asarray(initial[f"w{layer}"]), jnp.asarray(initial[f"b{layer}"]))
              for layer in range(1, n_layers + 1)]
    zeros = jax.tree.map(jnp.zeros_like, params)
    opt_state = (jnp.zeros((), dtype=jnp.float32), zeros, zeros)
    predict, update = jax_adam_step(lr)
    inputs_all, labels_all = jnp.asarray(X), jnp.asarray(y)
    rng, n = np.random.default_rng(seed), X.shape[0]
    seconds, train_loss, train_accuracy = [], [], []
    for _ in range(epochs):
        started = time.perf_counter()
        order = jnp.asarray(rng.permutation(n))
        loss_sum, correct = jnp.zeros(()), jnp.zeros((), dtype=jnp.int32)
        for start in range(0, n, batch_size):
            batch_idx = order[start:start + batch_size]
            inputs = jnp.take(inputs_all, batch_idx, axis=0)  # (batch, 784)
            labels = jnp.take(labels_all, batch_idx, axis=0)
            params, opt_state, loss, hits = update(params, opt_state, inputs, labels)
            loss_sum, correct = loss_sum + loss * labels.shape[0], correct + hits
        train_loss.append(float(loss_sum) / n)  # the once-per-epoch host reads
        train_accuracy.append(int(correct) / n)
        seconds.append(time.perf_counter() - started)
    fit_seconds = time.perf_counter() - fit_started
    test_labels = jnp.asarray(y_test)
    hits = sum(int(jnp.sum(jnp.argmax(predict(params, jnp.asarray(X_test[start:start + 8192])),
                                      axis=1) == test_labels[start:start + 8192]))
               for start in range(0, X_test.shape[0], 8192))
    return {"epoch_seconds": seconds, "fit_seconds": fit_seconds, "train_loss": train_loss,
            "train_accuracy": train_accuracy, "test_accuracy": hits / X_test.shape[0]}


# -- what a worker reports about itself ------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (getrusage ru_maxrss), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB else


def current_rss_mib() -> float | None:
    """Resident set size now (VmRSS from /proc), in MiB; None where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def thread_pools() -> list[dict]:
    """The BLAS / OpenMP pools loaded in this process (threadpoolctl), short form."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl is not installed"}]
    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer",
            "architecture")
    return [{**{key: pool.get(key) for key in keys if pool.get(key) is not None},
             "library": Path(pool.get("filepath", "")).name} for pool in threadpool_info()]


# -- the machine ----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Date, CPU, cores, Python and library versions (read from metadata, nothing imported)."""
    versions = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "usable_cores": usable,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions}


def load_warning(env: dict) -> str | None:
    """A warning line when other work was running at the start (timings then mislead)."""
    loads = env.get("load_average")
    if not loads or loads[0] < 0.5 * env["usable_cores"]:
        return None
    return (f"WARNING: load average {loads[0]:.2f} on {env['usable_cores']} cores at the start: "
            "other work was running, so these timings are not trustworthy (threaded BLAS "
            "and OpenMP slow down sharply when a core is taken)")


def blas_summary(pools: list[dict]) -> str:
    """One line per pool: 'openblas 0.3.27 (pthreads, 2 threads, libscipy_openblas64_.so)'."""
    parts = []
    for pool in pools:
        if "error" in pool:
            parts.append(pool["error"])
            continue
        detail = ", ".join(str(item) for item in (pool.get("threading_layer"),
                                                  f"{pool.get('num_threads')} threads",
                                                  pool.get("architecture") and
                                                  f"{pool['architecture']} kernels",
                                                  pool.get("library")) if item)
        parts.append(f"{pool.get('internal_api')} {pool.get('version') or ''} ({detail})")
    return "; ".join(parts) or "none loaded"


# -- workers in their own processes ----------------------------------------------------------


def thread_env(threads: int | None) -> dict | None:
    """Environment that caps every BLAS / OpenMP pool of a new process at ``threads``."""
    if not threads:
        return None
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return {name: str(threads) for name in names}


# Set on this project's machines for old OpenBLAS builds; they pin a current NumPy's OpenBLAS
# to its Haswell (AVX2) kernels, about 1.6x slower GEMMs on the AVX-512 CPUs here. A user's
# machine has neither, so workers run without them (the BLAS line of each report names the
# kernel actually used); tests and CI keep them.
PINNED_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def worker_environment(env: dict | None = None) -> dict:
    """This process's environment without the pinned-kernel variables, plus ``env``."""
    keep = os.environ.get("XPNN_BENCH_KEEP_BLAS_PIN") == "1"
    base = {k: v for k, v in os.environ.items() if keep or k not in PINNED_BLAS_VARS}
    return {**base, **(env or {})}


def unpin_blas_and_reexec() -> None:
    """Restart this script without the pinned-kernel variables (same argv), once."""
    if os.environ.get("XPNN_BENCH_KEEP_BLAS_PIN") == "1":
        return
    if any(name in os.environ for name in PINNED_BLAS_VARS):
        os.execve(sys.executable, [sys.executable, *sys.argv], worker_environment())


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


# -- results on disk ------------------------------------------------------------------------


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


def write_report(out: Path, name: str, result: dict, report: str) -> None:
    """A script's results: ``out/name.json`` and ``out/name.md``, and the report printed."""
    write_json(out / f"{name}.json", result)
    write_text_atomic(out / f"{name}.md", report)
    print(report)
    print(f"written: {out / (name + '.json')}, {name}.md")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

"""The implementations the benchmarks compare, doing the same work: the data and the
recipes.

Fashion-MNIST scaled to [0, 1] in float32, an MLP 784-256-128-10 with ReLU, Adam,
mini-batches drawn by one shuffled permutation per epoch (one gather per batch), loss and
correct counts summed on the device and read once per epoch: xpnn, plain PyTorch (eager or
compiled), a hand-written JAX step. Heavy libraries (torch, scikit-learn) are imported
inside the functions that need them, so a worker's peak RSS only counts what that
implementation really loads.
"""
from __future__ import annotations

import time

import numpy as np

from host import MIB


HIDDEN = (256, 128)
N_FEATURES = 784
N_CLASSES = 10


def load_fashion_mnist(data: str | None = None, subset: int | None = None, dtype="float32"):
    """(X_train, y_train, X_test, y_test) on the host: pixels / 255 in ``dtype``, int64 labels.

    ``data``: a directory holding the four IDX .gz files; None: xpnn's offline lookup
    (its cache, then /usr/share/datasets). ``subset``: keep the first rows of train only
    (Fashion-MNIST's order is already shuffled); the test split stays whole.
    """
    from xpnn.data.sources import load_source
    from xpnn.data.preprocess import fit_preprocessing

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
    from xpnn.core import mlp
    from xpnn.backend.devices import numpy_backend

    sizes = mlp.layer_sizes(n_features, HIDDEN, n_classes)
    return mlp.init_params(sizes, np.random.default_rng(seed), "float32", numpy_backend())


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


def register_torch_compiled_step() -> None:
    """Give torch tensors, in this process only, a kernel whose ``whole_step`` is
    ``torch.compile`` of what ``xpnn/kernels/jax_step.py`` traces (``mlp.loss_and_grads`` and
    the optimizer's ``update``): measured against the eager step and not kept in the library
    (bench/README.md). The update's host numbers go in as 0-d float64 tensors: as Python
    floats, every new value (Adam's step size changes each step) recompiles."""
    import sys
    import types

    import torch
    from xpnn import kernels
    from xpnn.core import mlp

    class TorchCompiledStep(kernels.ReferenceStep):
        def __init__(self, spec, optimizer, xp):
            super().__init__(spec, optimizer, xp)

            def step(params, slots, inputs, targets, weights, numbers):
                loss, grads, outputs = mlp.loss_and_grads(params, inputs, targets, xp, spec,
                                                          weights)
                params, state = optimizer.update(params, grads, {"step": 0, **slots}, xp,
                                                 numbers=numbers)
                return params, {slot: state[slot] for slot in slots}, loss, outputs

            self.compiled = torch.compile(step, dynamic=False)

        def whole_step(self, params, opt_state, inputs, targets, weights, rate_factor):
            step = opt_state["step"] + 1
            slots = {slot: opt_state[slot] for slot in self.optimizer.state_slots}
            numbers = tuple(torch.tensor(value, dtype=torch.float64)
                            for value in self.optimizer.step_numbers(step, rate_factor))
            with torch.no_grad():
                params, slots, loss, outputs = self.compiled(params, slots, inputs, targets,
                                                             weights, numbers)
            return params, {"step": step, **slots}, loss, outputs

    module = types.ModuleType("bench_torch_compiled_step")
    module.build = TorchCompiledStep
    sys.modules[module.__name__] = module
    kernels.KERNELS["torch"] = module.__name__


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

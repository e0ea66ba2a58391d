"""The training loop: epochs of minibatches, metrics, early stopping, divergence guard.

All arrays live on one backend. The host draws one permutation per epoch (moved to the
device once); batches are gathered on the device with ``xp.take``; loss and correct
counts accumulate on the device and are read once per epoch (or every ``check_every``
steps). When a read finds a non-finite loss or weights, the loop rolls back to the last
checked state and replays step by step to name the exact step and layer.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import mlp, ops
from .backend import Backend, as_host_array, copy_array, device_of, read_scalars
from .errors import DivergenceError
from .optim import lr_scale, state_arrays, state_from_arrays


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int | None = 128  # None or 0: the full training set every step
    early_stopping: bool = False
    patience: int = 5
    check_every: int = 0  # steps between divergence checks; 0: once per epoch
    lr_schedule: str = "constant"  # or "cosine" over all epochs' steps
    eval_batch_size: int = 8192


@dataclass
class TrainState:
    """Everything that changes while training; enough to resume exactly."""

    params: dict
    opt_state: dict
    epoch: int = 0  # completed epochs
    history: list = field(default_factory=list)
    best_epoch: int | None = None
    best_params: dict | None = None  # copies kept for early stopping's restore
    stopped_early: bool = False


@dataclass(frozen=True)
class DeviceSplit:
    """Features (n, d) in the training dtype and integer labels (n,), on one device."""

    X: object
    y: object

    def __len__(self):
        return self.X.shape[0]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``state`` is rolled back to the last completed epoch."""

    def __init__(self, state):
        super().__init__("training interrupted")
        self.state = state


def _copy_state(params, opt_state, backend: Backend) -> tuple[dict, dict]:
    """Fresh device copies of parameters and optimizer state (updates work in place)."""
    params = {name: copy_array(value, backend) for name, value in params.items()}
    opt_arrays = {key: copy_array(value, backend) for key, value in state_arrays(opt_state).items()}
    return params, state_from_arrays(opt_state["step"], opt_arrays)


def _all_finite(arrays, xp):
    """One device-side flag: every element of every array is finite."""
    flags = [xp.all(xp.isfinite(value)) for value in arrays]
    return xp.all(xp.stack(flags))


def batch_slices(n: int, batch_size: int | None):
    """(start, stop) of each batch over n rows; one batch of all rows when batch_size is 0."""
    if n == 0:
        return []
    size = n if not batch_size else min(int(batch_size), n)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def train(state: TrainState, optimizer, data: DeviceSplit, config: TrainConfig,
          rng: np.random.Generator, backend: Backend, val: DeviceSplit | None = None,
          on_epoch=None, on_step=None) -> TrainState:
    """Train ``state`` in place for the remaining epochs of ``config``; returns it.

    ``on_epoch(record)`` is called after each epoch with its history row; ``on_step(i)``
    after each step (host-side counter only, no device sync).
    """
    with backend.activate(), backend.quiet_float_errors():
        return _train(state, optimizer, data, config, rng, backend, val, on_epoch, on_step)


def _train(state: TrainState, optimizer, data: DeviceSplit, config: TrainConfig,
           rng: np.random.Generator, backend: Backend, val: DeviceSplit | None = None,
           on_epoch=None, on_step=None) -> TrainState:
    slices = batch_slices(len(data), config.batch_size)
    monitor = "val_loss" if val is not None else "loss"
    best_value = min((row[monitor] for row in state.history if row[monitor] is not None),
                     default=math.inf)
    waited = state.epoch - state.best_epoch if state.best_epoch else 0
    state.stopped_early = False

    while state.epoch < config.epochs:
        epoch = state.epoch + 1
        started = time.perf_counter()
        rng_state = rng.bit_generator.state
        epoch_start = _copy_state(state.params, state.opt_state, backend)
        try:
            record = _run_epoch(state, epoch, epoch_start, optimizer, data, slices, config, rng,
                                backend, val, on_step)
            record["seconds"] = time.perf_counter() - started
            state.history.append(record)
            state.epoch = epoch
        except KeyboardInterrupt:
            if state.epoch < epoch:  # mid-epoch: back to the last completed epoch
                del state.history[state.epoch:]
                state.params, state.opt_state = epoch_start
                rng.bit_generator.state = rng_state
            raise TrainingInterrupted(state) from None

        if record[monitor] < best_value:
            best_value, waited, state.best_epoch = record[monitor], 0, epoch
            if config.early_stopping:
                state.best_params = {k: copy_array(v, backend) for k, v in state.params.items()}
        else:
            waited += 1
        state.stopped_early = config.early_stopping and waited >= config.patience
        try:
            if on_epoch is not None:
                on_epoch(record)
        except KeyboardInterrupt:
            raise TrainingInterrupted(state) from None
        if state.stopped_early:
            break

    if state.stopped_early and state.best_params is not None:
        # a copy: later (resumed) updates work in place and must not touch the best weights;
        # the optimizer state stays that of the last epoch, as in Keras' restore_best_weights
        state.params = {k: copy_array(v, backend) for k, v in state.best_params.items()}
    return state


def _batch(data: DeviceSplit, order, start, stop, xp):
    """Rows start:stop of this epoch's order, gathered on the device (or all rows)."""
    if order is None:
        return data.X, data.y
    batch_idx = order[start:stop]
    return xp.take(data.X, batch_idx, axis=0), xp.take(data.y, batch_idx, axis=0)


class _NonFinite(Exception):
    """Raised by the replay's checks: (layer, what) of the first non-finite value."""


def _train_step(params, opt_state, optimizer, inputs, labels, xp, scale, check=None):
    """Forward, loss, backward, update: (params, opt_state, loss, logits).

    ``check(stage, arrays)`` (the divergence replay's) runs after each stage.
    """
    logits, activations = mlp.forward(params, inputs, xp)
    if check:
        check("outputs", activations[1:] + [logits])
    loss, grad_logits = ops.cross_entropy_with_grad(logits, labels, xp)
    if check:
        check("loss", [loss])
    grads = mlp.backward(params, activations, grad_logits, xp)
    if check:
        check("gradient", [grads[name] for name in sorted(grads, key=_layer_then_kind)])
    params, opt_state = optimizer.update(params, grads, opt_state, xp, scale)
    if check:
        check("update", [params[name] for name in sorted(params, key=_layer_then_kind)])
    return params, opt_state, loss, logits


def _layer_then_kind(name):
    return int(name[1:]), name[0]  # w1, b1, w2, b2, ...


def _run_epoch(state, epoch, epoch_start, optimizer, data, slices, config, rng, backend, val,
               on_step):
    """One pass over the data; returns the epoch's history row (without its seconds)."""
    xp = backend.xp
    n = len(data)
    checkpoint = epoch_start, 0  # last state known finite, and its step
    order = None if len(slices) == 1 else backend.asarray(rng.permutation(n))
    loss_sum = xp.zeros((), dtype=data.X.dtype, device=backend.device)
    correct = xp.zeros((), dtype=data.y.dtype, device=backend.device)
    total_steps = config.epochs * len(slices)
    for step, (start, stop) in enumerate(slices, start=1):
        inputs, labels = _batch(data, order, start, stop, xp)
        scale = lr_scale(config.lr_schedule, state.opt_state["step"], total_steps)
        state.params, state.opt_state, loss, logits = _train_step(
            state.params, state.opt_state, optimizer, inputs, labels, xp, scale)
        loss_sum += loss * float(stop - start)
        correct += ops.correct_count(logits, labels, xp)
        if on_step is not None:
            on_step(step)
        if config.check_every and step % config.check_every == 0 and step < len(slices):
            if not _finite_so_far(loss_sum, state.params, xp):
                _locate_divergence(state, checkpoint, optimizer, data, order, slices, epoch,
                                   backend, config)
            checkpoint = _copy_state(state.params, state.opt_state, backend), step
    # one host read for the whole epoch: finite flag, loss and correct sums, validation sums
    sums = [_finite_flag(loss_sum, state.params, xp), loss_sum, correct]
    if val is not None:
        sums += evaluate_sums(state.params, val, xp, config.eval_batch_size)
    finite, loss_total, correct_total, *val_sums = read_scalars(sums, xp)
    if not finite:
        _locate_divergence(state, checkpoint, optimizer, data, order, slices, epoch, backend,
                           config)
    record = {"epoch": epoch, "loss": loss_total / n, "accuracy": correct_total / n,
              "val_loss": None, "val_accuracy": None}
    if val is not None:
        record["val_loss"], record["val_accuracy"] = (val_sums[0] / len(val),
                                                      val_sums[1] / len(val))
    return record


def optimizer_lr(optimizer) -> float:
    return float(getattr(optimizer, "lr", float("nan")))


def _finite_flag(loss_sum, params, xp):
    """A device-side flag: the accumulated loss and every parameter are finite."""
    return xp.logical_and(xp.all(xp.isfinite(loss_sum)), _all_finite(params.values(), xp))


def _finite_so_far(loss_sum, params, xp) -> bool:
    """One host read: the accumulated loss and every parameter are finite."""
    return bool(as_host_array(_finite_flag(loss_sum, params, xp)))


def _locate_divergence(state, checkpoint, optimizer, data, order, slices, epoch, backend, config):
    """Roll back to the last checked state, replay with a check after every stage, raise.

    Leaves ``state`` holding the weights of the last step that was entirely finite.
    """
    xp = backend.xp
    lr = optimizer_lr(optimizer)
    (params, opt_state), first_step = _copy_state(*checkpoint[0], backend), checkpoint[1]
    n_layers = mlp.n_layers(params)

    def check(stage, arrays):
        for index, array in enumerate(arrays):
            if _host_finite(array, xp):
                continue
            if stage == "outputs":
                raise _NonFinite(index + 1, f"the outputs of layer {index + 1} (w{index + 1}) "
                                            f"are not finite")
            if stage == "loss":
                raise _NonFinite(n_layers, f"the loss on the output layer's logits (layer "
                                           f"{n_layers}) is not finite")
            layer = index // 2 + 1
            if stage == "gradient":
                raise _NonFinite(layer, f"the gradient of layer {layer} (w{layer}) is not finite")
            raise _NonFinite(layer, f"the update made layer {layer}'s weights (w{layer}) not "
                                    f"finite")

    total_steps = config.epochs * len(slices)
    for step, (start, stop) in enumerate(slices[first_step:], start=first_step + 1):
        inputs, labels = _batch(data, order, start, stop, xp)
        kept = _copy_state(params, opt_state, backend)
        scale = lr_scale(config.lr_schedule, opt_state["step"], total_steps)
        try:
            params, opt_state, _, _ = _train_step(params, opt_state, optimizer, inputs, labels,
                                                  xp, scale, check)
        except _NonFinite as problem:
            state.params, state.opt_state = kept
            layer, what = problem.args
            raise DivergenceError(
                f"training diverged at epoch {epoch}, step {step} of {len(slices)}: {what}. "
                f"The weights of the last finite step were kept. Try a lower learning rate "
                f"(now {lr:g}, e.g. --lr {lr / 10:g}) and check the input scaling (features "
                f"should be about 0..1 or standardized).",
                epoch=epoch, step=step, layer=layer) from None
    # the replay stayed finite (non-deterministic device sums): report the epoch
    state.params, state.opt_state = checkpoint[0]
    raise DivergenceError(
        f"training diverged in epoch {epoch} (after step {first_step}); the replay could not "
        f"pin the step. The weights from before it were kept. Try a lower learning rate "
        f"(now {lr:g}) and check the input scaling.",
        epoch=epoch, step=None, layer=None)


def _host_finite(array, xp) -> bool:
    return bool(as_host_array(xp.all(xp.isfinite(array))))


def evaluate_sums(params, split: DeviceSplit, xp, batch_size: int = 8192):
    """(summed cross-entropy, correct count) over ``split``, as 0-d device arrays."""
    loss_sum = xp.zeros((), dtype=split.X.dtype, device=device_of(split.X))
    correct = xp.zeros((), dtype=split.y.dtype, device=device_of(split.X))
    for start, stop in batch_slices(len(split), batch_size):
        logits = mlp.predict_logits(params, split.X[start:stop, ...], xp)
        labels = split.y[start:stop]
        loss_sum += ops.cross_entropy(logits, labels, xp) * float(stop - start)
        correct += ops.correct_count(logits, labels, xp)
    return [loss_sum, correct]


def evaluate(params, split: DeviceSplit, xp, batch_size: int = 8192):
    """(mean cross-entropy, accuracy) over ``split``, as host floats (one read at the end)."""
    loss_sum, correct = read_scalars(evaluate_sums(params, split, xp, batch_size), xp)
    return loss_sum / len(split), correct / len(split)


def predict_logits(params, X, xp, batch_size: int = 8192):
    """Logits (n, k) for all rows, computed in batches, concatenated on the device."""
    parts = [mlp.predict_logits(params, X[start:stop, ...], xp)
             for start, stop in batch_slices(X.shape[0], batch_size)]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


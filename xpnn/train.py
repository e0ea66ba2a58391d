"""The training loop: epochs of minibatches, metrics, stopping rules, divergence guard.

All arrays live on one backend. The host draws one permutation per epoch (moved to the
device once); batches are gathered on the device with ``xp.take`` (sparse host matrices:
gathered and densified one batch at a time); loss and metric sums accumulate on the
device and are read once per epoch (or every ``check_every`` steps). When a read finds a
non-finite loss or weights, the loop rolls back to the last checked state and replays
step by step to name the exact step and layer.

Stopping follows scikit-learn's MLP: after each epoch, the training loss (or, with early
stopping, the validation score) must improve by ``tol`` at least once every
``n_iter_no_change`` epochs; otherwise training stops, or with ``learning_rate="adaptive"``
the rate is divided by 5 until it falls below 1e-6.

``FitRun`` holds what stays fixed for one call to fit (optimizer, data, configuration,
backend, callbacks); its ``step`` is the one place every training step goes through.

Data parallel (``reducer``, see ``distributed.py``): every rank holds all the data and the
same model, draws the same permutation, and takes its contiguous share of each global
batch; ``step`` sums the gradients over the ranks (one Allreduce) and the epoch's one host
read is followed by one small host Allreduce of the finite flag, loss, metric and
validation sums (each rank evaluates its share of the validation rows), so every rank
takes the same decisions and stops together.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import mlp
from .backend import Backend, as_host_array, copy_array, device_of, read_scalars
from .distributed import shard_bounds
from .errors import DivergenceError
from .heads import HEADS
from .kernels import ReferenceStep
from .optim import lr_scale, state_arrays, state_from_arrays

MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's: "adaptive" stops once the rate is this small


@dataclass(frozen=True)
class TrainConfig:
    max_iter: int = 200  # epochs in all
    batch_size: int | None = 200  # None or 0: the full training set every step
    shuffle: bool = True
    tol: float = 1e-4
    n_iter_no_change: float = 10  # int, or math.inf to never stop early
    early_stopping: bool = False  # monitor the validation score and keep the best weights
    learning_rate: str = "constant"  # a key of optim.SCHEDULES
    learning_rate_init: float = 1e-3
    power_t: float = 0.5
    check_every: int = 0  # steps between divergence checks; 0: once per epoch
    eval_batch_size: int = 8192
    spec: mlp.MLPSpec = mlp.MLPSpec()
    fast_paths: bool = True  # the backend's step kernel where it has one (xpnn/kernels/)


@dataclass
class TrainState:
    """Everything that changes while training; enough to resume exactly."""

    params: dict
    opt_state: dict
    epoch: int = 0  # completed epochs (scikit-learn's n_iter_)
    history: list = field(default_factory=list)
    samples_seen: int = 0  # scikit-learn's t_
    best_loss: float = math.inf
    best_score: float = -math.inf
    no_improvement: int = 0  # epochs in a row without an improvement of tol
    lr_factor: float = 1.0  # "adaptive" divides it by 5 on each plateau
    best_epoch: int | None = None
    best_params: dict | None = None  # copies kept for early stopping's restore
    converged: bool = False  # the last run stopped on its plateau rule, not at max_iter

    # the scalar fields, for checkpoints
    SCALARS = ("epoch", "samples_seen", "best_loss", "best_score", "no_improvement",
               "lr_factor", "best_epoch", "converged")


@dataclass(frozen=True)
class DeviceSplit:
    """Features (n, d) in the training dtype, targets (class indices (n,) or values (n, k)),
    optional row weights (n,), on one device. ``X`` may instead be a host scipy.sparse CSR
    matrix: its batches are densified one at a time and moved to the device."""

    X: object
    y: object
    w: object = None

    def __len__(self):
        return self.X.shape[0]

    @property
    def sparse(self) -> bool:
        return hasattr(self.X, "tocsr")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``state`` is rolled back to the last completed epoch.
    ``agreed``: every rank of a data-parallel run stopped at the same epoch."""

    def __init__(self, state, agreed=False):
        super().__init__("training interrupted")
        self.state, self.agreed = state, agreed


def batch_slices(n: int, batch_size: int | None):
    """(start, stop) of each batch over n rows; one batch of all rows when batch_size is 0."""
    if n == 0:
        return []
    size = n if not batch_size else min(int(batch_size), n)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def rows_as_device_array(X, start, stop, backend: Backend, dtype, host_rows=None):
    """Rows of X on the device: a slice (or, for sparse host X, the gathered ``host_rows``)
    densified on the host one batch at a time and moved."""
    if hasattr(X, "tocsr"):
        block = X[host_rows] if host_rows is not None else X[start:stop]
        return backend.asarray(block.toarray(), dtype=dtype)
    return X[start:stop, ...]


def train(state: TrainState, optimizer, data: DeviceSplit, config: TrainConfig,
          rng: np.random.Generator, backend: Backend, val: DeviceSplit | None = None,
          on_epoch=None, on_step=None, reducer=None) -> TrainState:
    """Train ``state`` in place up to ``config.max_iter`` epochs in all; returns it.

    ``on_epoch(record)`` is called after each epoch with its history row;
    ``on_step(step, steps_in_epoch)`` after each step (host-side counters, no device sync).
    ``reducer`` (``distributed.Reducer``): train data-parallel with the other ranks.
    """
    run = FitRun(state, optimizer, data, config, rng, backend, val, on_epoch, on_step, reducer)
    interrupt = (reducer.deferred_interrupt() if reducer is not None
                 else contextlib.nullcontext())
    with backend.activate(), backend.quiet_float_errors(), interrupt:
        try:
            return run.run()
        except DivergenceError as exc:
            exc.agreed = reducer is not None  # every rank found it at the same read
            raise


class _NonFinite(Exception):
    """Raised by the replay's checks: (layer, what) of the first non-finite value."""


class FitRun:
    """One call to fit: what stays fixed while it runs, and its run / epoch / step."""

    def __init__(self, state, optimizer, data, config, rng, backend, val=None, on_epoch=None,
                 on_step=None, reducer=None):
        self.state, self.optimizer, self.data, self.config = state, optimizer, data, config
        self.rng, self.backend, self.val = rng, backend, val
        self.on_epoch, self.on_step = on_epoch, on_step
        self.reducer = reducer  # None: one process
        self.stop_agreed = False  # the ranks agreed on a Ctrl-C at the last epoch's end
        self.xp = backend.xp
        self.head = HEADS[config.spec.head]
        # the stages of a step: the backend's kernel where it has one, else the reference
        # (which the divergence replay always runs)
        self.reference = ReferenceStep(config.spec, optimizer, backend.xp)
        kernel = backend.step_kernel(config.spec, optimizer) if config.fast_paths else None
        self.stages = kernel or self.reference
        self.slices = batch_slices(len(data), config.batch_size)
        self.dtype = backend.dtype("float64" if _is_float64(data, backend) else "float32")
        self.train_weight = self._weight_total(data)  # host floats, read once per fit
        self.val_weight = None if val is None else self._weight_total(val)
        self.finish_score = None
        if val is not None:  # host constants of the validation score, read once per fit
            self.finish_score = self.head.score_context(
                as_host_array(val.y), None if val.w is None else as_host_array(val.w))
        # zero-weight batches are skipped (their weighted mean is 0/0): found on the host;
        # data parallel, the same host weights give each batch's global and local sums
        self.host_weights = None if data.w is None else as_host_array(data.w)
        # the validation rows this process evaluates: all, or this rank's share
        self.val_rows = val
        if val is not None and reducer is not None:
            lo, hi = shard_bounds(0, len(val), reducer.rank, reducer.size)
            self.val_rows = DeviceSplit(val.X[lo:hi], val.y[lo:hi, ...],
                                        None if val.w is None else val.w[lo:hi])

    def _weight_total(self, split) -> float:
        if split.w is None:
            return float(len(split))
        return float(as_host_array(self.xp.sum(split.w)))

    # -- the whole run ---------------------------------------------------------------

    def run(self) -> TrainState:
        state, config = self.state, self.config
        state.converged = False
        while state.epoch < config.max_iter:
            epoch = state.epoch + 1
            started = time.perf_counter()
            rng_state = self.rng.bit_generator.state
            epoch_start = self.copy(state.params, state.opt_state)
            try:
                record = self.epoch(epoch, epoch_start)
                record["seconds"] = time.perf_counter() - started
                state.history.append(record)
                state.epoch = epoch
                state.samples_seen += len(self.data)
            except KeyboardInterrupt:
                if state.epoch < epoch:  # mid-epoch: back to the last completed epoch
                    del state.history[state.epoch:]
                    state.params, state.opt_state = epoch_start
                    self.rng.bit_generator.state = rng_state
                raise TrainingInterrupted(state) from None
            stop = self.after_epoch(record)
            try:
                if self.on_epoch is not None:
                    self.on_epoch(record)
            except KeyboardInterrupt:
                raise TrainingInterrupted(state) from None
            if stop:
                state.converged = True
                break
            if self.stop_agreed:
                raise TrainingInterrupted(state, agreed=True)
        # with early stopping, state.best_params are the weights to predict with (the
        # estimator publishes them); state.params stay the last epoch's, so that a resumed
        # run continues exactly where this one stopped
        return state

    def after_epoch(self, record) -> bool:
        """scikit-learn's plateau rule; True when training should stop."""
        state, config = self.state, self.config
        if config.early_stopping:
            score = record[f"val_{self.head.score_name}"]
            state.no_improvement = (state.no_improvement + 1
                                    if score < state.best_score + config.tol else 0)
            if score > state.best_score:
                state.best_score, state.best_epoch = score, record["epoch"]
                state.best_params = {k: copy_array(v, self.backend)
                                     for k, v in state.params.items()}
        else:
            loss = record["loss"]
            state.no_improvement = (state.no_improvement + 1
                                    if loss > state.best_loss - config.tol else 0)
            if loss < state.best_loss:
                state.best_loss, state.best_epoch = loss, record["epoch"]
        if state.no_improvement <= config.n_iter_no_change:
            return False
        if (config.learning_rate == "adaptive"
                and config.learning_rate_init * state.lr_factor > MIN_ADAPTIVE_LR):
            state.lr_factor /= 5.0
            state.no_improvement = 0
            return False
        return True

    # -- one epoch -------------------------------------------------------------------

    def epoch(self, epoch, epoch_start):
        """One pass over the data; returns the epoch's history row (without its seconds)."""
        xp, state, config, data = self.xp, self.state, self.config, self.data
        n = len(data)
        checkpoint = epoch_start, 0  # last state known finite, and its step
        host_order = self.rng.permutation(n) if config.shuffle and len(self.slices) > 1 else None
        order = None
        if host_order is not None and not data.sparse:
            order = self.backend.asarray(host_order)
        loss_sum = xp.zeros((), dtype=self.dtype, device=self.backend.device)
        metric_sum = None
        empty = self.zero_weight_batches(host_order)
        for step, (start, stop) in enumerate(self.slices, start=1):
            if step in empty:  # nothing to learn from, and a 0/0 mean: skipped
                continue
            inputs, targets, weights, portion = self.local_batch(order, host_order, start, stop)
            state.params, state.opt_state, loss, outputs = self.step(
                state.params, state.opt_state, inputs, targets, weights, self.lr_scale(),
                portion=portion)
            loss_sum += loss * float(stop - start)
            if self.head.metric is not None:
                hits = self.head.metric_sum(outputs, targets, xp, weights)
                metric_sum = hits if metric_sum is None else metric_sum + hits
            if self.on_step is not None:
                self.on_step(step, len(self.slices))
            if config.check_every and step % config.check_every == 0 and step < len(self.slices):
                if not self.agreed(bool(as_host_array(self.finite_flag(loss_sum)))):
                    self.locate_divergence(checkpoint, order, host_order, epoch)
                checkpoint = self.copy(state.params, state.opt_state), step
        # one host read for the whole epoch: finite flag, loss and metric sums, validation
        sums = [self.finite_flag(loss_sum), loss_sum]
        if metric_sum is not None:
            sums.append(metric_sum)
        if self.val is not None:
            sums += self.validation_sums()
        finite, loss_total, *rest = read_scalars(sums, xp)
        if self.reducer is not None:  # the ranks' sums, so every rank decides alike
            not_finite, loss_total, *rest, stops = self.reducer.host_sum(
                [0.0 if finite else 1.0, loss_total, *rest, float(self.reducer.stop_requested)])
            finite, self.stop_agreed = not_finite == 0, stops > 0
        if not finite:
            self.locate_divergence(checkpoint, order, host_order, epoch)
        record = {"epoch": epoch, "loss": loss_total / n}
        if metric_sum is not None:
            record[self.head.metric] = rest.pop(0) / self.train_weight
        val_score_key = f"val_{self.head.score_name}"
        record["val_loss"] = record[val_score_key] = None
        if self.val is not None:
            val_loss_sum, val_score_sum = rest
            record["val_loss"] = val_loss_sum / self.val_weight
            record[val_score_key] = self.finish_score(val_score_sum)
        return record

    def zero_weight_batches(self, host_order) -> set:
        """1-based steps whose rows all have weight 0 this epoch (host arithmetic only)."""
        if self.host_weights is None:
            return set()
        weights = self.host_weights if host_order is None else self.host_weights[host_order]
        starts = [start for start, _ in self.slices]
        sums = np.add.reduceat(weights, starts) if starts else []
        return {step for step, total in enumerate(sums, start=1) if not total > 0}

    def lr_scale(self, opt_state=None) -> float:
        """The schedule's factor for the next step of ``opt_state`` (default: the run's)."""
        state, config = self.state, self.config
        opt_state = state.opt_state if opt_state is None else opt_state
        return state.lr_factor * lr_scale(config.learning_rate, opt_state["step"],
                                          config.max_iter * len(self.slices),
                                          state.samples_seen, config.power_t)

    def local_batch(self, order, host_order, start, stop):
        """(inputs, targets, weights, portion) of this process's rows of the global batch
        start:stop. One process: all of them, portion None. Data parallel: this rank's
        contiguous share, and portion = (share, denominator): the share W_r / W of the
        global batch's rows (or summed weights) and the global denominator W of its mean."""
        if self.reducer is None:
            return (*self.batch(order, host_order, start, stop), None)
        lo, hi = shard_bounds(start, stop, self.reducer.rank, self.reducer.size)
        if self.host_weights is None:
            share, denominator = (hi - lo) / (stop - start), float(stop - start)
        else:
            rows = host_order[start:stop] if host_order is not None else slice(start, stop)
            batch_w = np.asarray(self.host_weights[rows], dtype=np.float64)
            denominator = float(np.sum(batch_w))
            local = float(np.sum(batch_w[lo - start:hi - start]))
            share = local / denominator if local else 0.0
        return (*self.batch(order, host_order, lo, hi), (share, denominator))

    def batch(self, order, host_order, start, stop):
        """(inputs, targets, weights) of rows start:stop of this epoch's order."""
        data, xp = self.data, self.xp
        if host_order is None:  # no shuffling (or one batch): contiguous rows
            inputs = rows_as_device_array(data.X, start, stop, self.backend, self.dtype)
            targets = data.y[start:stop, ...]
            weights = None if data.w is None else data.w[start:stop]
            return inputs, targets, weights
        take = self.stages.take
        if data.sparse:
            inputs = rows_as_device_array(data.X, start, stop, self.backend, self.dtype,
                                          host_order[start:stop])
            batch_idx = self.backend.asarray(host_order[start:stop])
        else:
            batch_idx = order[start:stop]
            inputs = take(data.X, batch_idx, "X")
        targets = take(data.y, batch_idx, "y")
        weights = None if data.w is None else take(data.w, batch_idx, "w")
        return inputs, targets, weights

    # -- one step --------------------------------------------------------------------

    def step(self, params, opt_state, inputs, targets, weights, scale, check=None,
             portion=None):
        """Forward, loss, backward, update: (params, opt_state, loss, outputs).

        ``check(stage, arrays)`` (the divergence replay's) runs after each stage; the replay
        always runs the reference stages, the training steps the backend's kernel (if any).
        ``portion`` (data parallel, see ``local_batch``): (share, denominator) of this
        rank's rows; the returned loss is then this rank's part of the global batch's loss.
        """
        xp, spec = self.xp, self.config.spec
        stages = self.reference if check else self.stages
        outputs, activations = stages.forward(params, inputs)
        if check:
            check("outputs", activations[1:] + [outputs])
        if portion is None:
            loss, grad_outputs = stages.loss_with_grad(outputs, targets, weights)
            denominator = mlp.loss_denominator(inputs, weights, xp)
        else:
            share, denominator = portion
            if share:  # the global mean is sum_r share_r * (rank r's mean); backward is linear
                loss, grad_outputs = stages.loss_with_grad(outputs, targets, weights)
                loss, grad_outputs = loss * share, grad_outputs * share
            else:  # no rows (or no weight) here in this batch: nothing to add
                loss = xp.zeros((), dtype=outputs.dtype, device=self.backend.device)
                grad_outputs = xp.zeros_like(outputs)
        if check:
            check("loss", [loss])
        grads = stages.backward(params, activations, grad_outputs)
        if portion is not None:  # ONE Allreduce of every layer's gradient, packed flat
            grads = self.reducer.sum_grads(grads, xp)
        penalized = mlp.add_l2(loss, grads, params, spec.alpha, denominator, xp)
        # the L2 gradient is added on every rank after the sum (the parameters are the
        # same everywhere); its loss counts once, on rank 0
        loss = penalized if portion is None or self.reducer.rank == 0 else loss
        if check:
            check("gradient", [grads[name] for name in sorted(grads, key=_layer_then_kind)])
        params, opt_state = stages.update(params, grads, opt_state, scale)
        if check:
            check("update", [params[name] for name in sorted(params, key=_layer_then_kind)])
        return params, opt_state, loss, outputs

    # -- validation ------------------------------------------------------------------

    def validation_sums(self):
        """[weighted loss sum, score numerator] over the validation split, on the device."""
        # data parallel: this rank's share of the rows (the sums are reduced per epoch)
        return evaluate_sums(self.state.params, self.val_rows, self.xp, self.config.spec,
                             batch_size=self.config.eval_batch_size, backend=self.backend,
                             dtype=self.dtype, score=True)

    # -- divergence ------------------------------------------------------------------

    def finite_flag(self, loss_sum):
        """A device-side flag: the accumulated loss and every parameter are finite."""
        xp = self.xp
        flags = [xp.all(xp.isfinite(value)) for value in self.state.params.values()]
        return xp.logical_and(xp.all(xp.isfinite(loss_sum)), xp.all(xp.stack(flags)))

    def agreed(self, flag: bool) -> bool:
        """A host flag, true only when it is true on every rank (one small message)."""
        if self.reducer is None:
            return flag
        return self.reducer.host_sum([0.0 if flag else 1.0])[0] == 0

    def copy(self, params, opt_state) -> tuple[dict, dict]:
        """Fresh device copies of parameters and optimizer state (updates work in place)."""
        backend = self.backend
        params = {name: copy_array(value, backend) for name, value in params.items()}
        opt_arrays = {key: copy_array(value, backend)
                      for key, value in state_arrays(opt_state).items()}
        return params, state_from_arrays(opt_state["step"], opt_arrays)

    def locate_divergence(self, checkpoint, order, host_order, epoch):
        """Roll back to the last checked state, replay with a check after every stage, raise.

        Leaves the state holding the weights of the last step that was entirely finite.
        """
        xp, state = self.xp, self.state
        lr = float(getattr(self.optimizer, "lr", float("nan")))
        (params, opt_state), first_step = self.copy(*checkpoint[0]), checkpoint[1]
        n_layers = mlp.n_layers(params)

        def check(stage, arrays):
            bad = [index for index, array in enumerate(arrays)
                   if not bool(as_host_array(xp.all(xp.isfinite(array))))]
            if self.reducer is not None:  # the first bad one on any rank, agreed by all
                first_bad = self.reducer.host_min(bad[0] if bad else len(arrays))
                bad = [first_bad] if first_bad < len(arrays) else []
            for index in bad[:1]:
                if stage == "outputs":
                    raise _NonFinite(index + 1, f"the outputs of layer {index + 1} "
                                                f"(w{index + 1}) are not finite")
                if stage == "loss":
                    raise _NonFinite(n_layers, f"the loss on the output layer's outputs "
                                               f"(layer {n_layers}) is not finite")
                layer = index // 2 + 1
                if stage == "gradient":
                    raise _NonFinite(layer, f"the gradient of layer {layer} (w{layer}) is "
                                            f"not finite")
                raise _NonFinite(layer, f"the update made layer {layer}'s weights (w{layer}) "
                                        f"not finite")

        steps = len(self.slices)
        empty = self.zero_weight_batches(host_order)
        for step, (start, stop) in enumerate(self.slices[first_step:], start=first_step + 1):
            if step in empty:
                continue
            inputs, targets, weights, portion = self.local_batch(order, host_order, start, stop)
            kept = self.copy(params, opt_state)
            scale = self.lr_scale(opt_state)
            try:
                params, opt_state, _, _ = self.step(params, opt_state, inputs, targets,
                                                    weights, scale, check, portion)
            except _NonFinite as problem:
                state.params, state.opt_state = kept
                layer, what = problem.args
                raise DivergenceError(
                    f"training diverged at epoch {epoch}, step {step} of {steps}: {what}. "
                    f"The weights of the last finite step were kept. Try a lower learning "
                    f"rate (now {lr:g}, e.g. --lr {lr / 10:g}) and check the input scaling "
                    f"(features should be about 0..1 or standardized).",
                    epoch=epoch, step=step, layer=layer) from None
        # the replay stayed finite (non-deterministic device sums): report the epoch
        state.params, state.opt_state = checkpoint[0]
        raise DivergenceError(
            f"training diverged in epoch {epoch} (after step {first_step}); the replay could "
            f"not pin the step. The weights from before it were kept. Try a lower learning "
            f"rate (now {lr:g}) and check the input scaling.",
            epoch=epoch, step=None, layer=None)


def _layer_then_kind(name):
    return int(name[1:]), name[0]  # w1, b1, w2, b2, ...


def _is_float64(data: DeviceSplit, backend: Backend) -> bool:
    """The training dtype: that of the (dense) features, or of the parameters for sparse."""
    if data.sparse:
        return data.X.dtype == np.float64
    return data.X.dtype == backend.xp.float64


def evaluate_sums(params, split: DeviceSplit, xp, spec: mlp.MLPSpec = mlp.MLPSpec(), *,
                  batch_size: int = 8192, backend: Backend | None = None, dtype=None,
                  score: bool = False):
    """[summed (weighted) head loss, summed statistic] over ``split`` on the device, in
    batches; the statistic is the validation score's numerator (``score``), else the
    training metric (correct count for a classifier; 0 when the head has none)."""
    head = HEADS[spec.head]
    dtype = dtype if dtype is not None else split.X.dtype
    device = backend.device if backend is not None else device_of(split.X)
    statistic = head.score_sum if score else head.metric_sum
    loss_sum = xp.zeros((), dtype=dtype, device=device)
    total = xp.zeros((), dtype=dtype, device=device)
    for start, stop in batch_slices(len(split), batch_size):
        inputs = rows_as_device_array(split.X, start, stop, backend, dtype)
        outputs = mlp.predict_outputs(params, inputs, xp, spec)
        targets = split.y[start:stop, ...]
        weights = None if split.w is None else split.w[start:stop]
        rows = float(stop - start) if weights is None else xp.sum(weights)
        loss_sum += head.loss(outputs, targets, xp, weights) * rows
        if statistic is not None:
            total = total + xp.astype(statistic(outputs, targets, xp, weights), dtype)
    return [loss_sum, total]


def evaluate(params, split: DeviceSplit, xp, spec: mlp.MLPSpec = mlp.MLPSpec(),
             batch_size: int = 8192, backend: Backend | None = None, dtype=None):
    """(mean head loss, mean metric) over ``split``, as host floats (one read at the end)."""
    loss_sum, metric_sum = read_scalars(
        evaluate_sums(params, split, xp, spec, batch_size=batch_size, backend=backend,
                      dtype=dtype), xp)
    total = float(len(split)) if split.w is None else float(as_host_array(xp.sum(split.w)))
    return loss_sum / total, metric_sum / total


def predict_outputs(params, X, xp, spec: mlp.MLPSpec = mlp.MLPSpec(), batch_size: int = 8192,
                    backend: Backend | None = None, dtype=None):
    """Raw outputs (n, k) for all rows, computed in batches, concatenated on the device."""
    parts = [mlp.predict_outputs(params, rows_as_device_array(X, start, stop, backend, dtype),
                                 xp, spec)
             for start, stop in batch_slices(X.shape[0], batch_size)]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

"""The training loop: epochs of minibatches, metrics, stopping rules, divergence guard.

All arrays live on one backend; the batches come from ``batches.Batches``. Loss and metric
sums accumulate on the device and are read once per epoch (or every ``check_every`` steps);
after a non-finite read the loop replays step by step to name the exact step and layer.
Stopping follows scikit-learn's plateau rule after each epoch (``plateau.py``).

``FitRun`` holds what stays fixed for one call to fit; its ``step`` is the one place every
training step goes through. The group it trains in (``distributed.py``) is one process or N
data-parallel ranks, and the loop runs the same code for both: each member takes its share
of every global batch, ``step`` sums the gradients over the group, and the epoch's one host
read is followed by one small host sum (finite flag, loss, metric and validation sums), so
every member stops together.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from . import divergence, plateau

from .. import kernels

from ..core import mlp
from ..backend.devices import Backend, as_host_array, read_scalars
from .batches import Batches, DeviceSplit
from .dropout import Dropout
from ..errors import CallbackError, DivergenceError
from .evaluation import Validation
from ..core.heads import HEADS
from ..core.optim import schedule_factor
from .train_state import TrainingInterrupted, TrainState, snapshot


@dataclass(frozen=True)
class TrainConfig:
    """The training loop's settings, fixed for one fit.

    Parameters
    ----------
    max_iter : int
        Epochs in all.
    batch_size : int
        Rows per step; 0: the full training set every step.
    shuffle : bool
        Shuffle the rows each epoch.
    tol : float
        The plateau rule's tolerance (``plateau.py``).
    n_iter_no_change : int or float
        Epochs without improvement before the plateau rule acts; ``math.inf`` never stops
        early.
    early_stopping : bool
        Monitor the validation score and keep the best weights.
    learning_rate : str
        The schedule, a key of ``optim.SCHEDULES``.
    learning_rate_init : float
        The initial learning rate.
    power_t : float
        invscaling's exponent.
    check_every : int
        Steps between divergence checks; 0: once per epoch.
    spec : MLPSpec
        What the network computes.
    dropout : tuple of float, default=()
        One rate per hidden layer (all 0, or none: no dropout).
    seed : int, default=0
        The fit's seed, which dropout's masks are drawn from (``dropout.py``).
    """
    max_iter: int  # epochs in all
    batch_size: int  # 0: the full training set every step
    shuffle: bool
    tol: float
    n_iter_no_change: float  # int, or math.inf to never stop early
    early_stopping: bool  # monitor the validation score and keep the best weights
    learning_rate: str  # a key of optim.SCHEDULES
    learning_rate_init: float
    power_t: float
    check_every: int  # steps between divergence checks; 0: once per epoch
    spec: mlp.MLPSpec
    dropout: tuple = ()  # one rate per hidden layer (all 0, or none: no dropout)
    seed: int = 0  # the fit's seed, which dropout's masks are drawn from (dropout.py)


def train(state: TrainState, optimizer, data: DeviceSplit, config: TrainConfig, rng,
          backend: Backend, reducer, val: DeviceSplit | None = None, on_epoch=None,
          on_step=None, on_plateau=None, hooks: EpochHooks | None = None) -> TrainState:
    """Train ``state`` in place up to ``config.max_iter`` epochs in all.

    Parameters
    ----------
    state : TrainState
        The parameters, optimizer state, counters and history; trained in place.
    optimizer : SGD or Adam
        The update.
    data : DeviceSplit
        The training rows on the backend's device.
    config : TrainConfig
        The loop's settings.
    rng : numpy.random.Generator
        Shuffles the rows.
    backend : Backend
        The namespace and device everything lives on.
    reducer : object
        The group this process trains in (``distributed.make_reducer``).
    val : DeviceSplit or None, default=None
        The validation split, or None.
    on_epoch : callable or None, default=None
        ``on_epoch(record)``, called after each epoch with its history row.
    on_step : callable or None, default=None
        ``on_step(step, steps_in_epoch)``, after each step (host-side counters, no device
        sync).
    on_plateau : callable or None, default=None
        ``on_plateau(outcome)``, after ``on_epoch`` when the plateau rule acted
        (``FitRun.after_epoch``).
    hooks : EpochHooks or None, default=None
        An epoch's begin and end for scikit-learn's callbacks.

    Returns
    -------
    TrainState
        ``state`` itself.

    Raises
    ------
    DivergenceError
        When the loss or a parameter became non-finite; its message names the step and layer.
    """
    run = FitRun(state, optimizer, data, config, rng, backend, reducer, val, on_epoch, on_step,
                 on_plateau, hooks)
    with backend.activate(), backend.quiet_float_errors(), reducer.deferred_interrupt():
        try:
            return run.run()
        except DivergenceError as exc:
            exc.agreed = True  # every member of the group found it at the same read
            raise


def _no_check(stage, arrays):
    """A training step's ``check``: nothing looks (the divergence replay's looks at each)."""


@dataclass(frozen=True)
class EpochHooks:
    """An epoch's begin and end as tasks (``fit_callbacks.FitTasks``): ``begin(epoch)``
    before its first step; ``end(record)`` after its history row and the plateau rule, true
    to stop training after it. In a group of N every member gets hooks when any has them
    (the others: ``EpochHooks.passive()``); they learn a stop, or a hook's exception, at the
    same epoch (one small host sum after each)."""

    begin: Callable[[int], None]
    end: Callable[[dict], bool]
    abandon: Callable[[], None]  # the begun epoch ends unfinished (Ctrl-C)

    @staticmethod
    def passive() -> EpochHooks:
        """A member's hooks where another runs the callbacks: it only joins the sums."""
        return EpochHooks(lambda epoch: None, lambda record: False, lambda: None)


class FitRun:
    """One call to fit: what stays fixed while it runs, and its run / epoch / step.

    Parameters
    ----------
    state, optimizer, data, config, rng, backend, reducer : object
        As ``train``'s.
    val, on_epoch, on_step, on_plateau, hooks : object, default=None
        As ``train``'s.
    """

    def __init__(self, state, optimizer, data, config, rng, backend, reducer, val=None,
                 on_epoch=None, on_step=None, on_plateau=None, hooks=None):
        self.state, self.optimizer, self.config = state, optimizer, config
        self.rng, self.backend, self.reducer = rng, backend, reducer
        self.on_epoch, self.on_step, self.on_plateau = on_epoch, on_step, on_plateau
        self.hooks = hooks
        self.hook_failure = None  # a hook's exception, raised once the group has agreed
        self.stop_agreed = False  # the group agreed on a Ctrl-C at the last epoch's end
        self.xp = backend.xp
        self.head = HEADS[config.spec.head]
        self.dtype = data.dtype_on(backend)
        # the stages of a step: the namespace's kernel where it has one, else the reference
        # (which the divergence replay always runs)
        self.reference = kernels.ReferenceStep(config.spec, optimizer, backend.xp)
        self.stages = kernels.select(backend, config.spec, optimizer)  # (config.py decides)
        # a kernel's step compiled whole (kernels.whole_step): in a group of one only, the
        # Allreduce of data parallel sitting between its stages
        self.whole_step = kernels.whole_step(self.stages) if reducer.size == 1 else None
        # the loop's other functions of arrays, compiled where the kernel compiles
        self.batch_metric = kernels.compiled(self.stages, self.head.metric_sum, (2,))
        self.finite = kernels.compiled(self.stages, divergence.finite_flag, (2,))
        self.batches = Batches(data, config.batch_size, config.shuffle, backend, self.dtype,
                               self.stages.take, reducer.rank, reducer.size)
        self.train_weight = data.weight_total(self.xp)  # a host float, read once per fit
        self.validation = (None if val is None
                           else Validation(val, config.spec, backend, self.dtype, reducer))

    # -- the whole run ---------------------------------------------------------------

    def run(self) -> TrainState:
        """Train epoch after epoch until ``max_iter``, the plateau rule or a hook stops.

        With early stopping, ``state.best_params`` are the weights to predict with (the estimator
        publishes them); ``state.params`` stay the last epoch's, so that a resumed run continues
        exactly where this one stopped.

        Returns
        -------
        TrainState
            The run's state.

        Raises
        ------
        TrainingInterrupted
            On Ctrl-C (mid-epoch: back to the last completed epoch).
        """
        state, config = self.state, self.config
        state.converged = state.stopped = False
        while state.epoch < config.max_iter:
            epoch = state.epoch + 1
            started = time.perf_counter()
            rng_state = self.rng.bit_generator.state
            epoch_start = self.copy(state.params, state.opt_state)
            rows = len(state.history)  # a warm start keeps the earlier fit's rows
            try:
                self.call_hook("begin", epoch)
                record = self.epoch(epoch, epoch_start)
                record["seconds"] = time.perf_counter() - started
                state.history.append(record)
                state.epoch = epoch
                state.samples_seen += len(self.batches.data)
            except KeyboardInterrupt as interrupt:  # here, or agreed at a gradient sum
                if state.epoch < epoch:  # mid-epoch: back to the last completed epoch
                    del state.history[rows:]
                    state.params, state.opt_state = epoch_start
                    self.rng.bit_generator.state = rng_state
                    # dropout's masks: a function of the counters just restored (dropout.py)
                    if self.hooks is not None:
                        self.hooks.abandon()
                raise TrainingInterrupted(state, getattr(interrupt, "agreed", False)) from None
            outcome = self.after_epoch(record)
            try:
                if self.on_epoch is not None:
                    self.on_epoch(record)
                if outcome is not None and self.on_plateau is not None:
                    self.on_plateau(outcome)
                stop = self.end_epoch(record)
            except KeyboardInterrupt:
                if self.hooks is not None:
                    self.hooks.abandon()  # nothing if its end already ran
                raise TrainingInterrupted(state) from None
            if outcome in plateau.STOPS:
                state.converged = True
                break
            if stop:
                state.stopped = True
                break
            if self.stop_agreed:
                raise TrainingInterrupted(state, agreed=True)
        if self.reducer.host_sum([float(self.reducer.stop_requested)])[0]:  # after the last
            raise TrainingInterrupted(state, agreed=True)  # epoch's sum, before we leave
        # with early stopping, state.best_params are the weights to predict with (the
        # estimator publishes them); state.params stay the last epoch's, so that a resumed
        # run continues exactly where this one stopped
        return state

    def call_hook(self, name, *args):
        """Call an epoch hook; in a group, keep its exception for ``end_epoch``.

        ``end_epoch`` raises it on every member at once (raising here would leave the others in
        the next sum).

        Parameters
        ----------
        name : str
            ``"begin"`` or ``"end"``.
        *args : object
            The hook's arguments.

        Returns
        -------
        object
            The hook's result, or None (no hooks, or a failure kept).
        """
        if self.hooks is None or self.hook_failure is not None:
            return None
        try:
            return getattr(self.hooks, name)(*args)
        except Exception as failure:  # raised again in end_epoch, on every member
            if self.reducer.size == 1:
                raise
            self.hook_failure = failure
            return None

    def end_epoch(self, record) -> bool:
        """The epoch hooks' end, agreed by the group: true to stop after this epoch.

        Parameters
        ----------
        record : dict
            The epoch's history row.

        Returns
        -------
        bool
            Whether to stop.
        """
        if self.hooks is None:
            return False
        stop = bool(self.call_hook("end", record))
        if self.reducer.size > 1:  # the hooks run on rank 0: every member learns its word
            stops, failures = self.reducer.host_sum([float(stop),
                                                     float(self.hook_failure is not None)])
            if failures:
                if self.hook_failure is not None:
                    raise self.hook_failure
                raise CallbackError(f"a callback raised on another rank after epoch "
                                    f"{record['epoch']}; this rank stops with it")
            stop = stops > 0
        return stop

    def after_epoch(self, record) -> str | None:
        """What the plateau rule did after this epoch (``plateau.py``), or None.

        Parameters
        ----------
        record : dict
            The epoch's history row.

        Returns
        -------
        str or None
            The rule's outcome.
        """
        return plateau.after_epoch(self.state, self.config, record, self.head.score_name,
                                   self.backend)

    # -- one epoch -------------------------------------------------------------------

    def epoch(self, epoch, epoch_start):
        """One pass over the data.

        Parameters
        ----------
        epoch : int
            The epoch, from 1.
        epoch_start : tuple
            ``(params, opt_state)`` copied at the epoch's start: the first known-finite state.

        Returns
        -------
        dict
            The epoch's history row (without its seconds).
        """
        xp, state, config, batches = self.xp, self.state, self.config, self.batches
        checkpoint = epoch_start, 0  # last state known finite, and its step
        order = batches.order(self.rng)
        loss_sum = xp.zeros((), dtype=self.dtype, device=self.backend.device)
        metric_sum = None
        empty = batches.empty_steps(order)
        scale = self.lr_scale()
        for step, (start, stop) in enumerate(batches.slices, start=1):
            if step in empty:  # nothing to learn from, and a 0/0 mean: skipped
                continue
            inputs, targets, weights, portion = batches.local(order, start, stop)
            scale = self.lr_scale()
            state.params, state.opt_state, loss, outputs = self.step(
                state.params, state.opt_state, inputs, targets, weights, scale,
                portion, masks=self.masks(step, start, stop))
            loss_sum += loss * float(stop - start)
            if self.head.metric is not None:
                hits = self.batch_metric(outputs, targets, xp, weights)
                metric_sum = hits if metric_sum is None else metric_sum + hits
            if self.on_step is not None:
                self.on_step(step, len(batches))
            if config.check_every and step % config.check_every == 0 and step < len(batches):
                if not self.agreed(bool(as_host_array(self.finite_flag(loss_sum)))):
                    self.locate_divergence(checkpoint, order, epoch)
                checkpoint = self.copy(state.params, state.opt_state), step
        # one host read for the whole epoch: finite flag, loss and metric sums, validation;
        # then one host sum over the group, so every member decides alike
        sums = [self.finite_flag(loss_sum), loss_sum]
        if metric_sum is not None:
            sums.append(metric_sum)
        if self.validation is not None:
            sums += self.validation.sums(state.params)
        self.last_rate = config.learning_rate_init * scale  # the epoch's last step's rate
        finite, *rest = read_scalars(sums, xp)
        not_finite, loss_total, *rest, stops = self.reducer.host_sum(
            [0.0 if finite else 1.0, *rest, float(self.reducer.stop_requested)])
        self.stop_agreed = stops > 0
        if not_finite:
            self.locate_divergence(checkpoint, order, epoch)
        return self.record(epoch, loss_total, rest)

    def record(self, epoch, loss_total, sums) -> dict:
        """The epoch's history row from its host sums.

        Parameters
        ----------
        epoch : int
            The epoch.
        loss_total : float
            The loss summed over the epoch's rows.
        sums : list of float
            The metric's sum (where the head has one), then validation's two.

        Returns
        -------
        dict
            The history row.
        """
        record = {"epoch": epoch, "loss": loss_total / len(self.batches.data),
                  "learning_rate": self.last_rate}
        if self.head.metric is not None:
            record[self.head.metric] = sums.pop(0) / self.train_weight
        val_score_key = f"val_{self.head.score_name}"
        record["val_loss"] = record[val_score_key] = None
        if self.validation is not None:
            record["val_loss"], record[val_score_key] = self.validation.finish(*sums)
        return record

    def lr_scale(self, opt_state=None) -> float:
        """The schedule's factor for the next step of ``opt_state``.

        Parameters
        ----------
        opt_state : dict or None, default=None
            An optimizer state; None: the run's.

        Returns
        -------
        float
            The factor.
        """
        state, config = self.state, self.config
        opt_state = state.opt_state if opt_state is None else opt_state
        return state.lr_factor * schedule_factor(config.learning_rate, opt_state["step"],
                                          config.max_iter * len(self.batches),
                                          state.samples_seen, config.power_t)

    # -- one step --------------------------------------------------------------------

    def step(self, params, opt_state, inputs, targets, weights, scale, portion, check=None,
             masks=None):
        """One training step: forward, loss, backward, sum over the group, update.

        The loss and the update include the L2 term (its gradient). The replay (``check``) always
        runs the reference stages, training the kernel's (``self.stages``), compiled whole where
        it offers that and nothing else is asked of the step.

        Parameters
        ----------
        params, opt_state : dict
            The parameters and optimizer state.
        inputs, targets, weights : array
            This member's rows of the batch (``weights`` None without row weights).
        scale : float
            The learning-rate schedule's factor.
        portion : tuple
            (share, denominator) of this member's rows (``Batches.local``).
        check : callable or None, default=None
            ``check(stage, arrays)`` (the divergence replay's) looks at each stage's result.
        masks : list or None, default=None
            Its dropout masks (``FitRun.masks``), or None.

        Returns
        -------
        tuple
            (params, opt_state, loss, outputs).
        """
        if self.whole_step is not None and not check and masks is None:
            return self.whole_step(params, opt_state, inputs, targets, weights, scale)
        stages = self.reference if check else self.stages
        check = check or _no_check
        outputs, trace = stages.forward(params, inputs, masks)
        check("outputs", trace.layer_inputs[1:] + [outputs])
        loss, grad_outputs = self.member_loss(stages, outputs, targets, weights, portion[0])
        loss = self.with_l2(stages, loss, params, portion[1])
        check("loss", [loss])
        grads = stages.backward(params, trace, grad_outputs)
        grads = self.reducer.sum_grads(grads, self.xp)
        l2 = self.l2_coefficient(portion[1])
        if check is not _no_check:  # the replay looks at the gradient with its L2 term
            mlp.add_l2_gradient(grads, params, l2, self.xp)  # (the reference's, as update's)
            l2 = None
        check("gradient", grads)
        params, opt_state = stages.update(params, grads, opt_state, scale, l2=l2)
        check("update", params)
        return params, opt_state, loss, outputs

    def member_loss(self, stages, outputs, targets, weights, share):
        """This member's part of the global batch's mean loss, and its gradient.

        ``share`` times its own rows' mean (the global mean is the sum over the members, and
        backward is linear); zeros where it has no rows (or no weight) in this batch.

        Parameters
        ----------
        stages : object
            The step's stages (kernel or reference).
        outputs, targets : array
            The raw outputs and targets of its rows.
        weights : array or None
            Its row weights.
        share : float
            Its share of the global batch.

        Returns
        -------
        tuple
            (loss, d loss / d outputs).
        """
        if not share:
            zero = self.xp.zeros((), dtype=outputs.dtype, device=self.backend.device)
            return zero, self.xp.zeros_like(outputs)
        loss, grad_outputs = stages.loss_with_grad(outputs, targets, weights)
        if share != 1.0:
            loss, grad_outputs = loss * share, grad_outputs * share
        return loss, grad_outputs

    def with_l2(self, stages, loss, params, denominator):
        """The L2 term (alpha / 2n) sum ||w||^2 added to the loss once, on rank 0.

        Each member's loss is its part of the batch's; the parameters are the same everywhere.

        Parameters
        ----------
        stages : object
            The step's stages.
        loss : array
            This member's loss.
        params : dict
            The parameters.
        denominator : float or array
            n.

        Returns
        -------
        array
            The loss, with the term on rank 0.
        """
        if self.reducer.rank != 0:
            return loss
        return stages.l2_loss(loss, params, self.config.spec.alpha, denominator)

    def l2_coefficient(self, denominator):
        """alpha / n: the L2 term's gradient is that times each weight.

        ``update`` adds it on every member to the gradients summed over the group.

        Parameters
        ----------
        denominator : float or array
            n.

        Returns
        -------
        float or array or None
            alpha / n; None without L2.
        """
        alpha = self.config.spec.alpha
        return alpha / denominator if alpha else None

    # -- dropout ---------------------------------------------------------------------

    @cached_property
    def dropout(self) -> Dropout:
        """The run's dropout (``dropout.Dropout``), for the hidden layers' widths."""
        widths = [self.state.params[f"b{layer}"].shape[0]
                  for layer in range(1, mlp.n_weight_layers(self.state.params))]
        return Dropout(self.config.dropout, widths, self.config.seed, self.backend,
                       self.reducer.rank, self.reducer.size)

    def masks(self, step, start, stop):
        """This member's dropout masks for ``step`` of the current epoch.

        The same in the training step and in its replay.

        Parameters
        ----------
        step : int
            The step in the epoch, from 1.
        start, stop : int
            The global batch's rows start:stop.

        Returns
        -------
        list or None
            One mask per hidden layer; None without dropout.
        """
        return self.dropout.masks(self.state.samples_seen, step, start, stop, self.dtype)

    # -- divergence ------------------------------------------------------------------

    def finite_flag(self, loss_sum):
        """The device flag: the loss sum and every parameter finite.

        Parameters
        ----------
        loss_sum : array
            The epoch's loss sum so far.

        Returns
        -------
        array
            A 0-d boolean on the device.
        """
        return self.finite(loss_sum, self.state.params, self.xp)

    def agreed(self, flag: bool) -> bool:
        """A host flag, true only when it is true on every member (one small message).

        Parameters
        ----------
        flag : bool
            This member's flag.

        Returns
        -------
        bool
            The group's.
        """
        return self.reducer.host_sum([0.0 if flag else 1.0])[0] == 0

    def copy(self, params, opt_state) -> tuple[dict, dict]:
        """A snapshot of ``params`` and ``opt_state`` (``train_state.snapshot``).

        Parameters
        ----------
        params, opt_state : dict
            The state to copy.

        Returns
        -------
        tuple of dict
            Their copies.
        """
        return snapshot(params, opt_state, self.backend)

    def locate_divergence(self, checkpoint, order, epoch):
        """Replay from ``checkpoint`` step by step and raise DivergenceError.

        Back to ``checkpoint``, replay the epoch's later steps on the reference with a check
        after every stage; the state keeps the weights of the last entirely finite step.

        Parameters
        ----------
        checkpoint : tuple
            ((params, opt_state), step): the last state known finite.
        order : array
            The epoch's row order.
        epoch : int
            The epoch.

        Raises
        ------
        DivergenceError
            Always: naming the step, stage and layer where the replay found it, or only the
        epoch where the replay stayed finite (non-deterministic device sums).
        """
        state, batches = self.state, self.batches
        lr = float(getattr(self.optimizer, "lr", float("nan")))
        (params, opt_state), first_step = self.copy(*checkpoint[0]), checkpoint[1]
        check = divergence.stage_check(self.xp, self.reducer, mlp.n_weight_layers(params))
        empty = batches.empty_steps(order)
        for step, (start, stop) in enumerate(batches.slices[first_step:], first_step + 1):
            if step in empty:
                continue
            inputs, targets, weights, portion = batches.local(order, start, stop)
            kept = self.copy(params, opt_state)
            try:
                params, opt_state, _, _ = self.step(params, opt_state, inputs, targets,
                                                    weights, self.lr_scale(opt_state),
                                                    portion, check,
                                                    masks=self.masks(step, start, stop))
            except divergence.NonFinite as problem:
                state.params, state.opt_state = kept
                raise divergence.error_at(epoch, step, len(batches), problem, lr) from None
        state.params, state.opt_state = checkpoint[0]
        raise divergence.error_in(epoch, first_step, lr)


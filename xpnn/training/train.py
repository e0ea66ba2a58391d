"""The training loop: ``FitRun``'s run, epochs and ``step``, which every step goes through.

One process or N data-parallel ranks (``distributed.py``) run the same code: each member
takes its share of every global batch (``batches.py``), ``step`` sums the gradients over the
group, and an epoch ends in one host read and one small host sum (``epoch_sums.py``), so
every member stops together: plateau rule, callbacks, Ctrl-C, or a non-finite read, which
``divergence.py`` replays to name the step and layer.
"""
from __future__ import annotations

import time
from functools import partial

from .. import kernels
from ..backend.devices import Backend
from ..core import mlp
from ..core.heads import HEADS
from ..core.optim import schedule_factor
from ..errors import DivergenceError
from . import divergence, plateau
from .batches import Batches, DeviceSplit, MemberBatch
from .dropout import Dropout
from .epoch_hooks import EpochCallbacks, EpochHooks
from .epoch_sums import EpochSums
from .l2_penalty import L2Penalty
from .train_config import TrainConfig
from .train_state import TrainingInterrupted, TrainState, snapshot


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
    on_epoch, on_step, on_plateau : callable or None, default=None
        ``on_epoch(record)`` after each epoch with its history row; ``on_step(step,
        steps_in_epoch)`` after each step (host counters, no device sync);
        ``on_plateau(outcome)`` after ``on_epoch`` when the plateau rule acted.
    hooks : EpochHooks or None, default=None
        An epoch's begin and end for scikit-learn's callbacks (``epoch_hooks.py``).

    Returns
    -------
    TrainState
        ``state`` itself: with early stopping, ``state.best_params`` are the weights to
        predict with; ``state.params`` stay the last epoch's, where a resumed run continues.

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
        self.rng, self.backend, self.reducer, self.xp = rng, backend, reducer, backend.xp
        self.on_step, self.callbacks = on_step, EpochCallbacks(hooks, reducer, on_epoch,
                                                               on_plateau)
        self.stop_agreed = False  # the group agreed on a Ctrl-C at the last epoch's end
        self.dtype = data.dtype_on(backend)
        self.l2 = L2Penalty(config.spec.alpha, adds_loss_term=reducer.rank == 0)
        # the stages of a step: the namespace's kernel where it has one, else the reference
        self.stages = kernels.select(backend, config.spec, optimizer,  # (config.py decides)
                                     plan=config.planned_steps(state.epoch, len(data),
                                                               state.params))
        self.batches = Batches(data, config.batch_size, config.shuffle, backend, self.dtype,
                               self.stages.take, reducer.rank, reducer.size)
        self.sums = EpochSums(self.stages, config.spec, backend, self.dtype, reducer, data, val)
        widths = [state.params[f"b{layer}"].shape[0]
                  for layer in range(1, mlp.n_weight_layers(state.params))]
        self.dropout = Dropout(config.dropout, widths, config.seed, backend, reducer.rank,
                               reducer.size)
        # the step the epochs run: the kernel's, compiled whole where it offers that and
        # nothing comes between its stages (a group of one: no gradient sum; no dropout)
        whole_step = kernels.whole_step(self.stages)
        if whole_step is not None and reducer.size == 1 and not self.dropout.active:
            self.train_step = whole_step
        else:
            self.train_step = partial(self.step, self.stages)

    def run(self) -> TrainState:
        """Train epoch after epoch until ``max_iter``, the plateau rule or a hook stops;
        on Ctrl-C raise TrainingInterrupted (mid-epoch: back to the last completed epoch).

        Returns
        -------
        TrainState
            The run's state.
        """
        state = self.state
        state.converged = state.stopped = False
        try:
            while state.epoch < self.config.max_iter:
                record = self._completed_epoch(state.epoch + 1)
                outcome = self.after_epoch(record)
                stop = self.callbacks.end(record, outcome)
                state.converged = outcome in plateau.STOPS
                state.stopped = stop and not state.converged
                if state.converged or state.stopped:
                    break
                if self.stop_agreed:
                    raise TrainingInterrupted(state, agreed=True)
        except TrainingInterrupted:
            raise
        except KeyboardInterrupt as interrupt:  # between two epochs (a lone process takes
            self.callbacks.abandon()  # Ctrl-C anywhere): the last completed epoch stands
            raise TrainingInterrupted(state, getattr(interrupt, "agreed", False)) from None
        if self.reducer.host_sum([float(self.reducer.stop_requested)])[0]:  # after the last
            raise TrainingInterrupted(state, agreed=True)  # epoch's sum, before we leave
        return state

    def _completed_epoch(self, epoch: int) -> dict:
        """``epoch`` run and entered in the state; on Ctrl-C mid-epoch, the state of the
        last completed epoch back (dropout's masks: a function of the counters restored)."""
        state, started, rng_state = self.state, time.perf_counter(), self.rng.bit_generator.state
        epoch_start = snapshot(state.params, state.opt_state, self.backend)
        rows = len(state.history)  # a warm start keeps the earlier fit's rows
        try:
            self.callbacks.begin(epoch)
            record = self._epoch(epoch, epoch_start)
            record["seconds"] = time.perf_counter() - started
            state.history.append(record)
            state.epoch = epoch
            state.samples_seen += len(self.batches.data)
        except KeyboardInterrupt as interrupt:  # here, or agreed at a gradient sum
            if state.epoch < epoch:
                del state.history[rows:]
                state.params, state.opt_state = epoch_start
                self.rng.bit_generator.state = rng_state
                self.callbacks.abandon()
            raise TrainingInterrupted(state, getattr(interrupt, "agreed", False)) from None
        return record

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
        return plateau.after_epoch(self.state, self.config, record,
                                   HEADS[self.config.spec.head].score_name, self.backend)

    def _epoch(self, epoch: int, epoch_start) -> dict:
        """One pass over the data: its history row (without its seconds); ``epoch_start``:
        (params, opt_state) copied at its start, the first state known finite."""
        state, batches, sums = self.state, self.batches, self.sums
        check_every = self.config.check_every
        last_finite = divergence.FiniteState(*epoch_start, step=0)
        order = batches.order(self.rng)
        sums.reset()
        rate_factor = self.rate_factor_at(state.opt_state)
        for step, start, stop in batches.steps(order):
            batch = batches.local(order, start, stop)
            rate_factor = self.rate_factor_at(state.opt_state)
            state.params, state.opt_state, loss, outputs = self.train_step(
                state.params, state.opt_state, batch, rate_factor, self.masks(step, start, stop))
            sums.add(loss, outputs, batch, stop - start)
            if self.on_step is not None:
                self.on_step(step, len(batches))
            if check_every and step % check_every == 0 and step < len(batches):
                if not sums.finite_everywhere(state.params):
                    divergence.replay(self, last_finite, order, epoch)
                last_finite = divergence.FiniteState(
                    *snapshot(state.params, state.opt_state, self.backend), step)
        finite, totals, self.stop_agreed = sums.read(state.params)
        if not finite:
            divergence.replay(self, last_finite, order, epoch)
        return sums.record(epoch, totals, self.config.learning_rate_init * rate_factor)

    def rate_factor_at(self, opt_state) -> float:
        """The learning rate's factor for the next step of ``opt_state``.

        Parameters
        ----------
        opt_state : dict
            An optimizer state (its step counts the steps taken).

        Returns
        -------
        float
            The schedule's (``optim.schedule_factor``) times the plateau rule's (adaptive).
        """
        state, config = self.state, self.config
        return state.lr_factor * schedule_factor(config.learning_rate, opt_state["step"],
                                                 config.max_iter * len(self.batches),
                                                 state.samples_seen, config.power_t)

    def masks(self, step, start, stop):
        """This member's dropout masks for ``step`` of the current epoch (its replay's too).

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

    def step(self, stages, params, opt_state, batch: MemberBatch, rate_factor, masks=None,
             checks=divergence.NO_CHECKS):
        """One training step on this member's rows of a global batch.

        Parameters
        ----------
        stages : object
            The kernel's stages (``kernels``), or the reference's (the divergence replay).
        params, opt_state : dict
            The parameters and optimizer state.
        batch : MemberBatch
            This member's rows of the batch and their share of its mean (``Batches.local``).
        rate_factor : float
            The learning rate's factor for this step (``rate_factor_at``).
        masks : list or None, default=None
            Its dropout masks (``FitRun.masks``), or None.
        checks : object, default=divergence.NO_CHECKS
            The replay's ``divergence.StageChecks`` look at each stage's arrays.

        Returns
        -------
        tuple
            (params, opt_state, loss, outputs).
        """
        outputs, trace = stages.forward(params, batch.inputs, masks)  # forward
        checks.look("outputs", trace.layer_inputs[1:] + [outputs])
        loss, grad_outputs = self._member_loss(stages, outputs, batch)  # loss
        loss = self.l2.with_term(loss, params, batch.denominator, self.xp)  # + the L2 term
        checks.look("loss", [loss])
        grads = stages.backward(params, trace, grad_outputs)  # backward
        grads = self.reducer.sum_grads(grads, self.xp)  # all-reduce; identity for one process
        l2 = self.l2.coefficient(batch.denominator)  # alpha / n: the L2 gradient is l2 w
        checks.gradient(grads, params, l2)
        params, opt_state = stages.update(params, grads, opt_state, rate_factor, l2)  # update
        checks.look("update", params)
        return params, opt_state, loss, outputs

    def _member_loss(self, stages, outputs, batch: MemberBatch):
        """(loss, d loss / d outputs): this member's part of the batch's mean, its share times
        its rows' mean (backward is linear); zeros where it has no rows (or no weight)."""
        if not batch.share:
            zero = self.xp.zeros((), dtype=outputs.dtype, device=self.backend.device)
            return zero, self.xp.zeros_like(outputs)
        loss, grad_outputs = stages.loss_with_grad(outputs, batch.targets, batch.weights)
        if batch.share != 1.0:
            loss, grad_outputs = loss * batch.share, grad_outputs * batch.share
        return loss, grad_outputs

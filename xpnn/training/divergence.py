"""The divergence guard: a device-side finite flag read once per epoch, and on a hit, a
replay (``replay``) that names the exact step, layer and stage.

The replay goes back to the last state known finite, runs the epoch's later steps again
on the array-API reference stages (never a kernel), looks at every stage's arrays
(``StageChecks``; training's steps look at nothing, ``NO_CHECKS``), and leaves the weights
of the last step that was entirely finite. In a group of processes the first bad array on
any member is agreed by all, so every member raises the same error at the same step.
"""
from __future__ import annotations

from typing import NamedTuple

from .. import kernels
from ..backend.devices import as_host_array
from ..core import mlp
from ..errors import DivergenceError, spelled
from .train_state import snapshot


def finite_flag(loss_sum, params, xp):
    """A device-side flag: the accumulated loss and every parameter are finite."""
    flags = [xp.all(xp.isfinite(value)) for value in params.values()]
    return xp.logical_and(xp.all(xp.isfinite(loss_sum)), xp.all(xp.stack(flags)))


class FiniteState(NamedTuple):
    """The last state known finite: its parameters, optimizer state, and the step of the
    epoch it follows (0: the epoch's start)."""

    params: dict
    opt_state: dict
    step: int


class NonFinite(Exception):
    """Raised by the replay's checks: (layer, what) of the first non-finite value."""


class NoChecks:
    """A training step's checks: nothing looks (the replay's ``StageChecks`` look)."""

    def look(self, stage, arrays):
        pass

    def gradient(self, grads, params, l2):
        pass


NO_CHECKS = NoChecks()


class StageChecks:
    """The replay's checks: ``look(stage, arrays)`` raises NonFinite for the first
    non-finite array of a stage, agreed by the group."""

    def __init__(self, xp, reducer, n_weight_layers: int):
        self.xp, self.reducer, self.n_weight_layers = xp, reducer, n_weight_layers

    def gradient(self, grads, params, l2):
        """The summed gradients with the L2 term's (``l2`` w), as ``update`` adds it."""
        penalized = dict(grads)  # add_l2_gradient rebinds: the step's own dict stays as it is
        mlp.add_l2_gradient(penalized, params, l2, self.xp)
        self.look("gradient", penalized)

    def look(self, stage, arrays):
        xp = self.xp
        if isinstance(arrays, dict):  # per-parameter arrays, in layer order: w1, b1, w2, ...
            arrays = [arrays[name] for name in sorted(arrays, key=_layer_then_kind)]
        bad = [index for index, array in enumerate(arrays)
               if not bool(as_host_array(xp.all(xp.isfinite(array))))]
        first_bad = self.reducer.host_min(bad[0] if bad else len(arrays))  # agreed by all
        if first_bad >= len(arrays):
            return
        layer, last = first_bad // 2 + 1, self.n_weight_layers
        what = {
            "outputs": (first_bad + 1, f"the outputs of layer {first_bad + 1} "
                                       f"(w{first_bad + 1}) are not finite"),
            "loss": (last, f"the loss on the output layer's outputs (layer {last}) "
                           f"is not finite"),
            "gradient": (layer, f"the gradient of layer {layer} (w{layer}) is not finite"),
            "update": (layer, f"the update made layer {layer}'s weights (w{layer}) not "
                              f"finite"),
        }
        raise NonFinite(*what[stage])


def _layer_then_kind(name):
    return int(name[1:]), name[0]


def replay(run, last_finite: FiniteState, order, epoch):
    """Replay ``run``'s epoch (a ``train.FitRun``) from ``last_finite`` step by step on the
    reference stages and raise DivergenceError: naming the step, stage and layer where a
    check found it (the state keeps the weights of the step before), or only the epoch
    where the replay stayed finite (non-deterministic device sums)."""
    state, batches, backend = run.state, run.batches, run.backend
    lr = float(getattr(run.optimizer, "lr", float("nan")))
    params, opt_state = snapshot(last_finite.params, last_finite.opt_state, backend)
    reference = kernels.ReferenceStep(run.config.spec, run.optimizer, run.xp)
    checks = StageChecks(run.xp, run.reducer, mlp.n_weight_layers(params))
    for step, start, stop in batches.steps(order, after=last_finite.step):
        kept = snapshot(params, opt_state, backend)
        try:
            params, opt_state, _, _ = run.step(
                reference, params, opt_state, batches.local(order, start, stop),
                run.rate_factor_at(opt_state), run.masks(step, start, stop), checks=checks)
        except NonFinite as problem:
            state.params, state.opt_state = kept
            raise error_at(epoch, step, len(batches), problem, lr) from None
    state.params, state.opt_state = last_finite.params, last_finite.opt_state
    raise error_in(epoch, last_finite.step, lr)


def error_at(epoch, step, steps, problem: NonFinite, lr) -> DivergenceError:
    """The replay found the step: name it, its layer and stage, and what to change."""
    layer, what = problem.args
    return DivergenceError(
        f"training diverged at epoch {epoch}, step {step} of {steps}: {what}. The weights "
        f"of the last finite step were kept. {advice(lr, example=True)}", epoch=epoch,
        step=step, layer=layer)


def error_in(epoch, first_step, lr) -> DivergenceError:
    """The replay stayed finite (non-deterministic device sums): name the epoch."""
    return DivergenceError(
        f"training diverged in epoch {epoch} (after step {first_step}); the replay could "
        f"not pin the step. The weights from before it were kept. {advice(lr)}",
        epoch=epoch, step=None, layer=None)


def advice(lr, example=False) -> str:
    """What to change after a divergence, in the caller's terms (``errors.spelled``): a
    lower learning rate (with ``example``: a tenth of it) and scaled inputs."""
    lower = f", e.g. {spelled('learning_rate', f'{lr / 10:g}')}" if example else ""
    return (f"Try a lower learning rate (now {spelled('learning_rate', f'{lr:g}')}{lower}) "
            f"and check the input scaling (features should be about 0..1 or standardized, e.g. "
            f"{spelled('input_scaling')}).")

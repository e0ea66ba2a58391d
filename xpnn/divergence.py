"""The divergence guard: a device-side finite flag read once per epoch, and on a hit, a
replay from the last state known finite that names the exact step, layer and stage.

The replay runs the array-API reference stages (never a kernel), checks every stage's
arrays, and leaves the weights of the last step that was entirely finite. In a group of
processes the first bad array on any member is agreed by all, so every member raises the
same error at the same step.
"""
from __future__ import annotations

from . import mlp
from .backend import as_host_array
from .errors import DivergenceError


def finite_flag(loss_sum, params, xp):
    """A device-side flag: the accumulated loss and every parameter are finite."""
    flags = [xp.all(xp.isfinite(value)) for value in params.values()]
    return xp.logical_and(xp.all(xp.isfinite(loss_sum)), xp.all(xp.stack(flags)))


class _NonFinite(Exception):
    """Raised by the replay's checks: (layer, what) of the first non-finite value."""


def _stage_check(xp, reducer, n_layers):
    """check(stage, arrays): raise _NonFinite for the first non-finite array of a stage."""

    def check(stage, arrays):
        bad = [index for index, array in enumerate(arrays)
               if not bool(as_host_array(xp.all(xp.isfinite(array))))]
        first_bad = reducer.host_min(bad[0] if bad else len(arrays))  # agreed by all
        if first_bad >= len(arrays):
            return
        layer = first_bad // 2 + 1
        what = {
            "outputs": (first_bad + 1, f"the outputs of layer {first_bad + 1} "
                                       f"(w{first_bad + 1}) are not finite"),
            "loss": (n_layers, f"the loss on the output layer's outputs (layer {n_layers}) "
                               f"is not finite"),
            "gradient": (layer, f"the gradient of layer {layer} (w{layer}) is not finite"),
            "update": (layer, f"the update made layer {layer}'s weights (w{layer}) not "
                              f"finite"),
        }
        raise _NonFinite(*what[stage])

    return check


def locate(run, checkpoint, order, epoch):
    """Roll ``run`` (a ``train.FitRun``) back to ``checkpoint`` = ((params, opt_state),
    step), replay this epoch's steps after it with a check after every stage, and raise
    DivergenceError. Leaves the run's state holding the last entirely finite step."""
    state, batches = run.state, run.batches
    lr = float(getattr(run.optimizer, "lr", float("nan")))
    (params, opt_state), first_step = run.copy(*checkpoint[0]), checkpoint[1]
    check = _stage_check(run.xp, run.reducer, mlp.n_layers(params))
    steps = len(batches)
    empty = batches.empty_steps(order)
    for step, (start, stop) in enumerate(batches.slices[first_step:], start=first_step + 1):
        if step in empty:
            continue
        inputs, targets, weights, portion = batches.local(order, start, stop)
        kept = run.copy(params, opt_state)
        try:
            params, opt_state, _, _ = run.step(params, opt_state, inputs, targets, weights,
                                               run.lr_scale(opt_state), portion, check)
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

"""The divergence guard: a device-side finite flag read once per epoch, and on a hit, the
checks and messages of the replay (``train.FitRun.locate_divergence``) that names the exact
step, layer and stage.

The replay runs the array-API reference stages (never a kernel), checks every stage's
arrays with ``stage_check``, and leaves the weights of the last step that was entirely
finite. In a group of processes the first bad array on any member is agreed by all, so
every member raises the same error at the same step.
"""
from __future__ import annotations

from ..backend.devices import as_host_array
from ..errors import DivergenceError


def finite_flag(loss_sum, params, xp):
    """A device-side flag: the accumulated loss and every parameter are finite."""
    flags = [xp.all(xp.isfinite(value)) for value in params.values()]
    return xp.logical_and(xp.all(xp.isfinite(loss_sum)), xp.all(xp.stack(flags)))


class NonFinite(Exception):
    """Raised by the replay's checks: (layer, what) of the first non-finite value."""


def stage_check(xp, reducer, n_layers):
    """check(stage, arrays): raise NonFinite for the first non-finite array of a stage."""

    def check(stage, arrays):
        if isinstance(arrays, dict):  # per-parameter arrays, in layer order: w1, b1, w2, ...
            arrays = [arrays[name] for name in sorted(arrays, key=_layer_then_kind)]
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
        raise NonFinite(*what[stage])

    return check


def _layer_then_kind(name):
    return int(name[1:]), name[0]


def error_at(epoch, step, steps, problem: NonFinite, lr) -> DivergenceError:
    """The replay found the step: name it, its layer and stage, and what to change."""
    layer, what = problem.args
    return DivergenceError(
        f"training diverged at epoch {epoch}, step {step} of {steps}: {what}. The weights "
        f"of the last finite step were kept. Try a lower learning rate (now {lr:g}, e.g. "
        f"--lr {lr / 10:g}) and check the input scaling (features should be about 0..1 or "
        f"standardized).", epoch=epoch, step=step, layer=layer)


def error_in(epoch, first_step, lr) -> DivergenceError:
    """The replay stayed finite (non-deterministic device sums): name the epoch."""
    return DivergenceError(
        f"training diverged in epoch {epoch} (after step {first_step}); the replay could "
        f"not pin the step. The weights from before it were kept. Try a lower learning "
        f"rate (now {lr:g}) and check the input scaling.", epoch=epoch, step=None, layer=None)

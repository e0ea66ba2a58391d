"""Full-batch L-BFGS through scipy.optimize, as scikit-learn's ``solver="lbfgs"``.

The loss and its gradients are computed on the training device (in row chunks, so memory
stays bounded); per iteration the parameters come from the host as one flat float64
vector and the gradient goes back as one. For small data sets, where it converges in
fewer passes than a stochastic solver.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy
import scipy.optimize

from ..backend.devices import Backend, as_host_array, read_scalars
from ..core import mlp
from .batches import DeviceSplit, batch_slices
from .train_state import TrainState

CHUNK_ROWS = 8192
_SCIPY_VERSION = tuple(int(part) for part in scipy.__version__.split(".")[:2])


@dataclass(frozen=True)
class LbfgsResult:
    n_iter: int
    loss: float
    converged: bool
    status: int
    message: str
    stopped: bool = False  # on_iteration asked to stop
    interrupted: bool = False  # Ctrl-C: the last completed iteration's weights were kept


def minimize(state: TrainState, data: DeviceSplit, spec: mlp.MLPSpec, backend: Backend, *,
             max_iter: int, max_fun: int, tol: float, verbose: bool = False,
             on_iteration=None) -> LbfgsResult:
    """Minimise the penalised loss from ``state.params``; leaves the optimum in it.

    ``on_iteration(n, loss, params_of)`` after each iteration (``params_of()``: its weights
    on the device); a true return stops there (SciPy 1.11+, which reports iterations with
    their loss and honours StopIteration; older SciPy: not called). Ctrl-C keeps the last
    completed iteration's weights (``interrupted``)."""
    xp = backend.xp
    names = list(state.params)
    shapes = {name: tuple(state.params[name].shape) for name in names}
    dtype = str(state.params[names[0]].dtype).split(".")[-1]
    bounds = np.cumsum([0] + [int(np.prod(shapes[name])) for name in names])
    total_weight = data.weight_total(xp)

    def unpack(flat):
        return {name: backend.asarray(flat[start:stop].reshape(shapes[name]), dtype=dtype)
                for name, start, stop in zip(names, bounds[:-1], bounds[1:])}

    def loss_and_flat_grad(flat):
        params = unpack(flat)
        loss, grads = _full_batch(params, data, spec, backend, total_weight, dtype)
        host = [np.asarray(as_host_array(grads[name]), dtype=np.float64).ravel()
                for name in names]
        return loss, np.concatenate(host)

    start = np.concatenate([np.asarray(as_host_array(state.params[name]), np.float64).ravel()
                            for name in names])
    iterations, stopped, last_x, last_loss = 0, False, start, float("nan")

    def each_iteration(intermediate_result):  # SciPy's name: it passes the result then
        nonlocal iterations, stopped, last_x, last_loss
        iterations += 1
        # SciPy < 1.11 passes the iterate alone
        last_x = np.array(getattr(intermediate_result, "x", intermediate_result))
        last_loss = float(getattr(intermediate_result, "fun", float("nan")))
        if on_iteration is not None and _SCIPY_VERSION >= (1, 11) and on_iteration(
                iterations, last_loss, lambda: unpack(last_x)):
            stopped = True
            raise StopIteration

    try:
        result = scipy.optimize.minimize(
            loss_and_flat_grad, start, method="L-BFGS-B", jac=True, callback=each_iteration,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol,
                     **_iprint(verbose)})
    except KeyboardInterrupt:
        state.params = unpack(last_x)
        return LbfgsResult(iterations, last_loss, False, -1, "interrupted", interrupted=True)
    state.params = unpack(result.x)
    return LbfgsResult(int(result.nit), float(result.fun), bool(result.success),
                       int(result.status), str(result.message), stopped)


def _iprint(verbose: bool) -> dict:
    """scikit-learn's: SciPy's own progress output for verbose, on SciPy before 1.15 (later
    SciPy deprecates ``iprint`` and prints nothing, so neither passes it)."""
    if _SCIPY_VERSION >= (1, 15):
        return {}
    return {"iprint": 1 if verbose else -1}


def _full_batch(params, data: DeviceSplit, spec, backend, total_weight, dtype):
    """(loss as a host float, device gradients) of the whole data set: each chunk's mean
    loss and gradients (``mlp.loss_and_grads`` without the L2 term) weighted by its share of
    the rows (or of the weights), summed; then the L2 term once."""
    xp = backend.xp
    data_spec = dataclasses.replace(spec, alpha=0.0)
    loss_total, grads_total = None, None
    for start, stop in batch_slices(len(data), CHUNK_ROWS):
        inputs, targets, weights = data.chunk(start, stop, backend)
        loss, grads, _ = mlp.loss_and_grads(params, inputs, targets, xp, data_spec, weights)
        share = (float(stop - start) if weights is None else xp.sum(weights)) / total_weight
        if loss_total is None:
            loss_total, grads_total = loss * share, {k: g * share for k, g in grads.items()}
        else:
            loss_total = loss_total + loss * share
            grads_total = {k: grads_total[k] + g * share for k, g in grads.items()}
    if spec.alpha:
        mlp.add_l2_gradient(grads_total, params, spec.alpha / total_weight, xp)
        loss_total = loss_total + mlp.l2_term(params, spec.alpha, total_weight, xp)
    return read_scalars([loss_total], xp)[0], grads_total

"""Finite-difference check of the hand-derived gradients, in float64.

For each parameter element, (L(p + eps e_i) - L(p - eps e_i)) / (2 eps) is compared with
the analytic gradient. The error per parameter is ||analytic - numeric|| /
(||analytic|| + ||numeric||), which stays meaningful where single gradients are ~0. With
dropout, one fixed mask per hidden layer (drawn once, on the host) is used by the analytic
gradient and by every finite difference alike: the loss is then a function of the
parameters alone.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend.devices import Backend, as_host_array, device_of, numpy_backend
from ..core import mlp
from ..core.heads import HEADS
from .dropout import scaled_mask


def relative_error(analytic, numeric) -> float:
    """||a - n|| / (||a|| + ||n||) on host arrays; 0 when both are zero."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if scale == 0.0 else float(np.linalg.norm(analytic - numeric) / scale)


def numeric_gradient(loss_of, value, xp, eps=1e-6):
    """Central differences of the scalar function ``loss_of`` at ``value`` (any shape).

    Perturbs one element at a time with a one-hot array (no in-place item assignment).
    """
    flat = xp.reshape(value, (-1,))
    positions = xp.arange(flat.shape[0], device=device_of(value))
    grads = []
    for i in range(flat.shape[0]):
        bump = xp.reshape(xp.astype(positions == i, value.dtype) * eps, value.shape)
        upper = float(as_host_array(loss_of(value + bump)))
        lower = float(as_host_array(loss_of(value - bump)))
        grads.append((upper - lower) / (2.0 * eps))
    return np.asarray(grads).reshape(tuple(value.shape))


def gradcheck_report(hidden=(5,), n_features=4, n_classes=3, n_samples=7, seed=0, eps=1e-6,
                     backend: Backend | None = None, activation="relu", head="softmax",
                     alpha=0.0, weighted=False, dropout=0.0) -> dict:
    """Relative error per parameter name for a small random MLP and batch (float64).

    Parameters
    ----------
    hidden : tuple of int, default=(5,)
        The hidden layers' widths.
    n_features : int, default=4
        The inputs' width.
    n_classes : int, default=3
        The number of classes (softmax), or of outputs (the other heads).
    n_samples : int, default=7
        The batch's rows.
    seed : int, default=0
        Seeds the parameters, the batch and its targets.
    eps : float, default=1e-6
        The finite differences' step.
    backend : Backend or None, default=None
        The namespace and device to check on; None: NumPy.
    activation : str, default="relu"
        The hidden activation, a key of ``activations.ACTIVATIONS``.
    head : str, default="softmax"
        A key of ``heads.HEADS``: "softmax" (cross-entropy over ``n_classes`` classes);
        "logistic", "identity", "exp" (``n_classes`` outputs of that head's targets).
    alpha : float, default=0.0
        Adds the L2 term.
    weighted : bool, default=False
        Random row weights.
    dropout : float, default=0.0
        A rate for every hidden layer, through one fixed mask.

    Returns
    -------
    dict
        ``{"w1": error, "b1": error, ...}``, each ||a - n|| / (||a|| + ||n||).

    Examples
    --------
    >>> from xpnn import gradcheck_report
    >>> errors = gradcheck_report(hidden=(3,), activation="tanh")
    >>> sorted(errors)
    ['b1', 'b2', 'w1', 'w2']
    >>> max(errors.values()) < 1e-6
    True
    """
    backend = backend or numpy_backend()
    spec = mlp.MLPSpec(activation, head, float(alpha))
    with backend.activate():
        return _gradcheck_report(hidden, n_features, n_classes, n_samples, seed, eps, backend,
                                 spec, weighted, float(dropout))


def fixed_masks(rng, n_samples, hidden, rate, backend: Backend):
    """One inverted-dropout mask (n_samples, width) per hidden layer, float64 on
    ``backend``, from host numbers (None without dropout)."""
    if not rate:
        return None
    host = numpy_backend().xp
    return [backend.asarray(scaled_mask(rng.random((n_samples, width)) >= rate, rate,
                                        host.float64, host), dtype="float64")
            for width in hidden]


def _gradcheck_report(hidden, n_features, n_outputs, n_samples, seed, eps, backend, spec,
                      weighted, dropout):
    xp = backend.xp
    rng = np.random.default_rng(seed)
    params = mlp.init_params(mlp.layer_sizes(n_features, hidden, n_outputs), rng, "float64",
                             backend, spec.activation_name)
    # random biases too, so every ReLU sits well away from its kink and b-gradients are tested
    params = {name: value + backend.asarray(rng.normal(0, 0.1, tuple(value.shape)),
                                            dtype="float64")
              for name, value in params.items()}
    inputs = backend.asarray(rng.normal(size=(n_samples, n_features)), dtype="float64")
    targets = backend.asarray(HEADS[spec.head].random_targets(rng, n_samples, n_outputs))
    weights = (backend.asarray(rng.uniform(0.1, 3.0, n_samples), dtype="float64")
               if weighted else None)
    masks = fixed_masks(rng, n_samples, hidden, dropout, backend)
    _, analytic, _ = mlp.loss_and_grads(params, inputs, targets, xp, spec, weights, masks)

    errors = {}
    for name, value in params.items():
        def loss_of(candidate, name=name):
            return mlp.penalized_loss({**params, name: candidate}, inputs, targets, xp, spec,
                                      weights, masks)

        numeric = numeric_gradient(loss_of, value, xp, eps)
        errors[name] = relative_error(as_host_array(analytic[name]), numeric)
    return errors


def gradcheck(hidden=(5,), n_features=4, n_classes=3, n_samples=7, seed=0, eps=1e-6,
              backend: Backend | None = None, **options) -> float:
    """Max relative error of the MLP's analytic gradients against finite differences.

    Parameters
    ----------
    hidden : tuple of int, default=(5,)
        The hidden layers' widths.
    n_features : int, default=4
        The inputs' width.
    n_classes : int, default=3
        The number of classes (softmax), or of outputs (the other heads).
    n_samples : int, default=7
        The batch's rows.
    seed : int, default=0
        Seeds the parameters, the batch and its targets.
    eps : float, default=1e-6
        The finite differences' step.
    backend : Backend or None, default=None
        The namespace and device to check on; None: NumPy.
    **options
        activation, head, alpha, weighted, dropout, as ``gradcheck_report``.

    Returns
    -------
    float
        The largest relative error over the parameters (about 1e-9 when the gradients are
        right).

    Examples
    --------
    >>> from xpnn import gradcheck
    >>> gradcheck(hidden=(5, 4), activation="gelu", head="logistic", alpha=0.1) < 1e-6
    True
    """
    errors = gradcheck_report(hidden, n_features, n_classes, n_samples, seed, eps, backend,
                              **options)
    return max(errors.values()) if errors else math.nan

"""A multilayer perceptron: Linear -> ReLU -> ... -> Linear -> logits.

Parameters are a dict of named arrays ``{"w1", "b1", "w2", "b2", ...}``; ``w_l`` has
shape (fan_in, fan_out) so a batch of rows maps as ``a @ w + b``. Forward returns
what backward needs (the activations); backward returns one gradient per parameter.
"""
from __future__ import annotations

import math

from . import ops
from .backend import Backend


def layer_sizes(n_features: int, hidden, n_classes: int) -> list[int]:
    """[d, h1, ..., hL, k] for an MLP with hidden widths ``hidden``."""
    return [int(n_features), *(int(h) for h in hidden), int(n_classes)]


def parameter_names(n_layers: int) -> list[str]:
    """w1, b1, w2, b2, ... in layer order."""
    return [f"{kind}{layer}" for layer in range(1, n_layers + 1) for kind in ("w", "b")]


def n_layers(params) -> int:
    return len(params) // 2


def init_params(sizes, rng, dtype: str, backend: Backend) -> dict:
    """He/Kaiming-normal weights (std sqrt(2 / fan_in), right for ReLU), zero biases.

    Drawn in float64 on the host from ``rng`` (a numpy.random.Generator), then cast and
    moved: the same seed gives bit-identical starting weights on every backend. The
    backend's device is made current: CuPy's ``zeros`` allocate on the current GPU.
    """
    with backend.activate():
        return _init_params(sizes, rng, dtype, backend)


def _init_params(sizes, rng, dtype: str, backend: Backend) -> dict:
    params = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        weights = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
        params[f"w{layer}"] = backend.asarray(weights, dtype=dtype)
        params[f"b{layer}"] = backend.xp.zeros(fan_out, dtype=backend.dtype(dtype),
                                               device=backend.device)
    return params


def forward(params, inputs, xp):
    """Logits (batch, k) and the activations [a0 = inputs, a1, ..., a_{L-1}] backward needs."""
    activations = [inputs]
    last = n_layers(params)
    hidden = inputs
    for layer in range(1, last):
        pre_activation = hidden @ params[f"w{layer}"]
        pre_activation += params[f"b{layer}"]  # in place on our own fresh product
        hidden = ops.relu(pre_activation, xp)
        activations.append(hidden)  # (batch, width of layer)
    logits = hidden @ params[f"w{last}"]
    logits += params[f"b{last}"]
    return logits, activations


def predict_logits(params, inputs, xp):
    """Forward pass without keeping activations (inference)."""
    return forward(params, inputs, xp)[0]


def backward(params, activations, grad_logits, xp) -> dict:
    """Gradients of the loss for every parameter, given d loss / d logits.

    Layer l computes z_l = a_{l-1} @ w_l + b_l and a_l = relu(z_l). With delta_l = dL/dz_l:
      dL/dw_l = a_{l-1}^T @ delta_l            (each weight w_ij touches z_j via a_i)
      dL/db_l = sum over the batch of delta_l  (b_l is added to every row)
      dL/da_{l-1} = delta_l @ w_l^T, and delta_{l-1} = that * [a_{l-1} > 0]  (ReLU gate)
    The input gradient of the first layer is never needed, so it is not computed.
    """
    grads = {}
    delta = grad_logits  # (batch, k)
    for layer in range(n_layers(params), 0, -1):
        below = activations[layer - 1]  # (batch, fan_in)
        grads[f"w{layer}"] = xp.matrix_transpose(below) @ delta
        grads[f"b{layer}"] = xp.sum(delta, axis=0)
        if layer > 1:
            delta = ops.relu_backward(delta @ xp.matrix_transpose(params[f"w{layer}"]), below, xp)
    return {name: grads[name] for name in parameter_names(n_layers(params))}


def loss_and_grads(params, inputs, labels, xp):
    """Mean cross-entropy, its gradients per parameter, and the batch's logits."""
    logits, activations = forward(params, inputs, xp)
    loss, grad_logits = ops.cross_entropy_with_grad(logits, labels, xp)
    return loss, backward(params, activations, grad_logits, xp), logits

"""A multilayer perceptron: Linear -> activation -> ... -> Linear -> output head.

Parameters are a dict of named arrays ``{"w1", "b1", "w2", "b2", ...}`` of the namespace
``xp``, in layer order; ``w_l`` has shape (fan_in, fan_out), so a batch of rows (batch,
fan_in) maps as ``a @ w + b``. Forward returns what backward needs (a ``ForwardTrace``);
backward returns one gradient per parameter, the parameters' names and shapes. The hidden
activation and the output head come from their tables (``activations.py``, ``heads.py``)
through an ``MLPSpec``; nothing here is specific to one of them. Row ``weights`` (batch,)
weigh the loss's mean (None: equal); ``masks`` are dropout's, one inverted-dropout mask
(batch, width) or None per hidden layer (None: no dropout, as in prediction).

The inputs may be a sparse batch (scipy.sparse on NumPy, cupyx.scipy.sparse on CuPy): the
two products that touch them, ``inputs @ w1`` (forward) and ``inputs^T @ delta1``
(``weight_grad``), are sparse x dense with dense results, so memory is O(nnz + batch x
width) and no (batch, n_features) block is ever built. Every other array is the namespace's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend.devices import Backend, is_sparse
from .activations import ACTIVATIONS, PRE_ACTIVATION
from .heads import HEADS
from .numerics import flush_subnormal


@dataclass(frozen=True)
class MLPSpec:
    """What the network computes, beside its parameters."""

    activation_name: str = "relu"  # the hidden activation, a key of ACTIVATIONS
    head: str = "softmax"  # a key of HEADS: softmax, logistic, identity or exp
    alpha: float = 0.0  # L2 penalty on the weights (not biases), as scikit-learn's alpha


def layer_sizes(n_features: int, hidden, n_outputs: int) -> list[int]:
    """[d, h1, ..., hL, k] for an MLP with hidden widths ``hidden``."""
    return [int(n_features), *(int(h) for h in hidden), int(n_outputs)]


def parameter_names(n_weight_layers: int) -> list[str]:
    """w1, b1, w2, b2, ... in layer order."""
    return [f"{kind}{layer}" for layer in range(1, n_weight_layers + 1) for kind in ("w", "b")]


def parameter_shapes(sizes) -> dict:
    """{"w1": (d, h1), "b1": (h1,), ...} for layer sizes [d, h1, ..., k]."""
    shapes = {}
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        shapes[f"w{layer}"], shapes[f"b{layer}"] = (fan_in, fan_out), (fan_out,)
    return shapes


def n_weight_layers(params) -> int:
    """How many (w, b) layers: scikit-learn's ``n_layers_`` counts the input layer too."""
    return len(params) // 2


def init_params(sizes, rng, dtype: str, backend: Backend, activation_name: str = "relu") -> dict:
    """Normal weights with std gain / sqrt(fan_in), zero biases, for layer sizes ``sizes``.

    The gain is the hidden activation's (``activations.py``: He's sqrt 2 for ReLU), the
    output layer's too. Drawn in float64 on the host from ``rng``, then cast and moved, so
    the same seed gives bit-identical starting weights on every backend; the backend's
    device is made current (CuPy's ``zeros`` allocate on the current GPU).
    """
    gain = ACTIVATIONS[activation_name].init_gain
    with backend.activate():
        params = {}
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            weights = rng.standard_normal((fan_in, fan_out)) * (gain / math.sqrt(fan_in))
            params[f"w{layer}"] = backend.asarray(weights, dtype=dtype)
            params[f"b{layer}"] = backend.xp.zeros(fan_out, dtype=backend.dtype(dtype),
                                                   device=backend.device)
        return params


@dataclass(frozen=True)
class ForwardTrace:
    """What a forward pass keeps for backward, by layer."""

    # [a0 = inputs, a1, ..., a_{L-1}]: what each layer multiplied, for its weight gradient
    # (with dropout, the dropped outputs a_l * m_l)
    layer_inputs: list
    # [for layers 1, ..., L-1]: what each hidden activation's backward reads: a_l itself (the
    # same array, no copy) or, for an entry that takes the pre-activation, z_l
    derivative_inputs: list
    masks: list | None = None  # dropout's masks by hidden layer; None: no dropout in this pass

    def mask(self, layer: int):
        """Hidden layer ``layer``'s (from 1) dropout mask, or None where it keeps every unit."""
        return None if self.masks is None else self.masks[layer - 1]


def forward(params, inputs, xp, spec: MLPSpec = MLPSpec(), masks=None):
    """Raw outputs (batch, k) (the logits, for a classifier) and the trace backward needs."""
    activation = ACTIVATIONS[spec.activation_name]
    keeps_pre_activation = activation.takes == PRE_ACTIVATION
    layer_inputs, derivative_inputs = [inputs], []
    last = n_weight_layers(params)
    hidden = inputs
    for layer in range(1, last):
        pre_activation = hidden @ params[f"w{layer}"]  # sparse inputs: sparse x dense
        pre_activation += params[f"b{layer}"]  # in place on our own fresh product
        hidden = activation.forward(pre_activation, xp)
        derivative_inputs.append(pre_activation if keeps_pre_activation else hidden)
        if masks is not None and masks[layer - 1] is not None:
            hidden = hidden * masks[layer - 1]  # kept units times 1/(1-p), dropped ones 0
        layer_inputs.append(hidden)  # (batch, width of layer)
    outputs = hidden @ params[f"w{last}"]  # (no hidden layer: sparse inputs too)
    outputs += params[f"b{last}"]
    return outputs, ForwardTrace(layer_inputs, derivative_inputs, masks)


def weight_grad(below, delta, xp):
    """dL/dw = below^T @ delta (fan_in, fan_out), ``below`` the layer's input: an array of
    ``xp``, or the first layer's sparse batch, whose own transpose (a scipy / cupyx matrix
    is no array-API array) times the dense delta gives the dense gradient directly."""
    transposed = below.T if is_sparse(below) else xp.matrix_transpose(below)
    return transposed @ delta


def predict_outputs(params, inputs, xp, spec: MLPSpec = MLPSpec()):
    """Forward pass for inference: raw outputs (batch, k)."""
    return forward(params, inputs, xp, spec)[0]


def backward(params, trace: ForwardTrace, grad_outputs, xp, spec: MLPSpec = MLPSpec()) -> dict:
    """Gradients of the loss for every parameter, given d loss / d outputs (batch, k).

    Layer l computes z_l = a_{l-1} @ w_l + b_l and a_l = f(z_l). With delta_l = dL/dz_l::

      dL/dw_l = a_{l-1}^T @ delta_l            (each weight w_ij touches z_j via a_i)
      dL/db_l = sum over the batch of delta_l  (b_l is added to every row)
      dL/da_{l-1} = delta_l @ w_l^T, and delta_{l-1} = that * f'(z_{l-1})

    where f' comes from what the trace kept for it: the output a_{l-1} (ReLU: its 0/1 gate;
    tanh: 1 - a^2), or z_{l-1} for an activation that takes the pre-activation (SiLU, GELU).
    With dropout the next layer multiplied d_{l-1} = a_{l-1} * m_{l-1}, so delta_l @ w_l^T
    is dL/dd_{l-1}, and dL/da_{l-1} = that * m_{l-1}, before the activation's derivative.
    The input gradient of the first layer is never needed, so it is not computed.
    """
    activation_backward = ACTIVATIONS[spec.activation_name].backward
    grads = {}
    delta = grad_outputs  # (batch, k)
    for layer in range(n_weight_layers(params), 0, -1):
        below = trace.layer_inputs[layer - 1]  # (batch, fan_in)
        grads[f"w{layer}"] = weight_grad(below, delta, xp)
        grads[f"b{layer}"] = xp.sum(delta, axis=0)
        if layer > 1:
            grad_below = delta @ xp.matrix_transpose(params[f"w{layer}"])  # dL/da_{layer-1}
            mask = trace.mask(layer - 1)
            if mask is not None:  # through the dropout mask: dropped units pass nothing back
                grad_below = grad_below * mask
            delta = activation_backward(grad_below, trace.derivative_inputs[layer - 2], xp)
    return {name: grads[name] for name in parameter_names(n_weight_layers(params))}


def l2_term(params, alpha: float, denominator, xp):
    """scikit-learn's L2 penalty (alpha / 2n) sum_l ||w_l||^2, biases not penalised; n (the
    ``denominator``) is the batch size or its summed row weights (a 0-d array)."""
    total = 0.0
    for layer in range(1, n_weight_layers(params) + 1):
        flat = xp.reshape(params[f"w{layer}"], (-1,))
        total = total + xp.vecdot(flat, flat)  # one read, no (fan_in, fan_out) temporary
    return (0.5 * alpha) * total / denominator


def add_l2_gradient(grads, params, coefficient, xp):
    """The L2 term's gradient, ``coefficient`` w_l (coefficient = alpha / n), added to each
    weight's gradient in ``grads`` (rebinding; None: no L2). The gradient of a tiny weight
    is subnormal, so the sum is flushed."""
    if coefficient is None:
        return
    for layer in range(1, n_weight_layers(params) + 1):
        penalized = grads[f"w{layer}"] + coefficient * params[f"w{layer}"]
        grads[f"w{layer}"] = flush_subnormal(penalized, xp)


def loss_denominator(inputs, weights, xp):
    """The mean's denominator: the batch size, or the summed row weights (0-d array)."""
    return float(inputs.shape[0]) if weights is None else xp.sum(weights)


def loss_and_grads(params, inputs, targets, xp, spec: MLPSpec = MLPSpec(), weights=None,
                   masks=None):
    """The head's (weighted) mean loss plus the L2 term, its gradients, and the raw outputs."""
    outputs, trace = forward(params, inputs, xp, spec, masks)
    loss, grad_outputs = HEADS[spec.head].loss_with_grad(outputs, targets, xp, weights)
    grads = backward(params, trace, grad_outputs, xp, spec)
    if spec.alpha:
        denominator = loss_denominator(inputs, weights, xp)
        add_l2_gradient(grads, params, spec.alpha / denominator, xp)
        loss = loss + l2_term(params, spec.alpha, denominator, xp)
    return loss, grads, outputs


def penalized_loss(params, inputs, targets, xp, spec: MLPSpec = MLPSpec(), weights=None,
                   masks=None):
    """The loss alone (for finite differences): head loss plus the L2 term, through the
    dropout ``masks`` if given (fixed: the same units dropped at every evaluation)."""
    outputs = forward(params, inputs, xp, spec, masks)[0]
    loss = HEADS[spec.head].loss(outputs, targets, xp, weights)
    if spec.alpha:
        loss = loss + l2_term(params, spec.alpha, loss_denominator(inputs, weights, xp), xp)
    return loss

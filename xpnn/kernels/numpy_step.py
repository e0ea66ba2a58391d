"""The training step on NumPy with reused buffers: the reference's arithmetic, no churn.

Every large array of the forward and backward passes (the gathered batch, each layer's
activations and deltas, the gradients) lives in a buffer allocated once per shape and is
written with ``out=`` / in-place operators; the optimizer update runs in one numba pass
(``fused.py``) where numba is installed. The operations, their order and their operands are
those of ``mlp.forward`` / ``mlp.backward``, ``ops`` and ``optim``, so the results are
bit-identical to the reference (``tests/test_kernels.py``); what changes is that the
allocator is not asked for, and the kernel does not fault in, megabytes of fresh pages per
step.
"""
from __future__ import annotations

import numpy as np

from . import fused
from ..heads import HEADS
from ..mlp import MLPSpec, n_layers
from ..optim import SGD, Adam

SUPPORTED_ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


def supports(spec: MLPSpec, optimizer) -> bool:
    """Whether this kernel reproduces the reference for ``spec`` and ``optimizer``."""
    if spec.activation not in SUPPORTED_ACTIVATIONS or spec.head not in HEADS:
        return False
    if isinstance(optimizer, Adam):
        return not optimizer.weight_decay or optimizer.decoupled
    return isinstance(optimizer, SGD) and not optimizer.weight_decay


class NumpyStep:
    """The kernel interface (see ``xpnn/kernels/__init__.py``) on NumPy."""

    def __init__(self, spec: MLPSpec, optimizer, xp):
        self.spec, self.optimizer, self.xp = spec, optimizer, xp
        self.buffers = {}

    def _buffer(self, name, shape, dtype):
        key = (name, tuple(shape), np.dtype(dtype))
        buffer = self.buffers.get(key)
        if buffer is None:
            buffer = self.buffers[key] = np.empty(shape, dtype=dtype)
        return buffer

    # -- gathers -------------------------------------------------------------------------

    def take(self, array, batch_idx, slot):
        out = self._buffer(f"take/{slot}", (batch_idx.shape[0], *array.shape[1:]), array.dtype)
        # mode="clip": with "raise", NumPy writes through a temporary; the indices come from
        # a permutation of the rows, so they are in range
        return np.take(array, batch_idx, axis=0, out=out, mode="clip")

    # -- the stages of a step ----------------------------------------------------------------

    def forward(self, params, inputs):
        """mlp.forward: z = a @ w; z += b; a = f(z), in each layer's own buffer."""
        rows, dtype = inputs.shape[0], inputs.dtype
        last = n_layers(params)
        activations, hidden = [inputs], inputs
        for layer in range(1, last):
            weight = params[f"w{layer}"]
            z = self._buffer(f"a{layer}", (rows, weight.shape[1]), dtype)
            np.matmul(hidden, weight, out=z)
            z += params[f"b{layer}"]
            self._activate(z)
            activations.append(z)
            hidden = z
        weight = params[f"w{last}"]
        outputs = self._buffer("outputs", (rows, weight.shape[1]), dtype)
        np.matmul(hidden, weight, out=outputs)
        outputs += params[f"b{last}"]
        return outputs, activations

    def _activate(self, z):
        """ops.relu / tanh / logistic / identity, in place."""
        name = self.spec.activation
        if name == "relu":  # z * (z > 0)
            np.multiply(z, z > 0.0, out=z)
        elif name == "tanh":
            np.tanh(z, out=z)
        elif name == "logistic":  # 0.5 * (1 + tanh(0.5 z))
            np.multiply(z, 0.5, out=z)
            np.tanh(z, out=z)
            z += 1.0
            z *= 0.5

    def _grad_from_output(self, delta, activation):
        """ops.*_backward: delta * f'(z) from the activation a = f(z), in place on delta."""
        name = self.spec.activation
        if name == "relu":
            np.multiply(delta, activation > 0.0, out=delta)
        elif name in ("tanh", "logistic"):
            factor = self._buffer("factor", activation.shape, activation.dtype)
            if name == "tanh":  # 1 - a^2
                np.multiply(activation, activation, out=factor)
                np.subtract(1.0, factor, out=factor)
            else:  # a (1 - a)
                np.subtract(1.0, activation, out=factor)
                np.multiply(activation, factor, out=factor)
            delta *= factor

    def loss_with_grad(self, outputs, targets, weights):
        """ops.cross_entropy_with_grad / squared_error_with_grad into one buffer."""
        rows, k = outputs.shape
        grad = self._buffer("grad_outputs", outputs.shape, outputs.dtype)
        if self.spec.head == "softmax":
            np.subtract(outputs, np.max(outputs, axis=1, keepdims=True), out=grad)  # shifted
            picked = grad[np.arange(rows), targets]  # the shifted logit of each row's label
            np.exp(grad, out=grad)
            row_sums = np.sum(grad, axis=1, keepdims=True)
            per_row = -(picked - np.log(row_sums)[:, 0])  # -log p of the label
            np.divide(grad, row_sums, out=grad)
            grad[np.arange(rows), targets] -= 1.0  # p - one_hot
        else:
            np.subtract(outputs, targets, out=grad)  # the residual
            per_row = np.sum(grad * grad, axis=1) / (2.0 * k)
            np.divide(grad, float(k), out=grad)
        if weights is None:
            loss = np.sum(per_row) / per_row.shape[0]
            np.divide(grad, rows, out=grad)
        else:
            total = np.sum(weights)
            loss = np.sum(per_row * weights) / total
            np.multiply(grad, (weights / total)[:, None], out=grad)
        return loss, grad

    def backward(self, params, activations, grad_outputs):
        """mlp.backward into per-parameter gradient buffers."""
        grads = {}
        delta = grad_outputs
        for layer in range(n_layers(params), 0, -1):
            below = activations[layer - 1]
            weight = params[f"w{layer}"]
            grad_w = self._buffer(f"grad/w{layer}", weight.shape, weight.dtype)
            np.matmul(below.T, delta, out=grad_w)
            bias = params[f"b{layer}"]
            grads[f"w{layer}"] = grad_w
            grads[f"b{layer}"] = np.sum(delta, axis=0,
                                        out=self._buffer(f"grad/b{layer}", bias.shape, bias.dtype))
            if layer > 1:
                below_delta = self._buffer(f"delta{layer - 1}", below.shape, below.dtype)
                np.matmul(delta, weight.T, out=below_delta)
                self._grad_from_output(below_delta, below)
                delta = below_delta
        return grads

    # -- the update ---------------------------------------------------------------------

    def update(self, params, grads, state, lr_scale):
        """optim's update; with numba (xpnn[fast]), Adam and momentum in one vectorised pass
        per parameter (``fused.py``), else the reference's own NumPy operations."""
        optimizer = self.optimizer
        arrays = [*params.values(), *grads.values()]
        if fused.available() and all(array.flags.c_contiguous for array in arrays):
            if isinstance(optimizer, Adam):
                lr, step_size, eps_hat = optimizer.step_scalars(state["step"] + 1, lr_scale)
                if step_size:  # (a rate of 0 moves nothing: the reference says how)
                    return self._fused_adam(params, grads, state, lr, step_size, eps_hat)
            elif optimizer.momentum:
                return self._fused_momentum(params, grads, state, lr_scale)
        return optimizer.update(params, grads, state, self.xp, lr_scale)

    def _fused_adam(self, params, grads, state, lr, step_size, eps_hat):
        optimizer = self.optimizer
        b1, b2, decay = float(optimizer.beta1), float(optimizer.beta2), float(
            optimizer.weight_decay)
        for name, param in params.items():
            if decay:  # AdamW's shrink first, as the reference
                param *= 1.0 - lr * decay
            cast = param.dtype.type  # the scalars as NumPy casts Python floats
            fused.adam(param.reshape(-1), grads[name].reshape(-1), state["m"][name].reshape(-1),
                       state["v"][name].reshape(-1), cast(b1), cast(1.0 - b1), cast(b2),
                       cast(1.0 - b2), cast(eps_hat), cast(1.0 / step_size))
        return params, {"step": state["step"] + 1, "m": state["m"], "v": state["v"]}

    def _fused_momentum(self, params, grads, state, lr_scale):
        optimizer = self.optimizer
        lr, mu = float(optimizer.lr) * lr_scale, float(optimizer.momentum)
        for name, param in params.items():
            cast = param.dtype.type
            fused.momentum(param.reshape(-1), grads[name].reshape(-1),
                           state["momentum"][name].reshape(-1), cast(mu), cast(lr),
                           bool(optimizer.nesterov))
        return params, {"step": state["step"] + 1, "momentum": state["momentum"]}

"""The training step on NumPy with reused buffers: the reference's arithmetic, no churn.

Every large array of a step (the gathered batch, each layer's activations and deltas, the
gradients, the optimizer's temporaries) lives in a buffer allocated once per shape and
written with ``out=`` / in-place operators. The operations, their order and their operands
are those of ``mlp.forward`` / ``mlp.backward``, ``ops`` and ``optim``, so the results are
bit-identical to the reference (``tests/test_kernels.py``); what changes is that the
allocator is not asked for, and the kernel does not fault in, ~5 MB of fresh pages per
step, which cost from a third to twice an epoch depending on glibc's trim state.
"""
from __future__ import annotations

import numpy as np

from . import fused
from ..heads import HEADS
from ..mlp import MLPSpec, n_layers
from ..optim import SGD, Adam

SUPPORTED_ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


def _contiguous(*arrays) -> bool:
    return all(array.flags.c_contiguous for array in arrays)


def supports(spec: MLPSpec, optimizer) -> bool:
    """Whether this kernel reproduces the reference for ``spec`` and ``optimizer``."""
    if spec.activation not in SUPPORTED_ACTIVATIONS or spec.head not in HEADS:
        return False
    if isinstance(optimizer, Adam):
        return not optimizer.weight_decay or optimizer.decoupled
    return isinstance(optimizer, SGD) and not optimizer.weight_decay


class NumpyStep:
    """``take`` and ``step`` of the kernel interface (see ``xpnn/kernels/__init__.py``)."""

    def __init__(self, spec: MLPSpec, optimizer):
        self.spec, self.optimizer = spec, optimizer
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

    # -- the step --------------------------------------------------------------------------

    def step(self, params, opt_state, inputs, targets, weights, lr_scale):
        outputs, activations = self._forward(params, inputs)
        loss, grad_outputs = self._loss_with_grad(outputs, targets, weights)
        grads = self._backward(params, activations, grad_outputs)
        if self.spec.alpha:
            loss = self._add_l2(loss, grads, params, inputs, weights)
        params, opt_state = self._update(params, grads, opt_state, lr_scale)
        return params, opt_state, loss, outputs

    def _forward(self, params, inputs):
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

    def _loss_with_grad(self, outputs, targets, weights):
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

    def _backward(self, params, activations, grad_outputs):
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

    def _add_l2(self, loss, grads, params, inputs, weights):
        """mlp.add_l2: loss + (alpha/2) sum ||w||^2 / n; grad_w += (alpha / n) w."""
        alpha = self.spec.alpha
        denominator = float(inputs.shape[0]) if weights is None else np.sum(weights)
        total = 0.0
        for layer in range(1, n_layers(params) + 1):
            weight = params[f"w{layer}"]
            scratch = self._buffer(f"scratch/w{layer}", weight.shape, weight.dtype)
            np.multiply(weight, alpha / denominator, out=scratch)
            grads[f"w{layer}"] += scratch
        for layer in range(1, n_layers(params) + 1):
            weight = params[f"w{layer}"]
            scratch = self._buffer(f"scratch/w{layer}", weight.shape, weight.dtype)
            np.multiply(weight, weight, out=scratch)
            total = total + np.sum(scratch)
        return loss + (0.5 * alpha) * total / denominator

    # -- the optimizers (optim.SGD / optim.Adam, the same operations in place) ----------------

    def _update(self, params, grads, state, lr_scale):
        if isinstance(self.optimizer, Adam):
            return self._adam(params, grads, state, lr_scale)
        return self._sgd(params, grads, state, lr_scale)

    def _adam(self, params, grads, state, lr_scale):
        optimizer = self.optimizer
        step = state["step"] + 1
        lr, step_size, eps_hat = optimizer.step_scalars(step, lr_scale)
        b1, b2, decay = float(optimizer.beta1), float(optimizer.beta2), float(
            optimizer.weight_decay)
        first, second = state["m"], state["v"]
        for name, param in params.items():
            grad, m, v = grads[name], first[name], second[name]
            if decay:
                param *= 1.0 - lr * decay
            if fused.available() and step_size and _contiguous(param, grad, m, v):
                # one vectorised pass (xpnn[fast]); scalars cast as NumPy casts Python floats
                cast = param.dtype.type
                fused.adam(param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                           cast(b1), cast(1.0 - b1), cast(b2), cast(1.0 - b2), cast(eps_hat),
                           cast(1.0 / step_size))
                continue
            scratch = self._buffer(f"scratch/{name}", param.shape, param.dtype)
            np.multiply(grad, grad, out=scratch)
            scratch *= 1.0 - b2
            v *= b2
            v += scratch
            grad *= 1.0 - b1
            m *= b1
            m += grad
            if not step_size:  # a learning rate of 0 moves nothing (as the reference)
                continue
            np.sqrt(v, out=scratch)
            scratch += eps_hat
            scratch *= 1.0 / step_size
            np.divide(m, scratch, out=scratch)
            param -= scratch
        return params, {"step": step, "m": first, "v": second}

    def _sgd(self, params, grads, state, lr_scale):
        optimizer = self.optimizer
        lr, mu = float(optimizer.lr) * lr_scale, float(optimizer.momentum)
        buffers = state.get("momentum")
        for name, param in params.items():
            grad = grads[name]
            if mu and fused.available() and _contiguous(param, grad, buffers[name]):
                cast = param.dtype.type
                fused.momentum(param.reshape(-1), grad.reshape(-1), buffers[name].reshape(-1),
                               cast(mu), cast(lr), bool(optimizer.nesterov))
                continue
            scratch = self._buffer(f"scratch/{name}", param.shape, param.dtype)
            if mu:
                buf = buffers[name]
                buf *= mu
                buf += grad
                if optimizer.nesterov:  # grad + mu * buf
                    np.multiply(buf, mu, out=scratch)
                    scratch += grad
                    grad = scratch
                else:
                    grad = buf
            np.multiply(grad, lr, out=scratch)
            param -= scratch
        new_state = {"step": state["step"] + 1}
        if mu:
            new_state["momentum"] = buffers
        return params, new_state

"""The training step on NumPy with reused buffers: the reference's arithmetic, no churn.

Every large array of the forward and backward passes (the gathered batch, each layer's
activations and deltas, the gradients) lives in a buffer allocated once per shape and is
written with ``out=`` / in-place operators; the optimizer update runs in one numba pass
(``fused.py``) where numba is installed, from the step after its background load ends (NumPy
in place before: the same bits). The operations, their order and their operands are
those of ``mlp.forward`` / ``mlp.backward``, ``ops`` and ``optim``, so the results are
bit-identical to the reference (``tests/test_kernels.py``); what changes is that the
allocator is not asked for, and the kernel does not fault in, megabytes of fresh pages per
step.

A sparse batch (scipy CSR rows, ``batches.rows_on_device``) takes the first layer's
``inputs @ w1`` from the reference itself (scipy's sparse x dense; a small fresh (batch, h1)
array), and its weight gradient ``inputs^T @ delta1`` from numba's copy of scipy's loop into
the gradient's buffer (``fused.sparse_weight_grad``; scipy's own product without numba):
the same operations, so the same bits. Every other stage runs as for dense rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..backend.devices import is_sparse
from ..core import ops
from ..core.activations import ACTIVATIONS as REFERENCE_ACTIVATIONS
from ..core.activations import OUTPUT
from ..core.mlp import ForwardTrace, MLPSpec, n_weight_layers, weight_grad
from ..core.numerics import weight_floor
from . import fused

# float dtype -> (its unsigned integer of the same width, the mask that drops the sign bit)
_MAGNITUDE_BITS = {np.dtype(np.float32): (np.uint32, np.uint32(0x7FFF_FFFF)),
                   np.dtype(np.float64): (np.uint64, np.uint64(0x7FFF_FFFF_FFFF_FFFF))}

# -- the kernel's variants: tables keyed like activations.ACTIVATIONS, heads.HEADS and the
# optimizers' ``kind``; a name with no entry runs the reference step (``build``) --------


def _relu(z):  # ops.relu: z * (z > 0)
    np.multiply(z, z > 0.0, out=z)


def _logistic(z):  # ops.logistic: 0.5 * (1 + tanh(0.5 z))
    np.multiply(z, 0.5, out=z)
    np.tanh(z, out=z)
    z += 1.0
    z *= 0.5


def _leaky_relu(z):  # ops.leaky_relu: where(z > 0, z, 0.01 z)
    np.multiply(z, ops.LEAKY_RELU_SLOPE, out=z, where=np.logical_not(z > 0.0))


def _elu(z):  # ops.elu: where(z > 0, z, expm1(min(z, 0)))
    np.expm1(z, out=z, where=np.logical_not(z > 0.0))


def _relu_grad(delta, activation, scratch):
    np.multiply(delta, activation > 0.0, out=delta)


def _leaky_relu_grad(delta, activation, scratch):  # where(a > 0, delta, 0.01 delta)
    np.multiply(delta, ops.LEAKY_RELU_SLOPE, out=delta, where=np.logical_not(activation > 0.0))


def _elu_grad(delta, activation, scratch):  # where(a > 0, delta, delta (a + 1))
    factor = scratch(activation)
    np.add(activation, 1.0, out=factor)
    np.multiply(delta, factor, out=delta, where=np.logical_not(activation > 0.0))


def _tanh_grad(delta, activation, scratch):  # 1 - a^2
    factor = scratch(activation)
    np.multiply(activation, activation, out=factor)
    np.subtract(1.0, factor, out=factor)
    delta *= factor


def _logistic_grad(delta, activation, scratch):  # a (1 - a)
    factor = scratch(activation)
    np.subtract(1.0, activation, out=factor)
    np.multiply(activation, factor, out=factor)
    delta *= factor


@dataclass(frozen=True)
class InPlaceActivation:
    """An activation's forward and its ``ops.*_backward``, in place, the same operations.
    The derivative reads the output (the buffer forward overwrote), so only activations
    whose reference backward takes the output have entries (``build``)."""

    forward: Callable  # (z) -> None: z becomes f(z)
    grad_from_output: Callable  # (delta, a, scratch) -> None: delta becomes delta * f'(z)


ACTIVATIONS = {
    "relu": InPlaceActivation(_relu, _relu_grad),
    "tanh": InPlaceActivation(lambda z: np.tanh(z, out=z), _tanh_grad),
    "logistic": InPlaceActivation(_logistic, _logistic_grad),
    "identity": InPlaceActivation(lambda z: None, lambda delta, a, scratch: None),
    "leaky_relu": InPlaceActivation(_leaky_relu, _leaky_relu_grad),
    "elu": InPlaceActivation(_elu, _elu_grad),
}  # softplus, silu, gelu: the reference (a buffer of z or a temporary per layer; not yet)


def _cross_entropy(outputs, targets, grad):
    """ops.cross_entropy_with_grad's per-row loss; grad becomes p - one_hot (unscaled)."""
    rows = np.arange(outputs.shape[0])
    np.subtract(outputs, np.max(outputs, axis=1, keepdims=True), out=grad)  # shifted
    picked = grad[rows, targets]  # the shifted logit of each row's label
    np.exp(grad, out=grad)
    row_sums = np.sum(grad, axis=1, keepdims=True)
    per_row = -(picked - np.log(row_sums)[:, 0])  # -log p of the label
    np.divide(grad, row_sums, out=grad)
    grad[rows, targets] -= 1.0
    return per_row


def _squared_error(outputs, targets, grad):
    """ops.squared_error_with_grad's per-row loss; grad becomes the residual / k."""
    k = outputs.shape[1]
    np.subtract(outputs, targets, out=grad)  # the residual
    per_row = np.sum(grad * grad, axis=1) / (2.0 * k)
    np.divide(grad, float(k), out=grad)
    return per_row


def _binary_cross_entropy(outputs, targets, grad):
    """ops.binary_cross_entropy_with_grad's per-row loss, softplus(z) - t z summed over the
    outputs; grad becomes sigmoid(z) - t, as ops.logistic computes sigmoid."""
    per_row = np.sum(ops.softplus(outputs, np) - targets * outputs, axis=1)
    np.multiply(outputs, 0.5, out=grad)
    np.tanh(grad, out=grad)
    grad += 1.0
    grad *= 0.5
    grad -= targets
    return per_row


def _half_poisson_deviance(outputs, targets, grad):
    """ops.half_poisson_deviance_with_grad's per-row loss (outputs: log means); grad becomes
    exp(z) - y."""
    np.exp(outputs, out=grad)
    per_row = np.sum(ops.xlogx(targets, np) - targets * outputs - targets + grad, axis=1)
    grad -= targets
    return per_row


# head -> (outputs, targets, grad buffer) -> per-row loss, grad filled before row weighting
LOSSES = {"softmax": _cross_entropy, "logistic": _binary_cross_entropy,
          "identity": _squared_error, "exp": _half_poisson_deviance}


class FlatArrays:
    """Per-parameter arrays as views of one flat buffer per kind ("params", "grads" and each
    optimizer slot), the weights first and then the biases, so that the fused update runs
    over every parameter in two calls (weights with the L2 gradient, biases without)
    instead of two per layer: numba's call costs more Python than its loop at these sizes.
    Arrays handed in from elsewhere (a fresh optimizer state, a snapshot restored after
    Ctrl-C) are copied in once (``adopt``) and the views go back in their place."""

    def __init__(self, params, kinds):
        self.names = sorted(params, key=lambda name: (not name.startswith("w"), name))
        self.key = self.key_of(params)
        self.dtype = params[self.names[0]].dtype
        sizes = [params[name].size for name in self.names]
        offsets = np.cumsum([0, *sizes])
        self.n_weights = int(sum(size for name, size in zip(self.names, sizes)
                                 if name.startswith("w")))
        self.buffers, self.views = {}, {}
        for kind in kinds:
            flat = self.buffers[kind] = np.zeros(int(offsets[-1]), dtype=self.dtype)
            self.views[kind] = {name: flat[start:stop].reshape(params[name].shape)
                                for name, start, stop in zip(self.names, offsets[:-1],
                                                             offsets[1:])}

    @staticmethod
    def key_of(params) -> tuple:
        return tuple((name, value.shape, value.dtype) for name, value in params.items())

    def holds(self, kind, arrays) -> bool:
        views = self.views[kind]
        return all(arrays[name] is views[name] for name in self.names)

    def adopt(self, kind, arrays) -> dict:
        """The views of ``kind`` holding ``arrays``' values (copied in unless they are the
        views already)."""
        if not self.holds(kind, arrays):
            for name in self.names:
                np.copyto(self.views[kind][name], arrays[name])
        return dict(self.views[kind])

    def segments(self, kinds, merged: bool) -> list:
        """[(l2_count, {kind: flat 1-d array})], l2_count the leading entries that take the
        L2 gradient: the weights, then the biases (numba's pass adds it to a whole segment
        or none); ``merged``, all of them as one segment (NumPy's in-place update: half the
        calls)."""
        split = self.n_weights
        if merged:
            return [(split, {kind: self.buffers[kind] for kind in kinds})]
        return [(split, {kind: self.buffers[kind][:split] for kind in kinds}),
                (0, {kind: self.buffers[kind][split:] for kind in kinds})]


def _fused_adam(optimizer, step, rate_factor, l2, dtype):
    """mlp.add_l2_gradient (``l2`` = alpha / n, or None) and optim.Adam.update of 1-based
    ``step`` as numba's one pass over a segment's flat arrays: ``run(l2_count, arrays)``
    (the L2 gradient in every entry of the segment, or none: ``l2_count`` 0)."""
    lr, alpha_t = optimizer.step_numbers(step, rate_factor)
    b1, b2, decay = float(optimizer.beta1), float(optimizer.beta2), float(
        optimizer.weight_decay)
    cast = dtype.type  # the numbers as NumPy casts Python floats
    numbers = (cast(b1), cast(1.0 - b1), cast(b2), cast(1.0 - b2), cast(optimizer.eps),
               cast(alpha_t))
    shrink, l2_cast = cast(1.0 - lr * decay), cast(l2 or 0.0)
    tiny, floor = np.finfo(dtype).tiny, cast(weight_floor(dtype, np))

    def run(l2_count, arrays):
        adds_l2 = bool(l2_count) and l2 is not None
        fused.adam(arrays["params"], arrays["grads"], arrays["m"], arrays["v"], *numbers,
                   l2_cast if adds_l2 else cast(0.0), shrink, tiny, floor, adds_l2,
                   bool(decay))  # AdamW's shrink: decay
    return run


def _fused_momentum(optimizer, step, rate_factor, l2, dtype):
    """mlp.add_l2_gradient and optim.SGD.update with momentum (heavy ball or Nesterov) as
    numba's one pass over a segment's flat arrays, or None without momentum (the reference's
    update runs)."""
    if not optimizer.momentum:
        return None
    cast = dtype.type
    (lr,) = optimizer.step_numbers(step, rate_factor)
    mu, lr = cast(optimizer.momentum), cast(lr)
    tiny, floor = np.finfo(dtype).tiny, cast(weight_floor(dtype, np))
    l2_cast = cast(l2 or 0.0)

    def run(l2_count, arrays):
        adds_l2 = bool(l2_count) and l2 is not None
        fused.momentum(arrays["params"], arrays["grads"], arrays["velocity"], mu, lr, tiny,
                       floor, bool(optimizer.nesterov), l2_cast if adds_l2 else cast(0.0), adds_l2)
    return run


# optimizer kind -> fused update, or None (declined: the reference's update runs)
FUSED_UPDATES = {"adam": _fused_adam, "sgd": _fused_momentum}


def _leading(array, count):
    """The first ``count`` entries of a flat buffer, or the whole array (any shape) when
    that is all of them; None when none."""
    if not count:
        return None
    return array if count == array.size else array[:count]


def _inplace_adam(step_kernel, step, rate_factor, l2):
    """mlp.add_l2_gradient and optim.Adam.update without numba, as ``run(l2_count, arrays)``
    over one parameter array (or the flat buffers) and its state, the L2 gradient in its
    first ``l2_count`` entries: the formulas in place, in their order of operations (bit for
    bit), scratch buffers reused per shape."""
    optimizer = step_kernel.optimizer
    lr, alpha_t = optimizer.step_numbers(step, rate_factor)
    b1, b2, eps = float(optimizer.beta1), float(optimizer.beta2), float(optimizer.eps)
    shrink = 1.0 - lr * float(optimizer.weight_decay)

    def run(l2_count, arrays):
        param, grad, m, v = arrays["params"], arrays["grads"], arrays["m"], arrays["v"]
        step_kernel._add_l2(_leading(param, l2_count), _leading(grad, l2_count), l2)
        tiny = np.finfo(param.dtype).tiny
        update = step_kernel._buffer("update", param.shape, param.dtype)
        denominator = step_kernel._buffer("denominator", param.shape, param.dtype)
        if optimizer.weight_decay:  # AdamW: p = p (1 - lr weight_decay)
            param *= shrink
        m *= b1  # m = b1 m + (1 - b1) g
        m += np.multiply(grad, 1.0 - b1, out=update)
        step_kernel._flush_below(m, tiny)
        v *= b2  # v = b2 v + (1 - b2) (g g)
        np.multiply(grad, grad, out=update)
        update *= 1.0 - b2
        v += update
        step_kernel._flush_below(v, tiny)
        np.multiply(m, alpha_t, out=update)  # p -= alpha_t m / (sqrt(v) + eps)
        np.sqrt(v, out=denominator)
        denominator += eps
        update /= denominator
        param -= update
        step_kernel._flush_below(param, weight_floor(param.dtype, np))
    return run


def _inplace_momentum(step_kernel, step, rate_factor, l2):
    """mlp.add_l2_gradient and optim.SGD.update with momentum without numba, in place and bit
    for bit, as ``run(l2_count, arrays)``; None without momentum (the reference's update
    runs)."""
    optimizer = step_kernel.optimizer
    if not optimizer.momentum:
        return None
    (lr,) = optimizer.step_numbers(step, rate_factor)
    mu = float(optimizer.momentum)

    def run(l2_count, arrays):
        param, grad, velocity = arrays["params"], arrays["grads"], arrays["velocity"]
        step_kernel._add_l2(_leading(param, l2_count), _leading(grad, l2_count), l2)
        scaled = step_kernel._buffer("update", param.shape, param.dtype)
        np.multiply(grad, lr, out=scaled)  # lr g
        velocity *= mu  # velocity = mu velocity - lr g
        velocity -= scaled
        step_kernel._flush_below(velocity, np.finfo(param.dtype).tiny)
        if optimizer.nesterov:  # p += mu velocity - lr g
            step_of_p = step_kernel._buffer("denominator", param.shape, param.dtype)
            np.multiply(velocity, mu, out=step_of_p)
            step_of_p -= scaled
            param += step_of_p
        else:  # p += velocity
            param += velocity
        step_kernel._flush_below(param, weight_floor(param.dtype, np))
    return run


# optimizer kind -> its update in place without numba, ``run(l2_count, arrays)`` as the
# fused ones (declines: the reference's runs)
INPLACE_UPDATES = {"adam": _inplace_adam, "sgd": _inplace_momentum}


def build(spec: MLPSpec, optimizer, xp, plan: tuple = (0, 0)):
    """The kernel for ``spec`` and ``optimizer``, or None when a table lacks an entry (or
    the activation's derivative takes its pre-activation, which forward overwrites here);
    ``plan``: (steps, parameters) of the fit (numba's update is loaded when the process's
    fits plan enough: ``fused.plan``)."""
    if (spec.activation_name not in ACTIVATIONS or spec.head not in LOSSES
            or REFERENCE_ACTIVATIONS[spec.activation_name].takes != OUTPUT):
        return None
    if optimizer.kind in FUSED_UPDATES:  # numba's update from the step after it loads
        fused.plan(*plan)
    return NumpyStep(spec, optimizer, xp)


class NumpyStep:
    """The kernel interface (see ``xpnn/kernels/__init__.py``) on NumPy."""

    def __init__(self, spec: MLPSpec, optimizer, xp):
        self.spec, self.optimizer, self.xp = spec, optimizer, xp
        self.activation = ACTIVATIONS[spec.activation_name]
        self.loss = LOSSES[spec.head]
        self.fused_update = FUSED_UPDATES.get(optimizer.kind)
        self.buffers = {}
        self.flat = None  # FlatArrays of the parameters' layout, made at the first backward

    def _flat(self, params) -> FlatArrays:
        if self.flat is not None and self.flat.holds("params", params):
            return self.flat
        if self.flat is None or self.flat.key != FlatArrays.key_of(params):
            self.flat = FlatArrays(params, ("params", "grads", *self.optimizer.state_slots))
        return self.flat

    def _buffer(self, name, shape, dtype):
        key = (name, tuple(shape), np.dtype(dtype))
        buffer = self.buffers.get(key)
        if buffer is None:
            buffer = self.buffers[key] = np.empty(shape, dtype=dtype)
        return buffer

    def _scratch(self, like):
        return self._buffer("factor", like.shape, like.dtype)

    # -- gathers -------------------------------------------------------------------------

    def take(self, array, batch_idx, slot, dtype=None, scaling=None):
        """rows.reference_take into reused buffers: the rows, cast, then scaled in place."""
        shape = (batch_idx.shape[0], *array.shape[1:])
        out = self._buffer(f"take/{slot}", shape, array.dtype)
        # mode="clip": with "raise", NumPy writes through a temporary; the indices come from
        # a permutation of the rows, so they are in range
        rows = np.take(array, batch_idx, axis=0, out=out, mode="clip")
        if dtype is not None and rows.dtype != dtype:  # uint8 rows -> the training dtype
            rows = self._buffer(f"cast/{slot}", shape, dtype)
            np.copyto(rows, out, casting="unsafe")
        if scaling is not None:  # rows.scaled: (x - shift) * factor
            shift, factor = scaling
            if shift is not None:
                rows -= shift
            rows *= factor
        return rows

    # -- the stages of a step ----------------------------------------------------------------

    def forward(self, params, inputs, masks=None):
        """mlp.forward: z = a @ w; z += b; a = f(z), in each layer's own buffer; with a
        dropout mask m, the next layer takes a * m from a buffer of its own (backward's
        derivative reads a)."""
        rows, dtype = inputs.shape[0], inputs.dtype
        last = n_weight_layers(params)
        activations, outputs_of_f, hidden = [inputs], [], inputs
        for layer in range(1, last):
            weight = params[f"w{layer}"]
            if is_sparse(hidden):  # a sparse batch: mlp.forward's sparse x dense product
                z = hidden @ weight
            else:
                z = self._buffer(f"a{layer}", (rows, weight.shape[1]), dtype)
                np.matmul(hidden, weight, out=z)
            z += params[f"b{layer}"]
            self.activation.forward(z)
            outputs_of_f.append(z)
            hidden = z
            mask = None if masks is None else masks[layer - 1]
            if mask is not None:  # mlp.forward's hidden * mask
                hidden = np.multiply(z, mask, out=self._buffer(f"dropped{layer}", z.shape,
                                                               dtype))
            activations.append(hidden)
        weight = params[f"w{last}"]
        if is_sparse(hidden):  # no hidden layer: the output layer takes the sparse batch
            outputs = hidden @ weight
        else:
            outputs = self._buffer("outputs", (rows, weight.shape[1]), dtype)
            np.matmul(hidden, weight, out=outputs)
        outputs += params[f"b{last}"]
        return outputs, ForwardTrace(activations, outputs_of_f, masks)  # derivatives: from a

    def loss_with_grad(self, outputs, targets, weights):
        """The head's loss and d loss / d outputs into one buffer, weighted as ops'."""
        rows = outputs.shape[0]
        grad = self._buffer("grad_outputs", outputs.shape, outputs.dtype)
        per_row = self.loss(outputs, targets, grad)
        if weights is None:
            loss = np.sum(per_row) / per_row.shape[0]
            np.divide(grad, rows, out=grad)
        else:
            total = np.sum(weights)
            loss = np.sum(per_row * weights) / total
            np.multiply(grad, (weights / total)[:, None], out=grad)
        return loss, grad

    def backward(self, params, trace, grad_outputs):
        """mlp.backward into per-parameter gradient buffers (views of one flat buffer)."""
        grads = {}
        delta = grad_outputs
        flat_grads = self._flat(params).views["grads"]
        for layer in range(n_weight_layers(params), 0, -1):
            below = trace.layer_inputs[layer - 1]
            weight = params[f"w{layer}"]
            if is_sparse(below):  # the first layer's sparse batch
                grad_w = self._sparse_weight_grad(below, delta, weight)
            else:
                grad_w = flat_grads[f"w{layer}"]
                np.matmul(below.T, delta, out=grad_w)
            grads[f"w{layer}"] = grad_w
            grads[f"b{layer}"] = np.sum(delta, axis=0,
                                        out=flat_grads[f"b{layer}"])
            if layer > 1:
                below_delta = self._buffer(f"delta{layer - 1}", below.shape, below.dtype)
                np.matmul(delta, weight.T, out=below_delta)
                mask = trace.mask(layer - 1)
                if mask is not None:  # mlp.backward's grad_below * mask
                    below_delta *= mask
                self.activation.grad_from_output(
                    below_delta, trace.derivative_inputs[layer - 2], self._scratch)
                delta = below_delta
        return grads

    def _sparse_weight_grad(self, below, delta, weight):
        """mlp.weight_grad of a CSR batch: with numba, scipy's csr.T @ delta loop (the same
        operations in the same order) into the gradient's buffer; else scipy's product."""
        arrays = (below.data, delta, weight)
        if not (fused.available() and below.format == "csr"
                and all(array.dtype == weight.dtype for array in arrays)
                and all(array.flags.c_contiguous for array in arrays)
                and below.indptr.dtype == below.indices.dtype):
            return weight_grad(below, delta, self.xp)
        grad_w = self.flat.views["grads"]["w1"]
        fused.sparse_weight_grad(below.indptr, below.indices, below.data, delta, grad_w)
        return grad_w

    # -- the update ---------------------------------------------------------------------

    def update(self, params, grads, state, rate_factor, l2=None):
        """The L2 gradient ``l2`` w (alpha / n), then optim's update; with numba
        (xpnn[fast]), both in the optimizer kind's fused pass (``FUSED_UPDATES``,
        ``fused.py``) as it reads each weight, where it takes these settings, else the L2
        gradient in place and the reference's update: the reference's operations either
        way, without two fresh (fan_in, fan_out) temporaries per weight and step."""
        step = state["step"] + 1
        if self.fused_update is not None and fused.available():
            run = self.fused_update(self.optimizer, step, rate_factor, l2,
                                    next(iter(params.values())).dtype)
            updated = None if run is None else self._run_over(run, params, grads, state,
                                                              step, flat_only=True)
            if updated is not None:
                return updated
        inplace = INPLACE_UPDATES.get(self.optimizer.kind)
        run = None if inplace is None else inplace(self, step, rate_factor, l2)
        if run is not None:  # the arrays updated where they are
            return self._run_over(run, params, grads, state, step)
        self._add_l2_gradient(params, grads, l2)
        return self.optimizer.update(params, grads, state, self.xp, rate_factor)

    def _run_over(self, run, params, grads, state, step, flat_only=False):
        """(params, opt_state) after ``run(l2_count, arrays)``, an update pass, over the flat
        buffers (NumPy's in place: one pass over all of them; numba's, ``flat_only``: two,
        the weights and the biases) or each parameter's arrays (numba's flattened, so None
        where one is not contiguous)."""
        slots = self.optimizer.state_slots
        flat = self.flat
        if flat is not None and flat.holds("grads", grads):
            # backward's gradients (so params have the flat layout)
            params = flat.adopt("params", params)
            new_slots = {slot: flat.adopt(slot, state[slot]) for slot in slots}
            for l2_count, arrays in flat.segments(("params", "grads", *slots),
                                                  merged=not flat_only):
                run(l2_count, arrays)
            return params, {"step": step, **new_slots}
        per_name = [(name, {"params": params[name], "grads": grads[name],
                            **{slot: state[slot][name] for slot in slots}})
                    for name in params]
        if flat_only:
            if not all(array.flags.c_contiguous for _, arrays in per_name
                       for array in arrays.values()):
                return None
            per_name = [(name, {kind: array.reshape(-1) for kind, array in arrays.items()})
                        for name, arrays in per_name]
        for name, arrays in per_name:  # e.g. gradients summed over MPI ranks
            run(arrays["params"].size if name.startswith("w") else 0, arrays)
        return params, {"step": step, **{slot: state[slot] for slot in slots}}

    def _add_l2_gradient(self, params, grads, l2):
        """mlp.add_l2_gradient in place: flush(grad + l2 w) for each weight; None: no L2."""
        for name, param in params.items():
            if name.startswith("w"):
                self._add_l2(param, grads[name], l2)

    def _add_l2(self, param, grad, l2):
        """flush(grad + l2 param) in place for one weight array; l2 None: no L2 (param None:
        no weights)."""
        if l2 is None or param is None:
            return
        grad += np.multiply(param, l2, out=self._scratch(param))
        self._flush_below(grad, np.finfo(grad.dtype).tiny)

    def _flush_below(self, array, floor):
        """numerics.flush_below in place: x times 0 where |x| < floor (its signed zero).

        The test reads the bits: |x| as an unsigned integer (the sign bit masked off) is below
        floor's exactly where |x| is, and minus 1 it wraps for 0, which needs no flush (0
        times 0 is itself), so one compare finds what would change; NaN's bits are above
        every floor's, as they are in ``flush_below``. The masked multiply, ten times a
        plain pass, runs only when something is there to flush."""
        unsigned = _MAGNITUDE_BITS.get(array.dtype)
        if unsigned is None or not array.flags.c_contiguous:
            scratch = self._buffer("flush", array.shape, array.dtype)
            np.abs(array, out=scratch)
            np.multiply(array, 0.0, out=array, where=scratch < floor)
            return
        kind, sign_off = unsigned
        magnitude = self._buffer("flush_bits", array.shape, kind)
        np.bitwise_and(array.view(kind), sign_off, out=magnitude)
        magnitude -= 1
        below = self._buffer("flush_mask", array.shape, np.bool_)
        np.less(magnitude, int(np.array(floor, array.dtype).view(kind)) - 1, out=below)
        if below.any():
            np.multiply(array, 0.0, out=array, where=below)

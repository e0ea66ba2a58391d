"""Pure math on xp arrays: activations, softmax, the losses, and their gradients.

Every function takes the array namespace ``xp`` from the caller and never calls NumPy, so the
same code runs on NumPy, CuPy, torch, JAX and array-api-strict. An activation maps z (any
shape) elementwise; its ``*_backward(grad_out, a, xp)`` takes dL/da and the output a = f(z)
(or z, where named ``pre_activation``) and returns dL/dz, the shape of ``grad_out``. A loss
takes raw outputs (batch, k) (logits for classification), targets (integer labels (batch,)
or values (batch, k)) and optional row ``weights`` (batch,), None weighing rows equally, and
returns the (weighted) mean over rows as a 0-d array; ``*_with_grad`` returns it with
d loss / d outputs, the shape of the outputs. Each gradient sits beside its forward.
"""
from __future__ import annotations

import math

from ..backend.devices import device_of


def relu(z, xp):
    """max(z, 0) as z times its 0/1 mask, so NaN stays NaN (for the divergence guard)."""
    return z * xp.astype(z > 0.0, z.dtype)


def relu_backward(grad_out, activation, xp):
    """1 where z > 0, else 0; relu(z) > 0 exactly where z > 0, so the output decides.
    (A multiply by the 0/1 mask is several times faster than ``where`` on NumPy.)"""
    return grad_out * xp.astype(activation > 0.0, grad_out.dtype)


def tanh(z, xp):
    return xp.tanh(z)


def tanh_backward(grad_out, activation, xp):
    """d tanh(z)/dz = 1 - tanh(z)^2 = 1 - a^2."""
    return grad_out * (1.0 - activation * activation)


def logistic(z, xp):
    """The sigmoid 1 / (1 + exp(-z)) as (1 + tanh(z/2)) / 2, which never overflows."""
    return 0.5 * (1.0 + xp.tanh(0.5 * z))


def logistic_probability(z, xp):
    """The sigmoid as exp(-softplus(-z)), to full relative precision in both tails: a
    probability of 1e-20 stays 1e-20 where the tanh form rounds it to 0 (as scikit-learn's
    expit); the logistic head's probabilities."""
    return xp.exp(-softplus(-z, xp))


def logistic_backward(grad_out, activation, xp):
    """d sigma(z)/dz = sigma(z) (1 - sigma(z)) = a (1 - a)."""
    return grad_out * (activation * (1.0 - activation))


def identity(z, xp):
    return z


def identity_backward(grad_out, activation, xp):
    return grad_out


LEAKY_RELU_SLOPE = 0.01  # scikit-learn's name, torch's default negative_slope


def leaky_relu(z, xp):
    """z where z > 0, else 0.01 z."""
    return xp.where(z > 0.0, z, z * LEAKY_RELU_SLOPE)


def leaky_relu_backward(grad_out, activation, xp):
    """1 where z > 0, else 0.01; a > 0 exactly where z > 0 (the slope is positive)."""
    return xp.where(activation > 0.0, grad_out, grad_out * LEAKY_RELU_SLOPE)


def elu(z, xp):
    """ELU (alpha 1): z where z > 0, else exp(z) - 1, as expm1 of min(z, 0): accurate near
    0, and never exp of a large z, even in the branch ``where`` discards."""
    return xp.where(z > 0.0, z, xp.expm1(xp.minimum(z, xp.zeros_like(z))))


def elu_backward(grad_out, activation, xp):
    """1 where z > 0 (where a > 0), else exp(z) = a + 1."""
    return xp.where(activation > 0.0, grad_out, grad_out * (activation + 1.0))


def softplus(z, xp):
    """log(1 + exp(z)) as max(z, 0) + log1p(exp(-|z|)), stable for any magnitude."""
    return xp.maximum(z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def softplus_backward(grad_out, activation, xp):
    """d softplus(z)/dz = sigmoid(z) = 1 - exp(-a) (exp(-a) = 1 / (1 + exp(z))); as
    -expm1(-a), exact where a is tiny (z very negative)."""
    return grad_out * -xp.expm1(-activation)


def silu(z, xp):
    """SiLU ("swish"): z sigmoid(z), the sigmoid as ``logistic`` (no overflow)."""
    return z * logistic(z, xp)


def silu_backward(grad_out, pre_activation, xp):
    """d [z s(z)]/dz = s + z s (1 - s) = s (1 + z (1 - s)), s = sigmoid(z). SiLU is not
    monotonic (two z give one a below 0), so this takes z."""
    gate = logistic(pre_activation, xp)
    return grad_out * (gate * (1.0 + pre_activation * (1.0 - gate)))


GELU_SCALE = math.sqrt(2.0 / math.pi)  # sqrt(2/pi), torch's kBeta
GELU_CUBIC = 0.044715  # torch's kKappa
# beyond |z| = 10, tanh(u(z)) (u(10) = 43.6) is exactly +-1 in float32 and float64
GELU_SATURATED = 10.0


def gelu(z, xp):
    """GELU's tanh form, torch's gelu(approximate="tanh") (the array API has no erf):
    0.5 z (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3), z clipped to [-10, 10] in u."""
    near = xp.clip(z, -GELU_SATURATED, GELU_SATURATED)  # z^3 overflows far out; tanh is 1
    inner = GELU_SCALE * (near + GELU_CUBIC * (near * near * near))
    return 0.5 * z * (1.0 + xp.tanh(inner))


def gelu_backward(grad_out, pre_activation, xp):
    """d/dz of 0.5 z (1 + t), t = tanh(u(z)): 0.5 (1 + t) + 0.5 z (1 - t^2) u'(z), with
    u'(z) = sqrt(2/pi) (1 + 3 * 0.044715 z^2). Not monotonic either: takes z."""
    z = pre_activation
    near = xp.clip(z, -GELU_SATURATED, GELU_SATURATED)  # else 0 * inf far out
    square = near * near
    t = xp.tanh(GELU_SCALE * (near + GELU_CUBIC * (square * near)))
    slope = GELU_SCALE * (1.0 + (3.0 * GELU_CUBIC) * square)
    return grad_out * (0.5 * (1.0 + t) + (0.5 * z) * ((1.0 - t * t) * slope))


def log_softmax(logits, xp):
    """Row-wise z_j - log sum_k exp(z_k), stable for any magnitude: the row max m is
    subtracted first (z - m <= 0, so exp never overflows and the largest term is 1)."""
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(logits, xp):
    """Row-wise softmax over the classes (axis 1), max-shifted as ``log_softmax``."""
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    unnormalised = xp.exp(shifted)
    return unnormalised / xp.sum(unnormalised, axis=1, keepdims=True)


def one_hot(labels, n_classes, dtype, xp):
    """(batch, n_classes) rows of 0 and 1, by comparison with arange(n_classes)."""
    classes = xp.arange(n_classes, dtype=labels.dtype, device=device_of(labels))
    return xp.astype(labels[:, None] == classes[None, :], dtype)


def _row_mean(per_row, weights, xp):
    """Mean over rows, or the weighted mean sum(w_i l_i) / sum(w_i) (0-d array)."""
    if weights is None:
        return xp.sum(per_row) / per_row.shape[0]
    return xp.sum(per_row * weights) / xp.sum(weights)


def _row_scale(per_row_grad, weights, xp):
    """The matching factor for per-row gradients: 1/B, or w_i / sum(w)."""
    if weights is None:
        return per_row_grad / per_row_grad.shape[0]
    return per_row_grad * (weights / xp.sum(weights))[:, None]


def cross_entropy(logits, labels, xp, weights=None):
    """Mean negative log-likelihood of integer labels under softmax(logits)."""
    targets = one_hot(labels, logits.shape[1], logits.dtype, xp)
    return _row_mean(-xp.sum(log_softmax(logits, xp) * targets, axis=1), weights, xp)


def cross_entropy_with_grad(logits, labels, xp, weights=None):
    """Cross-entropy and its gradient w.r.t. the logits, sharing one softmax pass.

    With p = softmax(z) and t the one-hot target, L = -(1/B) sum_i sum_j t_ij log p_ij.
    d log p_ij / d z_ik = [j == k] - p_ik, and sum_j t_ij = 1, so
    dL/dz_ik = (p_ik - t_ik) / B: the fused gradient, no division by p. With row weights
    w, L = sum_i w_i l_i / sum(w) and the row's gradient is scaled by w_i / sum(w).
    """
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    exp_shifted = xp.exp(shifted)
    row_sums = xp.sum(exp_shifted, axis=1, keepdims=True)
    targets = one_hot(labels, logits.shape[1], logits.dtype, xp)
    log_probs = shifted - xp.log(row_sums)
    loss = _row_mean(-xp.sum(log_probs * targets, axis=1), weights, xp)
    grad_logits = _row_scale(exp_shifted / row_sums - targets, weights, xp)
    return loss, grad_logits


def squared_error(outputs, targets, xp, weights=None):
    """Half the squared error, scikit-learn's: L = (1 / 2Bk) sum_ij (y_hat_ij - y_ij)^2."""
    residual = outputs - targets
    per_row = xp.sum(residual * residual, axis=1) / (2.0 * outputs.shape[1])
    return _row_mean(per_row, weights, xp)


def squared_error_with_grad(outputs, targets, xp, weights=None):
    """dL / d y_hat_ij = (y_hat_ij - y_ij) / (B k) (w_i / sum(w) in place of 1/B)."""
    residual = outputs - targets
    per_row = xp.sum(residual * residual, axis=1) / (2.0 * outputs.shape[1])
    loss = _row_mean(per_row, weights, xp)
    return loss, _row_scale(residual / float(outputs.shape[1]), weights, xp)


def binary_cross_entropy(logits, targets, xp, weights=None):
    """scikit-learn's binary log-loss of 0/1 targets t under s = sigmoid(z), summed over
    the outputs: -[t log s + (1 - t) log(1 - s)] = softplus(z) - t z, which never overflows."""
    per_row = xp.sum(softplus(logits, xp) - targets * logits, axis=1)
    return _row_mean(per_row, weights, xp)


def binary_cross_entropy_with_grad(logits, targets, xp, weights=None):
    """d(softplus(z) - t z)/dz = sigmoid(z) - t, per row scaled as softmax's p - one_hot."""
    loss = binary_cross_entropy(logits, targets, xp, weights)
    return loss, _row_scale(logistic(logits, xp) - targets, weights, xp)


def xlogx(values, xp):
    """x log x elementwise, with 0 log 0 = 0 (scipy's xlogy(x, x))."""
    positive = values > 0.0
    safe = xp.where(positive, values, xp.ones_like(values))
    return xp.where(positive, values * xp.log(safe), xp.zeros_like(values))


def half_poisson_deviance(log_means, targets, xp, weights=None):
    """scikit-learn's poisson_loss with the log link mu = exp(z), summed over the outputs:
    y log(y / mu) - y + mu = xlogy(y, y) - y z - y + exp(z)."""
    per_row = xp.sum(xlogx(targets, xp) - targets * log_means - targets + xp.exp(log_means),
                     axis=1)
    return _row_mean(per_row, weights, xp)


def half_poisson_deviance_with_grad(log_means, targets, xp, weights=None):
    """d(exp(z) - y z)/dz = exp(z) - y = mu - y, per row scaled by 1/B (or w_i / sum(w))."""
    loss = half_poisson_deviance(log_means, targets, xp, weights)
    return loss, _row_scale(xp.exp(log_means) - targets, weights, xp)


def exp(z, xp):
    """The Poisson head's means from its log means."""
    return xp.exp(z)


def predicted_labels(logits, xp):
    """Index of the largest logit per row."""
    return xp.argmax(logits, axis=1)


def correct_indicator_rows(logits, targets, xp, weights=None):
    """Rows with every output on the right side of 0 (sigmoid > 1/2 exactly where z > 0)
    where the 0/1 target is 1: scikit-learn's subset accuracy's numerator (or those rows'
    summed weights)."""
    hits = xp.all((logits > 0.0) == (targets > 0.5), axis=1)
    if weights is None:
        return xp.sum(xp.astype(hits, logits.dtype))
    return xp.sum(xp.astype(hits, weights.dtype) * weights)


def correct_count(logits, labels, xp, weights=None):
    """Rows whose argmax is the label: a count in the labels' dtype, or their summed weights."""
    hits = predicted_labels(logits, xp) == labels
    if weights is None:
        return xp.sum(xp.astype(hits, labels.dtype))
    return xp.sum(xp.astype(hits, weights.dtype) * weights)

"""Pure math on xp arrays: activations, softmax, cross-entropy, and their gradients.

Every function takes the array namespace ``xp`` from the caller and never calls NumPy,
so the same code runs on NumPy, CuPy, torch, JAX and array-api-strict. Each gradient
sits beside the function it differentiates.
"""
from __future__ import annotations

from .backend import device_of


def relu(z, xp):
    """max(z, 0), elementwise, as z times its 0/1 mask (NaN stays NaN, for the guard)."""
    return z * xp.astype(z > 0.0, z.dtype)


def relu_backward(grad_out, activation, xp):
    """d relu(z) / dz = 1 where z > 0, else 0; relu(z) > 0 exactly where z > 0.

    Takes the activation a = relu(z) (what forward keeps), not z itself. A multiply by
    the 0/1 mask is several times faster than ``where`` on NumPy.
    """
    return grad_out * xp.astype(activation > 0.0, grad_out.dtype)


def log_softmax(logits, xp):
    """Row-wise log-softmax of logits (batch, classes), stable for any magnitude.

    log softmax(z)_j = z_j - log sum_k exp(z_k); subtracting the row max m first
    (z - m <= 0, so exp never overflows and the largest term is exactly 1).
    """
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(logits, xp):
    """Row-wise softmax over the CLASS axis (axis 1), stable for any magnitude."""
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    unnormalised = xp.exp(shifted)
    return unnormalised / xp.sum(unnormalised, axis=1, keepdims=True)


def one_hot(labels, n_classes, dtype, xp):
    """(batch,) integer labels -> (batch, n_classes) one-hot rows, by comparison."""
    classes = xp.arange(n_classes, dtype=labels.dtype, device=device_of(labels))
    return xp.astype(labels[:, None] == classes[None, :], dtype)


def cross_entropy(logits, labels, xp):
    """Mean negative log-likelihood of integer labels under softmax(logits); 0-d array."""
    targets = one_hot(labels, logits.shape[1], logits.dtype, xp)
    return -xp.sum(log_softmax(logits, xp) * targets) / logits.shape[0]


def cross_entropy_with_grad(logits, labels, xp):
    """(loss, d loss / d logits), sharing one softmax pass.

    With p = softmax(z) and t the one-hot target, L = -(1/B) sum_i sum_j t_ij log p_ij.
    d log p_ij / d z_ik = [j == k] - p_ik, and sum_j t_ij = 1, so
    dL/dz_ik = (p_ik - t_ik) / B: the fused gradient, no division by p.
    """
    batch = logits.shape[0]
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    exp_shifted = xp.exp(shifted)
    row_sums = xp.sum(exp_shifted, axis=1, keepdims=True)
    targets = one_hot(labels, logits.shape[1], logits.dtype, xp)
    log_probs = shifted - xp.log(row_sums)
    loss = -xp.sum(log_probs * targets) / batch
    grad_logits = (exp_shifted / row_sums - targets) / batch
    return loss, grad_logits


def predicted_labels(logits, xp):
    """Index of the largest logit per row."""
    return xp.argmax(logits, axis=1)


def correct_count(logits, labels, xp):
    """How many rows' argmax equals the label, as a 0-d array of the labels' integer dtype."""
    return xp.sum(xp.astype(predicted_labels(logits, xp) == labels, labels.dtype))


def accuracy(logits, labels, xp):
    """Fraction of rows whose argmax equals the label, as a 0-d float array."""
    return xp.mean(xp.astype(predicted_labels(logits, xp) == labels, logits.dtype))

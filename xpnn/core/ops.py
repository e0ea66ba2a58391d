"""Pure math on xp arrays: activations, softmax, the losses, and their gradients.

Every function takes the array namespace ``xp`` from the caller and never calls NumPy,
so the same code runs on NumPy, CuPy, torch, JAX and array-api-strict. Each gradient
sits beside the function it differentiates.
"""
from __future__ import annotations

import math

from ..backend.devices import device_of


def flush_subnormal(x, xp):
    """x with every value below its dtype's smallest normal number in magnitude set to 0.

    Numbers that decay step after step (Adam's moments of a weight whose gradient is 0, a
    momentum buffer) pass through the subnormal range, where x86 arithmetic is about 100
    times slower; training flushes them where they are made. The CPU's own flush-to-zero
    mode would do it for every program in the process, the caller's too.
    """
    return flush_below(x, xp.finfo(x.dtype).smallest_normal, xp)


def weight_floor(dtype, xp) -> float:
    """sqrt(smallest normal number) of ``dtype``: 2**-63 in float32, 2**-511 in float64.

    A parameter below it in magnitude is flushed to 0 after each update
    (``flush_tiny_weight``): its product with an activation or a gradient of the same
    size or less would be subnormal, and the GEMMs of forward and backward (BLAS's own
    threads, which no flush reaches) would run at subnormal speed (measured: 25x slower
    per product, bench/README.md "Flat epochs"). It cannot move any output by an ulp: a
    float32 weight of 1e-19 next to weights of 1e-3."""
    return math.sqrt(float(xp.finfo(dtype).smallest_normal))  # exact: a power of two


def flush_tiny_weight(x, xp):
    """A parameter after its update: values below ``weight_floor`` (and so every subnormal
    value) set to 0."""
    return flush_below(x, weight_floor(x.dtype, xp), xp)


def flush_below(x, floor, xp):
    """x with every value of magnitude below ``floor`` set to 0 (NaN and inf kept)."""
    kept = xp.abs(x) >= floor  # False for 0 (and NaN)
    return x * xp.astype(kept, x.dtype)  # NaN and inf stay as they are, for the guard


def relu(z, xp):
    """ReLU: max(z, 0), elementwise.

    Computed as z times its 0/1 mask, so NaN stays NaN (for the divergence guard).

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    return z * xp.astype(z > 0.0, z.dtype)


def relu_backward(grad_out, activation, xp):
    """Gradient of ReLU: d relu(z) / dz = 1 where z > 0, else 0.

    Takes the activation a = relu(z) (what forward keeps), not z itself: relu(z) > 0
    exactly where z > 0. A multiply by the 0/1 mask is several times faster than
    ``where`` on NumPy.

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    activation : array
        The activation's output a = f(z), as forward keeps it.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    return grad_out * xp.astype(activation > 0.0, grad_out.dtype)


def tanh(z, xp):
    """Hyperbolic tangent, elementwise.

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    return xp.tanh(z)


def tanh_backward(grad_out, activation, xp):
    """Gradient of tanh: d tanh(z) / dz = 1 - tanh(z)^2, from the output a = tanh(z).

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    activation : array
        The activation's output a = f(z), as forward keeps it.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    return grad_out * (1.0 - activation * activation)


def logistic(z, xp):
    """Logistic sigmoid 1 / (1 + exp(-z)), elementwise.

    Written through tanh so it never overflows: (1 + tanh(z/2)) / 2.

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    return 0.5 * (1.0 + xp.tanh(0.5 * z))


def logistic_probability(z, xp):
    """The sigmoid exp(-softplus(-z)), to full relative precision in both tails.

    A probability of 1e-20 stays 1e-20 where the tanh form rounds it to 0 (scikit-learn's
    expit keeps it too); the output head's probabilities.

    Parameters
    ----------
    z : array
        Logits, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        sigmoid(z), the shape and dtype of ``z``.
    """
    return xp.exp(-softplus(-z, xp))


def logistic_backward(grad_out, activation, xp):
    """Gradient of the sigmoid: d sigma(z) / dz = sigma(z) (1 - sigma(z)), from a = sigma(z).

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    activation : array
        The activation's output a = f(z), as forward keeps it.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    return grad_out * (activation * (1.0 - activation))


def identity(z, xp):
    """The identity activation: z itself.

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        ``z``, unchanged.
    """
    return z


def identity_backward(grad_out, activation, xp):
    """Gradient of the identity: ``grad_out`` unchanged.

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    activation : array
        The activation's output a = f(z), as forward keeps it.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    return grad_out


LEAKY_RELU_SLOPE = 0.01  # scikit-learn's name, torch's default negative_slope


def leaky_relu(z, xp):
    """Leaky ReLU: z where z > 0, else 0.01 z.

    The slope 0.01 is torch.nn.functional.leaky_relu's default (``LEAKY_RELU_SLOPE``).

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    return xp.where(z > 0.0, z, z * LEAKY_RELU_SLOPE)


def leaky_relu_backward(grad_out, activation, xp):
    """Gradient of leaky ReLU: 1 where z > 0, else 0.01.

    leaky_relu(z) > 0 exactly where z > 0 (the slope is positive), so the output decides.

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    activation : array
        The activation's output a = f(z), as forward keeps it.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    return xp.where(activation > 0.0, grad_out, grad_out * LEAKY_RELU_SLOPE)


def elu(z, xp):
    """ELU (alpha 1): z where z > 0, else exp(z) - 1.

    Computed as expm1 of min(z, 0): accurate near 0, and never exp of a large z, even in
    the branch ``where`` discards.

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    return xp.where(z > 0.0, z, xp.expm1(xp.minimum(z, xp.zeros_like(z))))


def elu_backward(grad_out, activation, xp):
    """Gradient of ELU: 1 where z > 0, else exp(z) = a + 1.

    From the output a = exp(z) - 1, which is > 0 exactly where z > 0.

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    activation : array
        The activation's output a = f(z), as forward keeps it.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    return xp.where(activation > 0.0, grad_out, grad_out * (activation + 1.0))


def softplus(z, xp):
    """Softplus log(1 + exp(z)), stable for any magnitude.

    Computed as max(z, 0) + log1p(exp(-abs(z))).

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    return xp.maximum(z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))


def softplus_backward(grad_out, activation, xp):
    """Gradient of softplus: d softplus(z) / dz = sigmoid(z) = 1 - exp(-a).

    From the output a = log(1 + exp(z)) (exp(-a) = 1 / (1 + exp(z))); as -expm1(-a),
    exact where a is tiny (z very negative).

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    activation : array
        The activation's output a = f(z), as forward keeps it.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    return grad_out * -xp.expm1(-activation)


def silu(z, xp):
    """SiLU ("swish"): z sigmoid(z), elementwise.

    The sigmoid is ``logistic`` (no overflow).

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    return z * logistic(z, xp)


def silu_backward(grad_out, pre_activation, xp):
    """Gradient of SiLU: d [z s(z)] / dz = s (1 + z (1 - s)), s = sigmoid(z).

    s + z s (1 - s) = s (1 + z (1 - s)). SiLU is not monotonic (two z give one a below
    0), so this takes the pre-activation z.

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    pre_activation : array
        The activation's input z.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    gate = logistic(pre_activation, xp)
    return grad_out * (gate * (1.0 + pre_activation * (1.0 - gate)))


GELU_SCALE = math.sqrt(2.0 / math.pi)  # sqrt(2/pi), torch's kBeta
GELU_CUBIC = 0.044715  # torch's kKappa
# beyond |z| = 10, tanh(u(z)) (u(10) = 43.6) is exactly +-1 in float32 and float64
GELU_SATURATED = 10.0


def gelu(z, xp):
    """GELU, tanh form: 0.5 z (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3).

    torch's gelu(approximate="tanh"); the array API has no erf for the exact form. z is
    clipped to [-10, 10] inside u (z^3 overflows far out, where tanh is exactly +-1).

    Parameters
    ----------
    z : array
        Pre-activations, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        The activation, the shape and dtype of ``z``.
    """
    near = xp.clip(z, -GELU_SATURATED, GELU_SATURATED)  # z^3 overflows far out; tanh is 1
    inner = GELU_SCALE * (near + GELU_CUBIC * (near * near * near))
    return 0.5 * z * (1.0 + xp.tanh(inner))


def gelu_backward(grad_out, pre_activation, xp):
    """Gradient of GELU's tanh form.

    d/dz of 0.5 z (1 + t), t = tanh(u(z)), is 0.5 (1 + t) + 0.5 z (1 - t^2) u'(z), with
    u'(z) = sqrt(2/pi) (1 + 3 * 0.044715 z^2). Not monotonic either: takes z.

    Parameters
    ----------
    grad_out : array
        Gradient of the loss with respect to the activation's output.
    pre_activation : array
        The activation's input z.
    xp : namespace
        The array namespace of the arrays.

    Returns
    -------
    array
        Gradient of the loss with respect to z, the shape of ``grad_out``.
    """
    z = pre_activation
    near = xp.clip(z, -GELU_SATURATED, GELU_SATURATED)  # else 0 * inf far out
    square = near * near
    t = xp.tanh(GELU_SCALE * (near + GELU_CUBIC * (square * near)))
    slope = GELU_SCALE * (1.0 + (3.0 * GELU_CUBIC) * square)
    return grad_out * (0.5 * (1.0 + t) + (0.5 * z) * ((1.0 - t * t) * slope))


def log_softmax(logits, xp):
    """Row-wise log-softmax of logits (batch, classes), stable for any magnitude.

    log softmax(z)_j = z_j - log sum_k exp(z_k); the row max m is subtracted first
    (z - m <= 0, so exp never overflows and the largest term is exactly 1).

    Parameters
    ----------
    logits : array
        Scores, shape (batch, classes).
    xp : namespace
        The array namespace of ``logits``.

    Returns
    -------
    array
        Log-probabilities, the shape of ``logits``.
    """
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def softmax(logits, xp):
    """Row-wise softmax over the class axis (axis 1), stable for any magnitude.

    Parameters
    ----------
    logits : array
        Scores, shape (batch, classes).
    xp : namespace
        The array namespace of ``logits``.

    Returns
    -------
    array
        Probabilities, the shape of ``logits``; each row sums to 1.
    """
    shifted = logits - xp.max(logits, axis=1, keepdims=True)
    unnormalised = xp.exp(shifted)
    return unnormalised / xp.sum(unnormalised, axis=1, keepdims=True)


def one_hot(labels, n_classes, dtype, xp):
    """One-hot rows of integer labels, by comparison with ``arange(n_classes)``.

    Parameters
    ----------
    labels : array
        Integer labels, shape (batch,).
    n_classes : int
        Number of classes (columns).
    dtype : dtype
        The dtype of the result.
    xp : namespace
        The array namespace of ``labels``.

    Returns
    -------
    array
        Shape (batch, n_classes), 1 in each row's label column, else 0.
    """
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
    """Mean (or weighted mean) negative log-likelihood of integer labels under softmax.

    Parameters
    ----------
    logits : array
        Scores, shape (batch, classes).
    labels : array
        Integer labels, shape (batch,).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    array
        The loss, 0-d.
    """
    targets = one_hot(labels, logits.shape[1], logits.dtype, xp)
    return _row_mean(-xp.sum(log_softmax(logits, xp) * targets, axis=1), weights, xp)


def cross_entropy_with_grad(logits, labels, xp, weights=None):
    """Cross-entropy and its gradient with respect to the logits, sharing one softmax pass.

    With p = softmax(z) and t the one-hot target, L = -(1/B) sum_i sum_j t_ij log p_ij.
    d log p_ij / d z_ik = [j == k] - p_ik, and sum_j t_ij = 1, so
    dL/dz_ik = (p_ik - t_ik) / B: the fused gradient, no division by p. With row weights
    w, L = sum_i w_i l_i / sum(w) and the row's gradient is scaled by w_i / sum(w).

    Parameters
    ----------
    logits : array
        Scores, shape (batch, classes).
    labels : array
        Integer labels, shape (batch,).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    loss : array
        The loss, 0-d.
    grad_logits : array
        d loss / d logits, the shape of ``logits``.
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
    """Half the squared error, as scikit-learn defines it.

    0.5 * the mean over outputs of the (weighted) mean over rows of (y_hat - y)^2.

    Parameters
    ----------
    outputs : array
        Predictions y_hat, shape (batch, k).
    targets : array
        Targets y, shape (batch, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    array
        The loss, 0-d.
    """
    residual = outputs - targets
    per_row = xp.sum(residual * residual, axis=1) / (2.0 * outputs.shape[1])
    return _row_mean(per_row, weights, xp)


def squared_error_with_grad(outputs, targets, xp, weights=None):
    """Half the squared error and its gradient with respect to the outputs.

    L = (1 / 2Bk) sum_ij (y_hat_ij - y_ij)^2, so dL / d y_hat_ij = (y_hat_ij - y_ij) / (B k)
    (w_i / sum(w) in place of 1/B with row weights).

    Parameters
    ----------
    outputs : array
        Predictions y_hat, shape (batch, k).
    targets : array
        Targets y, shape (batch, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    loss : array
        The loss, 0-d.
    grad_outputs : array
        d loss / d outputs, the shape of ``outputs``.
    """
    residual = outputs - targets
    per_row = xp.sum(residual * residual, axis=1) / (2.0 * outputs.shape[1])
    loss = _row_mean(per_row, weights, xp)
    return loss, _row_scale(residual / float(outputs.shape[1]), weights, xp)


def binary_cross_entropy(logits, targets, xp, weights=None):
    """scikit-learn's binary log-loss of 0/1 targets under sigmoid(logits).

    Summed over the outputs, (weighted) mean over rows. With s = sigmoid(z),
    -[t log s + (1 - t) log(1 - s)] = softplus(z) - t z, which never overflows.

    Parameters
    ----------
    logits : array
        Scores z, shape (batch, k).
    targets : array
        0/1 targets t, shape (batch, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    array
        The loss, 0-d.
    """
    per_row = xp.sum(softplus(logits, xp) - targets * logits, axis=1)
    return _row_mean(per_row, weights, xp)


def binary_cross_entropy_with_grad(logits, targets, xp, weights=None):
    """Binary log-loss and its gradient with respect to the logits.

    d(softplus(z) - t z)/dz = sigmoid(z) - t, per row scaled by 1/B (or w_i / sum(w)), as
    softmax's p - one_hot.

    Parameters
    ----------
    logits : array
        Scores z, shape (batch, k).
    targets : array
        0/1 targets t, shape (batch, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    loss : array
        The loss, 0-d.
    grad_logits : array
        d loss / d logits, the shape of ``logits``.
    """
    loss = binary_cross_entropy(logits, targets, xp, weights)
    return loss, _row_scale(logistic(logits, xp) - targets, weights, xp)


def xlogx(values, xp):
    """x log x elementwise, with 0 log 0 = 0 (scipy's xlogy(x, x))."""
    positive = values > 0.0
    safe = xp.where(positive, values, xp.ones_like(values))
    return xp.where(positive, values * xp.log(safe), xp.zeros_like(values))


def half_poisson_deviance(log_means, targets, xp, weights=None):
    """scikit-learn's poisson_loss with the log link, mu = exp(z).

    Per output y log(y / mu) - y + mu = xlogy(y, y) - y z - y + exp(z); summed over the
    outputs, (weighted) mean over rows.

    Parameters
    ----------
    log_means : array
        z = log(mu), shape (batch, k).
    targets : array
        Non-negative targets y, shape (batch, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    array
        The loss, 0-d.
    """
    per_row = xp.sum(xlogx(targets, xp) - targets * log_means - targets + xp.exp(log_means),
                     axis=1)
    return _row_mean(per_row, weights, xp)


def half_poisson_deviance_with_grad(log_means, targets, xp, weights=None):
    """Half Poisson deviance and its gradient with respect to z.

    d(exp(z) - y z)/dz = exp(z) - y = mu - y, per row scaled by 1/B (or w_i / sum(w)).

    Parameters
    ----------
    log_means : array
        z = log(mu), shape (batch, k).
    targets : array
        Non-negative targets y, shape (batch, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    loss : array
        The loss, 0-d.
    grad_log_means : array
        d loss / d z, the shape of ``log_means``.
    """
    loss = half_poisson_deviance(log_means, targets, xp, weights)
    return loss, _row_scale(xp.exp(log_means) - targets, weights, xp)


def exp(z, xp):
    """exp(z), elementwise: the Poisson head's means from its log means.

    Parameters
    ----------
    z : array
        Log means, any shape.
    xp : namespace
        The array namespace of ``z``.

    Returns
    -------
    array
        exp(z), the shape and dtype of ``z``.
    """
    return xp.exp(z)


def predicted_labels(logits, xp):
    """Index of the largest logit per row."""
    return xp.argmax(logits, axis=1)


def correct_indicator_rows(logits, targets, xp, weights=None):
    """How many rows have every output on the right side of 0: subset accuracy's numerator.

    A row is right where sigmoid > 1/2 (z > 0) exactly where its 0/1 target is 1:
    scikit-learn's (subset) accuracy; with weights, those rows' summed weights.

    Parameters
    ----------
    logits : array
        Scores z, shape (batch, k).
    targets : array
        0/1 targets, shape (batch, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    array
        The count (or summed weight), 0-d.
    """
    hits = xp.all((logits > 0.0) == (targets > 0.5), axis=1)
    if weights is None:
        return xp.sum(xp.astype(hits, logits.dtype))
    return xp.sum(xp.astype(hits, weights.dtype) * weights)


def correct_count(logits, labels, xp, weights=None):
    """How many rows' argmax equals the label, or the summed weights of those rows.

    Parameters
    ----------
    logits : array
        Scores, shape (batch, classes).
    labels : array
        Integer labels, shape (batch,).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None, default=None
        Row weights, shape (batch,); None weighs every row equally.

    Returns
    -------
    array
        0-d: the count in the labels' integer dtype, or the summed weight in the weights'
        dtype.
    """
    hits = predicted_labels(logits, xp) == labels
    if weights is None:
        return xp.sum(xp.astype(hits, labels.dtype))
    return xp.sum(xp.astype(hits, weights.dtype) * weights)

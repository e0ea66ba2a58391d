"""Output heads: what the last layer's outputs mean, their loss, and how they are scored.

One entry per scikit-learn ``out_activation_``: softmax + cross-entropy over class indices
(multiclass); logistic + binary cross-entropy over 0/1 columns (binary: one output;
multi-label: one per label); identity + half squared error and exp + half Poisson deviance
over real targets (n, k) (regression). Each head (a class used as a record) has:

- ``name``: scikit-learn's ``out_activation_``; ``targets``: "indices" (class indices (n,))
  or "values" ((n, k) in the training dtype), as they sit on the device;
- ``loss``, ``loss_with_grad`` (w.r.t. the raw outputs, fused where cheaper) and ``predict``
  (raw outputs -> probabilities, or a regressor's predictions): functions of ``ops``; a
  classifier's ``decide(outputs, xp)``: its predicted labels;
- ``metric`` / ``metric_sum``: the training metric kept per epoch and its per-batch device
  sum, or None; ``score_name`` / ``score_sum``: scikit-learn's validation score (accuracy,
  R^2) and its per-batch device sum, ``(outputs, targets, xp, weights)``, read once per
  epoch; ``score_context(y_host, weights_host) -> finish``, which turns the summed value
  into the score on the host;
- ``random_targets(rng, n_rows, n_outputs)``: host targets of its kind (gradient checks).
"""
from __future__ import annotations

import numpy as np

from . import ops


def _accuracy_context(y_host, weights_host):
    """Correct rows (or their weight) over the split's rows (or total weight)."""
    total = float(len(y_host) if weights_host is None else np.sum(weights_host))
    return lambda summed: summed / total


def _r2_context(y_host, weights_host):
    """R^2 averaged over outputs, in float64 from the per-output residual sums:
    1 - SSres_j / SStot_j, and for an output with SStot_j = 0, 1 if its residual is 0 else 0
    (scikit-learn's force_finite)."""
    y = np.asarray(y_host, dtype=np.float64).reshape(len(y_host), -1)
    w = np.ones(len(y)) if weights_host is None else np.asarray(weights_host, np.float64)
    ss_tot = np.sum(w[:, None] * (y - np.average(y, axis=0, weights=w)) ** 2, axis=0)

    def finish(ss_res):
        constant = ss_tot == 0
        per_output = np.where(constant, (np.asarray(ss_res) == 0).astype(float),
                              1.0 - ss_res / np.where(constant, 1.0, ss_tot))
        return float(np.mean(per_output))

    return finish


class SoftmaxCrossEntropy:
    """Multiclass: softmax + cross-entropy over class indices."""
    name = "softmax"
    targets = "indices"
    metric = "accuracy"
    score_name = "accuracy"

    loss = staticmethod(ops.cross_entropy)
    loss_with_grad = staticmethod(ops.cross_entropy_with_grad)
    predict = staticmethod(ops.softmax)  # class probabilities
    metric_sum = score_sum = staticmethod(ops.correct_count)  # correct rows (weighted)
    score_context = staticmethod(_accuracy_context)

    @staticmethod
    def decide(outputs, xp):
        """The predicted class index of each row."""
        return ops.predicted_labels(outputs, xp)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        return rng.integers(0, n_outputs, n_rows)


class LogisticCrossEntropy:
    """Binary and multi-label: logistic + binary cross-entropy over 0/1 columns."""
    name = "logistic"
    targets = "values"
    metric = "accuracy"  # subset accuracy
    score_name = "accuracy"

    loss = staticmethod(ops.binary_cross_entropy)
    loss_with_grad = staticmethod(ops.binary_cross_entropy_with_grad)
    predict = staticmethod(ops.logistic_probability)  # each 1's probability
    metric_sum = score_sum = staticmethod(ops.correct_indicator_rows)
    score_context = staticmethod(_accuracy_context)

    @staticmethod
    def decide(outputs, xp):
        """The predicted 0/1 indicators (int64): sigmoid(z) > 1/2 exactly where z > 0."""
        return xp.astype(outputs > 0.0, xp.int64)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        return rng.integers(0, 2, (n_rows, n_outputs)).astype(np.float64)


def _squared_residuals(predictions, targets, xp, weights):
    """The (weighted) squared residual of each output, (k,): R^2's numerators."""
    residual = predictions - targets
    squared = residual * residual
    if weights is not None:
        squared = squared * weights[:, None]
    return xp.sum(squared, axis=0)


class SquaredErrorIdentity:
    """Regression: identity outputs + half squared error over real targets."""
    name = "identity"
    targets = "values"
    metric = None
    metric_sum = None
    score_name = "r2"

    loss = staticmethod(ops.squared_error)
    loss_with_grad = staticmethod(ops.squared_error_with_grad)
    predict = staticmethod(ops.identity)
    score_context = staticmethod(_r2_context)
    score_sum = staticmethod(_squared_residuals)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        return rng.normal(size=(n_rows, n_outputs))


class PoissonExp:
    """Poisson regression: exp (the log link: outputs are log means) + half Poisson deviance
    over counts or rates >= 0."""
    name = "exp"
    targets = "values"
    metric = None
    metric_sum = None
    score_name = "r2"  # of the means exp(outputs)

    loss = staticmethod(ops.half_poisson_deviance)
    loss_with_grad = staticmethod(ops.half_poisson_deviance_with_grad)
    predict = staticmethod(ops.exp)
    score_context = staticmethod(_r2_context)

    @staticmethod
    def score_sum(outputs, targets, xp, weights):
        """The squared residuals of the means exp(outputs)."""
        return _squared_residuals(xp.exp(outputs), targets, xp, weights)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        return rng.poisson(2.0, (n_rows, n_outputs)).astype(np.float64)


HEADS = {head.name: head for head in (SoftmaxCrossEntropy, LogisticCrossEntropy,
                                      SquaredErrorIdentity, PoissonExp)}

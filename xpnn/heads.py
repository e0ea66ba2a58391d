"""Output heads: what the last layer's outputs mean, their loss, and how they are scored.

A classifier's head is softmax + cross-entropy (log-loss) over integer class indices; a
regressor's is the identity + half squared error over float targets (n, k). Each head
gives the loss, the loss with its gradient w.r.t. the raw outputs (fused where that is
cheaper), the prediction transform, a per-batch training metric (or none), and the
validation score scikit-learn uses (accuracy, R^2) as device sums read once per epoch.
"""
from __future__ import annotations

import numpy as np

from . import ops


class SoftmaxCrossEntropy:
    name = "softmax"  # scikit-learn's out_activation_
    metric = "accuracy"  # the training metric kept per epoch
    score_name = "accuracy"  # scikit-learn's score, on the validation split
    target_kind = "classes"  # integer class indices on the device

    loss = staticmethod(ops.cross_entropy)
    loss_with_grad = staticmethod(ops.cross_entropy_with_grad)

    @staticmethod
    def predict(outputs, xp):
        return ops.softmax(outputs, xp)

    @staticmethod
    def metric_sum(outputs, targets, xp, weights=None):
        return ops.correct_count(outputs, targets, xp, weights)

    @staticmethod
    def score_context(y_host, weights_host):
        """Host-side constants for the validation score: here only the total weight."""
        total = float(len(y_host) if weights_host is None else np.sum(weights_host))
        return None, lambda summed: summed / total

    @staticmethod
    def score_sum(outputs, targets, xp, weights, context):
        """Accuracy's numerator: the (weighted) count of correct rows."""
        return ops.correct_count(outputs, targets, xp, weights)


class SquaredErrorIdentity:
    name = "identity"
    metric = None
    score_name = "r2"
    target_kind = "values"  # float targets (n, k) on the device

    loss = staticmethod(ops.squared_error)
    loss_with_grad = staticmethod(ops.squared_error_with_grad)

    @staticmethod
    def predict(outputs, xp):
        return outputs

    metric_sum = None

    @staticmethod
    def score_context(y_host, weights_host):
        """R^2 averaged over outputs: 1 - (1/k) sum_j SSres_j / SStot_j, with SStot from the
        host targets in float64; the device sums SSres_j / (k SStot_j). An output with
        SStot = 0 counts as a perfect fit (scikit-learn's force_finite)."""
        y = np.asarray(y_host, dtype=np.float64).reshape(len(y_host), -1)
        w = np.ones(len(y)) if weights_host is None else np.asarray(weights_host, np.float64)
        mean = np.average(y, axis=0, weights=w)
        ss_tot = np.sum(w[:, None] * (y - mean) ** 2, axis=0)
        inv = np.where(ss_tot > 0, 1.0 / np.where(ss_tot > 0, ss_tot, 1.0), 0.0) / y.shape[1]
        return inv, lambda summed: 1.0 - summed

    @staticmethod
    def score_sum(outputs, targets, xp, weights, context):
        residual = outputs - targets
        squared = residual * residual
        if weights is not None:
            squared = squared * weights[:, None]
        return xp.sum(xp.sum(squared, axis=0) * context)


HEADS = {"softmax": SoftmaxCrossEntropy, "identity": SquaredErrorIdentity}

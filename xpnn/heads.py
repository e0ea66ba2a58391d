"""Output heads: what the last layer's outputs mean, their loss, and how they are scored.

A classifier's head is softmax + cross-entropy (log-loss) over integer class indices; a
regressor's is the identity + half squared error over float targets (n, k). Each head
gives the loss, the loss with its gradient w.r.t. the raw outputs (fused where that is
cheaper), the prediction transform, a per-batch training metric (or none), and the
validation score scikit-learn uses (accuracy, R^2): device sums read once per epoch and
finished on the host.
"""
from __future__ import annotations

import numpy as np

from . import ops


class SoftmaxCrossEntropy:
    name = "softmax"  # scikit-learn's out_activation_
    metric = "accuracy"  # the training metric kept per epoch
    score_name = "accuracy"  # scikit-learn's score, on the validation split

    loss = staticmethod(ops.cross_entropy)
    loss_with_grad = staticmethod(ops.cross_entropy_with_grad)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        """Host targets of this head's kind (for gradient checks): class indices (n,)."""
        return rng.integers(0, n_outputs, n_rows)

    @staticmethod
    def predict(outputs, xp):
        return ops.softmax(outputs, xp)

    @staticmethod
    def metric_sum(outputs, targets, xp, weights=None):
        return ops.correct_count(outputs, targets, xp, weights)

    @staticmethod
    def score_context(y_host, weights_host):
        """finish(summed score_sum) -> the score, from the validation split's host targets
        and weights: here the total weight."""
        total = float(len(y_host) if weights_host is None else np.sum(weights_host))
        return lambda summed: summed / total

    @staticmethod
    def score_sum(outputs, targets, xp, weights):
        """Accuracy's numerator: the (weighted) count of correct rows (0-d)."""
        return ops.correct_count(outputs, targets, xp, weights)


class SquaredErrorIdentity:
    name = "identity"
    metric = None
    score_name = "r2"

    loss = staticmethod(ops.squared_error)
    loss_with_grad = staticmethod(ops.squared_error_with_grad)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        """Host targets of this head's kind: real values (n, k)."""
        return rng.normal(size=(n_rows, n_outputs))

    @staticmethod
    def predict(outputs, xp):
        return outputs

    metric_sum = None

    @staticmethod
    def score_context(y_host, weights_host):
        """R^2 averaged over outputs, finished on the host in float64 from the device's
        per-output residual sums: 1 - SSres_j / SStot_j, and for an output with SStot_j = 0,
        1 if its residual is 0 else 0 (scikit-learn's force_finite)."""
        y = np.asarray(y_host, dtype=np.float64).reshape(len(y_host), -1)
        w = np.ones(len(y)) if weights_host is None else np.asarray(weights_host, np.float64)
        ss_tot = np.sum(w[:, None] * (y - np.average(y, axis=0, weights=w)) ** 2, axis=0)

        def finish(ss_res):
            constant = ss_tot == 0
            per_output = np.where(constant, (np.asarray(ss_res) == 0).astype(float),
                                  1.0 - ss_res / np.where(constant, 1.0, ss_tot))
            return float(np.mean(per_output))

        return finish

    @staticmethod
    def score_sum(outputs, targets, xp, weights):
        """The (weighted) squared residual of each output (k,)."""
        residual = outputs - targets
        squared = residual * residual
        if weights is not None:
            squared = squared * weights[:, None]
        return xp.sum(squared, axis=0)


HEADS = {"softmax": SoftmaxCrossEntropy, "identity": SquaredErrorIdentity}

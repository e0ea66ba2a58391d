"""Output heads: what the last layer's outputs mean, their loss, and how they are scored.

One entry per scikit-learn ``out_activation_``: softmax + cross-entropy over class indices
(multiclass); logistic + binary cross-entropy over 0/1 columns (binary: one output;
multi-label: one per label); identity + half squared error and exp + half Poisson deviance
over real targets (n, k) (regression). Each head gives the loss, the loss with its gradient
w.r.t. the raw outputs (fused where that is cheaper), the prediction transform, a per-batch
training metric (or none), and the validation score scikit-learn uses (accuracy, R^2):
device sums read once per epoch and finished on the host.
"""
from __future__ import annotations

import numpy as np

from . import ops


def _accuracy_context(y_host, weights_host):
    """A finisher of summed ``score_sum`` values into accuracy.

    It divides by the validation split's total weight (its row count without weights).

    Parameters
    ----------
    y_host : array-like
        The validation split's targets, on the host.
    weights_host : array-like or None
        Its row weights, or None for equal weights.

    Returns
    -------
    callable
        ``finish(summed) -> accuracy``.
    """
    total = float(len(y_host) if weights_host is None else np.sum(weights_host))
    return lambda summed: summed / total


def _r2_context(y_host, weights_host):
    """A finisher of per-output residual sums into R^2, averaged over outputs.

    Finished on the host in float64 from the device's per-output residual sums:
    1 - SSres_j / SStot_j, and for an output with SStot_j = 0, 1 if its residual is 0 else 0
    (scikit-learn's force_finite).

    Parameters
    ----------
    y_host : array-like
        The validation split's targets, on the host.
    weights_host : array-like or None
        Its row weights, or None for equal weights.

    Returns
    -------
    callable
        ``finish(ss_res) -> R^2`` (a float).
    """
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
    """Multiclass head: softmax + cross-entropy over class indices.

    Attributes
    ----------
    name : str
        scikit-learn's ``out_activation_``: 'softmax'.
    targets : str
        ``'indices'``: class indices (n,) on the device.
    metric : str or None
        ``'accuracy'``, kept per epoch.
    score_name : str
        ``'accuracy'``, scikit-learn's score on the validation split.
    loss, loss_with_grad, predict : callable
        The loss, the loss with its gradient w.r.t. the raw outputs, and the prediction
        transform: functions of :mod:`xpnn.core.ops`.
    metric_sum : callable or None
        The per-batch training metric's device sum, or None.
    score_sum : callable
        Correct rows (weighted), summed on the device per batch.
    score_context : callable
        ``(y_host, weights_host) -> finish``, the score's host-side finisher.
    """
    name = "softmax"  # scikit-learn's out_activation_
    targets = "indices"  # class indices (n,) on the device
    metric = "accuracy"  # the training metric kept per epoch
    score_name = "accuracy"  # scikit-learn's score, on the validation split

    loss = staticmethod(ops.cross_entropy)
    loss_with_grad = staticmethod(ops.cross_entropy_with_grad)
    predict = staticmethod(ops.softmax)  # (outputs, xp) -> class probabilities
    metric_sum = score_sum = staticmethod(ops.correct_count)  # correct rows (weighted)
    score_context = staticmethod(_accuracy_context)

    @staticmethod
    def decide(outputs, xp):
        """The predicted class index of each row.

        Parameters
        ----------
        outputs : array
            Logits, shape (n, classes).
        xp : namespace
            The array namespace of ``outputs``.

        Returns
        -------
        array
            Class indices, shape (n,).
        """
        return ops.predicted_labels(outputs, xp)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        """Host targets of this head's kind (for gradient checks): class indices (n,).

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        n_rows : int
            Number of rows.
        n_outputs : int
            Number of outputs (classes for the softmax head).

        Returns
        -------
        numpy.ndarray
            Integer class indices in [0, n_outputs), shape (n_rows,).
        """
        return rng.integers(0, n_outputs, n_rows)


class LogisticCrossEntropy:
    """Binary and multi-label head: logistic + binary cross-entropy over 0/1 columns.

    One output for binary targets, one per label for multi-label ones; ``predict`` gives
    each 1's probability.

    Attributes
    ----------
    name : str
        scikit-learn's ``out_activation_``: 'logistic'.
    targets : str
        ``'values'``: 0/1 columns (n, k) in the training dtype.
    metric : str or None
        ``'accuracy'`` (subset accuracy), kept per epoch.
    score_name : str
        ``'accuracy'``.
    loss, loss_with_grad, predict : callable
        The loss, the loss with its gradient w.r.t. the raw outputs, and the prediction
        transform: functions of :mod:`xpnn.core.ops`.
    metric_sum : callable or None
        The per-batch training metric's device sum, or None.
    score_sum : callable
        Rows right in every output (weighted), summed on the device per batch.
    score_context : callable
        ``(y_host, weights_host) -> finish``, the score's host-side finisher.
    """
    name = "logistic"
    targets = "values"  # 0/1 columns (n, k) in the training dtype
    metric = "accuracy"
    score_name = "accuracy"

    loss = staticmethod(ops.binary_cross_entropy)
    loss_with_grad = staticmethod(ops.binary_cross_entropy_with_grad)
    predict = staticmethod(ops.logistic_probability)  # (outputs, xp) -> each 1's probability
    metric_sum = score_sum = staticmethod(ops.correct_indicator_rows)
    score_context = staticmethod(_accuracy_context)

    @staticmethod
    def decide(outputs, xp):
        """The predicted 0/1 indicator: sigmoid(z) > 1/2 exactly where z > 0.

        Parameters
        ----------
        outputs : array
            Logits, shape (n, k).
        xp : namespace
            The array namespace of ``outputs``.

        Returns
        -------
        array
            0/1 indicators (int64), shape (n, k).
        """
        return xp.astype(outputs > 0.0, xp.int64)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        """Host targets of this head's kind (for gradient checks): 0/1 columns.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        n_rows : int
            Number of rows.
        n_outputs : int
            Number of outputs (classes for the softmax head).

        Returns
        -------
        numpy.ndarray
            0.0/1.0 values (float64), shape (n_rows, n_outputs).
        """
        return rng.integers(0, 2, (n_rows, n_outputs)).astype(np.float64)


def _squared_residuals(predictions, targets, xp, weights):
    """The (weighted) squared residual of each output: R^2's numerators.

    Parameters
    ----------
    predictions : array
        Predictions, shape (n, k).
    targets : array
        Targets, shape (n, k).
    xp : namespace
        The array namespace of the arrays.
    weights : array or None
        Row weights (n,), or None.

    Returns
    -------
    array
        Shape (k,).
    """
    residual = predictions - targets
    squared = residual * residual
    if weights is not None:
        squared = squared * weights[:, None]
    return xp.sum(squared, axis=0)


class SquaredErrorIdentity:
    """Regression head: identity outputs + half squared error over real targets (n, k).

    Attributes
    ----------
    name : str
        scikit-learn's ``out_activation_``: 'identity'.
    targets : str
        ``'values'``: real values (n, k).
    metric : str or None
        None: no training metric.
    score_name : str
        ``'r2'``.
    loss, loss_with_grad, predict : callable
        The loss, the loss with its gradient w.r.t. the raw outputs, and the prediction
        transform: functions of :mod:`xpnn.core.ops`.
    metric_sum : callable or None
        The per-batch training metric's device sum, or None.
    score_sum : callable
        The per-output squared residuals (k,), summed on the device per batch.
    score_context : callable
        ``(y_host, weights_host) -> finish``: R^2 finished on the host.
    """
    name = "identity"
    targets = "values"  # real values (n, k)
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
        """Host targets of this head's kind (for gradient checks): standard normal values.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        n_rows : int
            Number of rows.
        n_outputs : int
            Number of outputs (classes for the softmax head).

        Returns
        -------
        numpy.ndarray
            float64, shape (n_rows, n_outputs).
        """
        return rng.normal(size=(n_rows, n_outputs))


class PoissonExp:
    """Poisson regression head: exp (the log link; outputs are log means) + half Poisson deviance.

    Over counts or rates >= 0, (n, k).

    Attributes
    ----------
    name : str
        scikit-learn's ``out_activation_``: 'exp'.
    targets : str
        ``'values'``: counts or rates >= 0 (n, k).
    metric : str or None
        None: no training metric.
    score_name : str
        ``'r2'``, of exp(outputs).
    loss, loss_with_grad, predict : callable
        The loss, the loss with its gradient w.r.t. the raw outputs, and the prediction
        transform: functions of :mod:`xpnn.core.ops`.
    metric_sum : callable or None
        The per-batch training metric's device sum, or None.
    score_context : callable
        ``(y_host, weights_host) -> finish``: R^2 finished on the host.
    """
    name = "exp"  # the log link: the outputs are log means
    targets = "values"  # counts or rates >= 0 (n, k)
    metric = None
    metric_sum = None
    score_name = "r2"

    loss = staticmethod(ops.half_poisson_deviance)
    loss_with_grad = staticmethod(ops.half_poisson_deviance_with_grad)
    predict = staticmethod(ops.exp)
    score_context = staticmethod(_r2_context)

    @staticmethod
    def score_sum(outputs, targets, xp, weights):
        """The per-output squared residuals of the means exp(outputs): R^2's numerators.

        Parameters
        ----------
        outputs : array
            Log means, shape (n, k).
        targets : array
            Targets, shape (n, k).
        xp : namespace
            The array namespace of the arrays.
        weights : array or None
            Row weights (n,), or None.

        Returns
        -------
        array
            Shape (k,).
        """
        return _squared_residuals(xp.exp(outputs), targets, xp, weights)

    @staticmethod
    def random_targets(rng, n_rows, n_outputs):
        """Host targets of this head's kind (for gradient checks): Poisson(2) counts.

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        n_rows : int
            Number of rows.
        n_outputs : int
            Number of outputs (classes for the softmax head).

        Returns
        -------
        numpy.ndarray
            float64 counts, shape (n_rows, n_outputs).
        """
        return rng.poisson(2.0, (n_rows, n_outputs)).astype(np.float64)


HEADS = {head.name: head for head in (SoftmaxCrossEntropy, LogisticCrossEntropy,
                                      SquaredErrorIdentity, PoissonExp)}

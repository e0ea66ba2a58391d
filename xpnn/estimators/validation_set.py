"""A validation set the caller gives ``fit`` (``X_val``, ``y_val``, ``sample_weight_val``, as
scikit-learn's histogram gradient boosting takes them): checked as X and y are, then scored
after every epoch.

With ``early_stopping=True`` it is the set the plateau rule watches (``validation_fraction``
is not used: no rows of X are held out); without, it is scored into the history all the
same (``validation_scores_``, ``validation_loss_curve_``). ``X_val`` keeps its own dtype
(uint8 stays uint8) and is cast batch by batch, as X is. In a data-parallel fit every rank
must hold the same set (each scores its share of the rows): the group checks that once.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..backend.devices import as_host_array, is_sparse
from ..parallel import distributed
from ..training.batches import DeviceSplit
from . import inputs

# what each argument is called in the errors; the order fit takes them
ARGUMENTS = ("X_val", "y_val", "sample_weight_val")


@dataclass(frozen=True, eq=False)
class ValidationSet:
    """The checked set: features as ``inputs.resolve_X`` describes X, host targets encoded
    as the training targets are, host row weights (class weights multiplied in) or None."""

    features: inputs.Features
    y_host: np.ndarray
    weights: np.ndarray | None
    given: tuple  # (X_val, y_val, sample_weight_val) as the caller passed them

    def split_on(self, backend, targets, dtype: str, scaling) -> DeviceSplit:
        """The set on ``backend`` as a ``DeviceSplit`` (``targets``: the estimator's
        ``_targets_on``; ``scaling``: the training data's)."""
        weights = None if self.weights is None else backend.asarray(self.weights, dtype=dtype)
        return DeviceSplit(self.features.on(backend, dtype), targets(backend, self.y_host),
                           weights, dtype, scaling=scaling)

    @property
    def metadata(self) -> dict:
        """The callbacks' metadata of the set (scikit-learn's ``sample_weight`` key)."""
        weight = self.given[2]
        return {} if weight is None else {"sample_weight": weight}


def check_validation_set(estimator, X_val, y_val, sample_weight_val, y_host,
                         plan) -> ValidationSet | None:
    """The caller's validation set checked against this fit's X and y (already checked:
    ``n_features_in_``, the classes and ``y_host``), or None when none was given.

    Parameters
    ----------
    estimator : BaseMLP
        The estimator being fitted.
    X_val, y_val, sample_weight_val : array-like or None
        As ``fit`` takes them.
    y_host : numpy.ndarray
        The training targets as ``_check_y`` encoded them.
    plan : FitPlan
        The call's plan (class weights and partial_fit).

    Returns
    -------
    ValidationSet or None
        The set, or None without ``X_val``.

    Raises
    ------
    ValueError
        One line naming the argument: ``X_val`` without ``y_val`` (or the reverse), other
        features than X's, other kinds of targets, classes ``y`` does not have, bad weights,
        a solver without epochs, or (data-parallel) another set on some rank.
    """
    if X_val is None and y_val is None:
        if sample_weight_val is not None:
            raise ValueError("sample_weight_val was given without X_val and y_val: pass the "
                             "validation set it weighs")
        return None
    if X_val is None or y_val is None:
        given, missing = ("X_val", "y_val") if y_val is None else ("y_val", "X_val")
        raise ValueError(f"{given} was given without {missing}: pass both, or neither")
    if estimator.solver == "lbfgs":
        raise ValueError("X_val: solver='lbfgs' minimizes the full-batch loss with no epochs "
                         "to score a validation set after; use a stochastic solver, or score "
                         "the fitted model on X_val")
    with _naming("X_val"):
        features = inputs.resolve_X(estimator, X_val, reset=False)
    with _naming("y_val"):
        targets = estimator._check_y_val(y_val, features.n_rows, y_host)
    with _naming("sample_weight_val"):
        weights = estimator._row_weights(
            targets, inputs.check_sample_weight(sample_weight_val, features.n_rows), plan)
    validation = ValidationSet(features, targets, weights, (X_val, y_val, sample_weight_val))
    if estimator.comm is not None:  # (the digest reads X_val to the host: only in a group)
        distributed.check_same_everywhere(estimator.comm, fingerprint(validation),
                                          "the validation set (X_val, y_val, "
                                          "sample_weight_val)")
    return validation


def fingerprint(validation: ValidationSet) -> str:
    """A digest of the set's features, targets and weights as this process holds them (one
    read of X_val to the host, once per fit)."""
    digest = hashlib.blake2b(digest_size=16)
    X = validation.features.X
    parts = (X.data, X.indices, X.indptr) if is_sparse(X) else (as_host_array(X),)
    for part in (*parts, validation.y_host, validation.weights):
        if part is not None:
            part = np.ascontiguousarray(part)
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(part.tobytes())
    return digest.hexdigest()


class _naming:
    """Prefixes a ValueError raised inside with the argument it is about (the checks are
    X's and y's own, whose words name X and y)."""

    def __init__(self, argument: str):
        self.argument = argument

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None and issubclass(kind, ValueError) and not str(error).startswith(
                self.argument):
            message = f"{self.argument}: {error}"
            try:
                renamed = type(error)(message)
            except TypeError:  # an error class that takes other arguments
                renamed = ValueError(message)
            raise renamed from None
        return False

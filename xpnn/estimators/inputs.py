"""What the estimators accept, checked at their entry points, and where it goes.

Each public entry (fit, partial_fit, predict, ...) resolves X once (``resolve_X``) into
``Features``: the checked array, the namespace and device it came in, sparse or dense, and
the training dtype it asks for, carried down so that nothing below asks X again. Two kinds
of X: arrays of an array-API namespace other than NumPy (torch, CuPy, JAX, array-api-strict)
stay in their namespace and on their device, checked here; everything scikit-learn accepts
on the NumPy path (NumPy, lists, pandas and polars DataFrames, scipy.sparse) goes through
scikit-learn's own ``validate_data``, which also records and checks ``feature_names_in_``.
A dask array is refused with a pointer to dask-ml's ``Incremental`` (``DASK_X``).
Targets and sample weights are small: they are checked on the host and moved to the
training device once (a dask y is computed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
from sklearn import get_config
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, column_or_1d, validate_data

from ..backend.devices import Backend, as_host_array, backend_of, is_sparse, numpy_backend
from ..errors import XpnnDataError, spelled


@dataclass(frozen=True, eq=False)  # compared by identity: X is an array
class Features:
    """X as an estimator's public entry resolved it, once (``resolve_X``), and carried down:
    nothing below asks X again where it lives or what it holds."""

    X: Any  # (n, d) checked: a NumPy array, a host CSR matrix, or the caller's own array
    caller: Backend  # the namespace and device X came in: outputs go back there
    sparse: bool  # a scipy.sparse CSR matrix, whose rows stay sparse up to the first layer
    dtype: str  # scikit-learn's training dtype for X: float32 for float32 features, else float64

    @property
    def n_rows(self) -> int:
        return self.X.shape[0]

    @property
    def place(self) -> tuple:
        """(namespace name, device) of the caller: what ``fit`` records as ``_fit_caller``."""
        return self.caller.name, str(self.caller.device)

    def on(self, backend: Backend, dtype: str):
        """X on ``backend`` in the dtype it came in (each batch is cast to the training dtype
        as it is gathered: ``batches.DeviceSplit``): where it lives already, no copy; else one
        move via the host. Sparse X stays a host CSR matrix in ``dtype`` (its batches stay
        sparse: ``batches.rows_on_device``)."""
        if self.sparse:
            return self.X.astype(dtype, copy=False)
        if same_place(self.caller, backend):
            return self.X
        return backend.asarray(as_host_array(self.X))

    def to_caller(self, array, backend: Backend):
        """An output computed on ``backend`` in the caller's namespace and on its device."""
        if same_place(self.caller, backend):
            return array
        return self.caller.asarray(as_host_array(array))


# One fit shuffles all its rows every epoch, so it would compute a dask array whole; dask-ml's
# Incremental calls partial_fit on one NumPy block at a time instead (docs/guide/dask.md).
DASK_X = ("X is a dask array, which xpnn would have to compute into memory: wrap the "
          "estimator in dask_ml.wrappers.Incremental to train block by block (its predict "
          "and score go block by block too), or pass X.compute() if it fits in memory")


def resolve_X(estimator, X, *, reset: bool) -> Features:
    """X checked (2-D, finite, the fitted feature count and names) and described once.

    ``reset``: a first fit, which records ``n_features_in_`` (and ``feature_names_in_``).
    A dask array is refused (``DASK_X``): xpnn holds a fit's rows in memory on one device."""
    if array_api_compat.is_dask_array(X):
        raise XpnnDataError(DASK_X)
    if (array_api_compat.is_array_api_obj(X) and not isinstance(X, np.ndarray)
            and not is_sparse(X)):
        return _device_features(estimator, X, reset)
    return _host_features(estimator, X, reset)


def _host_features(estimator, X, reset: bool) -> Features:
    """What scikit-learn accepts on the NumPy path, through its own ``validate_data``: dense
    numbers keep their dtype (uint8 images stay uint8: batches are cast as they are
    gathered, batches.py); sparse matrices (a DataFrame of sparse columns becomes one)
    become float CSR, whose rows batches gather."""
    X = validate_data(estimator, X, reset=reset, accept_sparse=["csr", "csc"], dtype="numeric")
    sparse = is_sparse(X)
    if sparse:
        X = X.tocsr()
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
    return Features(X, numpy_backend(), sparse, training_dtype(X.dtype))


def _device_features(estimator, X, reset: bool) -> Features:
    """An array of a namespace other than NumPy (torch, CuPy, JAX, array-api-strict), checked
    where it lives, with scikit-learn's words."""
    caller = backend_of(X)
    xp = caller.xp
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead: reshape your data "
                         f"to (n_samples, n_features).")
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a "
                         f"minimum of 1 is required.")
    if not xp.isdtype(X.dtype, ("real floating", "integral")):
        raise ValueError(f"{spelled('X')} has dtype {X.dtype}; expected real numbers")
    if reset:
        estimator.n_features_in_ = int(X.shape[1])
        estimator.__dict__.pop("feature_names_in_", None)
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(f"{spelled('X')} has {X.shape[1]} features, but "
                         f"{type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input.")
    if xp.isdtype(X.dtype, "real floating"):
        with caller.activate():
            finite = bool(as_host_array(xp.all(xp.isfinite(X))))  # one read per call
        if not finite:
            raise ValueError(f"Input {spelled('X')} contains NaN or infinity; clean or "
                             f"impute it first.")
    return Features(X, caller, False, training_dtype(X.dtype))


def training_dtype(dtype) -> str:
    """scikit-learn's rule: float32 features train in float32, any others in float64."""
    return "float32" if str(dtype).endswith("float32") else "float64"


def host_labels(y) -> np.ndarray:
    """Class labels from any namespace, list or pandas/polars Series, as a NumPy array."""
    if is_sparse(y):  # a sparse label indicator matrix: small, made dense
        return y.toarray()
    if array_api_compat.is_array_api_obj(y) and not isinstance(y, np.ndarray):
        return as_host_array(y)
    if hasattr(y, "to_numpy"):
        return np.asarray(y.to_numpy())
    return np.asarray(y)


def host_values(y) -> np.ndarray:
    """Regression targets on the host as float64 (any namespace or container)."""
    return np.asarray(host_labels(y), dtype=np.float64)


def _require_y(y, estimator_name="this estimator"):
    if y is None:
        raise ValueError(f"{estimator_name} requires y to be passed, but the target y is None.")


def _check_length(n_rows, y, what="y"):
    if n_rows is not None and y.shape[0] != n_rows:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"[{n_rows}, {y.shape[0]}] ({what})")


def check_class_labels(y, n_rows) -> np.ndarray:
    """(n,) host labels, numbers or names (a column vector is flattened with a warning), or
    a multi-label indicator matrix (n, k)."""
    _require_y(y, "the classifier")
    host = host_labels(y)
    if type_of_target(host) == "multilabel-indicator":  # 0/1 columns (n, k)
        labels = host
    else:
        labels = column_or_1d(host, warn=True)
        check_classification_targets(labels)
    _check_length(n_rows, labels)
    return labels


def classes_of(labels: np.ndarray) -> np.ndarray:
    """scikit-learn's classes_: the sorted labels, or 0..k-1 for an indicator matrix."""
    return np.arange(labels.shape[1]) if labels.ndim == 2 else np.unique(labels)


def encode_labels(labels: np.ndarray, classes: np.ndarray, columns: bool) -> np.ndarray:
    """Host labels -> the output head's targets: class indices 0..k-1 (int64), or with
    ``columns`` 0/1 columns (n, k) (float64): an indicator matrix as it is, and for one
    logistic output whether each label is the second class. Labels not in ``classes`` are
    an error."""
    if labels.ndim == 2:
        return labels.astype(np.float64)
    indices = class_indices(labels, classes)
    return (indices == 1).astype(np.float64)[:, None] if columns else indices


def class_indices(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Host labels -> class indices 0..k-1 (int64); labels not in ``classes`` are an error."""
    if classes.dtype.kind in "biuf" and labels.dtype.kind not in "biuf":
        raise ValueError(f"y holds class names ({labels[0]!r}, ...) but the model's classes "
                         f"are numbers {classes.tolist()}")
    idx = np.clip(np.searchsorted(classes, labels), 0, classes.size - 1)
    unknown = classes[idx] != labels
    if np.any(unknown):
        raise ValueError(f"y has classes not in classes_: {labels[unknown][0].item()!r} is not "
                         f"one of the model's classes {classes.tolist()}")
    return idx.astype(np.int64)


def check_regression_targets(y, n_rows) -> np.ndarray:
    """(n,) or (n, k) float64 host targets, finite; (n, 1) becomes (n,) with a warning."""
    _require_y(y, "the regressor")
    values = check_array(host_labels(y), ensure_2d=False, dtype=np.float64,
                         input_name="y")
    if values.ndim == 2 and values.shape[1] == 1:
        values = column_or_1d(values, warn=True)
    if values.ndim not in (1, 2):
        raise ValueError(f"y must be (n_samples,) or (n_samples, n_outputs); got shape "
                         f"{values.shape}")
    _check_length(n_rows, values)
    return values


def check_sample_weight(sample_weight, n_rows):
    """None, or (n,) float64 host weights: finite, non-negative, not all zero."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, (int, float, np.integer, np.floating)):
        return np.full(n_rows, float(sample_weight))
    weights = np.asarray(host_labels(sample_weight), dtype=np.float64)
    if weights.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar; got shape "
                         f"{weights.shape}")
    _check_length(n_rows, weights, "sample_weight")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("Negative values in data passed to sample_weight, or NaN/inf: "
                         "weights must be finite and >= 0")
    if not np.any(weights > 0):
        raise ValueError("sample_weight: all weights are zero; at least one must be positive")
    return weights


def seed_from(random_state) -> int:
    """An integer seed for the host Generator from what the parameter table lets through
    (as scikit-learn's check_random_state): the int given, one drawn from a RandomState, or
    fresh entropy for None."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return int(random_state)


def check_model_size(sizes, dtype: str):
    """Refuse, clearly, a network whose parameters and training state cannot fit in memory."""
    n_params = sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))
    # parameters, gradients and two optimizer moments
    needed = 4 * n_params * np.dtype(dtype).itemsize
    try:
        available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if needed > available:
        raise XpnnDataError(
            f"layer sizes {list(sizes)} make {n_params:,} parameters: training needs about "
            f"{needed / 2**30:,.1f} GiB (weights, gradients, optimizer state) but this machine "
            f"has {available / 2**30:,.1f} GiB; use smaller hidden layers")


def scaling_on(backend: Backend, scaling, dtype: str):
    """``fit``'s scaling = (shift or None, factor) as arrays in ``dtype`` on ``backend``."""
    if scaling is None:
        return None
    shift, factor = scaling
    return (None if shift is None else backend.asarray(shift, dtype=dtype),
            backend.asarray(factor, dtype=dtype))


def same_place(a: Backend, b: Backend) -> bool:
    return a.name == b.name and str(a.device) == str(b.device)


def check_same_namespace(estimator, features: Features, method: str):
    """With scikit-learn's array_api_dispatch on, follow its rule: a fitted estimator's
    methods take inputs of fit's namespace and device. (Off, xpnn moves them.)"""
    if not get_config()["array_api_dispatch"]:
        return
    fitted = getattr(estimator, "_fit_caller", None)
    if fitted is not None and tuple(fitted) != features.place:
        name, device = features.place
        raise ValueError(
            f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
            f"namespace and the same device as those passed to fit(): fitted on "
            f"{fitted[0]} ({fitted[1]}), got {name} ({device}).")

"""The scikit-learn-style facade: fit / predict / predict_proba / score on any namespace.

Namespace and device are resolved once, here, at the public entry point: ``device=None``
trains where the caller's arrays live; a device string (``"cpu"``, ``"cuda:0"``) moves the
data there once. Fitted parameters stay on the training backend; predictions come back in
the namespace and on the device of the arrays passed to ``predict``.
"""
from __future__ import annotations

import functools

import numpy as np

from . import mlp, ops
from .backend import Backend, as_host_array, backend_of, resolve_device
from .data.split import stratified_split
from .errors import XpnnDataError
from .optim import make_optimizer
from .train import DeviceSplit, TrainConfig, TrainState, evaluate, predict_logits, train


def _on_model_device(method):
    """Run a fitted model's method with its device current (CuPy launches on that GPU)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not hasattr(self, "params_"):
            raise XpnnDataError("this MLPClassifier is not fitted yet; call fit(X, y) first")
        with self.backend_.activate():
            return method(self, *args, **kwargs)
    return wrapper


class MLPClassifier:
    """A multilayer perceptron classifier trained with hand-derived gradients.

    hidden: widths of the hidden layers, e.g. (128,) or (256, 128).
    batch_size: rows per step; None or 0 for full-batch gradient descent.
    optimizer: "sgd", "momentum", "nesterov", "adam" or "adamw".
    dtype: "float32" (default) or "float64".
    device: None (train where the inputs live), "cpu", "cuda" or "cuda:N".
    val_fraction: hold out this stratified fraction of the training rows for validation.
    check_every: steps between divergence checks (0: once per epoch, no extra syncs).
    lr_schedule: "constant" or "cosine" (decay to 0 over all ``epochs``' steps).
    """

    def __init__(self, hidden=(128,), epochs=10, batch_size=128, lr=1e-3, optimizer="adam",
                 seed=0, dtype="float32", device=None, momentum=0.9, weight_decay=0.0,
                 val_fraction=0.0, early_stopping=False, patience=5, check_every=0,
                 lr_schedule="constant"):
        self.hidden = tuple(int(h) for h in hidden)
        self.epochs = int(epochs)
        self.batch_size = batch_size
        self.lr = float(lr)
        self.optimizer = optimizer
        self.seed = seed
        self.dtype = dtype
        self.device = device
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.val_fraction = float(val_fraction)
        self.early_stopping = bool(early_stopping)
        self.patience = int(patience)
        self.check_every = int(check_every)
        self.lr_schedule = lr_schedule

    # -- fitting ----------------------------------------------------------------------

    def fit(self, X, y, *, resume=False, on_epoch=None, on_step=None):
        """Train on X (n, d) and labels y (n,) from any array-API namespace; returns self.

        ``resume=True`` continues a fitted (or loaded) model up to ``self.epochs`` epochs in
        all, from its saved weights, optimizer state and random-number state.
        """
        resume = resume and hasattr(self, "state_")
        y = np.asarray(y) if isinstance(y, (list, tuple)) else y
        caller = backend_of(X) if _is_host_labels(y) else backend_of(X, y)
        if resume:
            backend = self.backend_
        else:
            backend = caller if self.device is None else resolve_device(self.device)
        with backend.activate():
            return self._fit(X, y, caller, backend, resume, on_epoch, on_step)

    def _fit(self, X, y, caller, backend, resume, on_epoch, on_step):
        dtype = backend.dtype(self.dtype)
        _check_shapes(X, y)
        inputs = _to_backend(X, caller, backend, dtype)
        _check_finite(inputs, backend.xp)

        if resume:
            self._check_features(X)
            encoded = self._encode(y)
            n_classes = int(self.classes_.shape[0])
        else:
            classes, encoded = np.unique(as_host_array(y), return_inverse=True)
            if classes.size < 2:
                raise XpnnDataError(f"y has a single class ({classes[0]!r}); need at least two")
            n_classes = int(classes.size)
            self.rng_ = np.random.default_rng(self.seed)  # init, then one permutation per epoch
            self.backend_ = backend
            self.classes_ = classes  # on the host: names (str) have no dtype on a GPU
            self.n_features_in_ = int(X.shape[1])
        labels = backend.asarray(np.asarray(encoded, dtype=np.int64))
        data, val = DeviceSplit(inputs, labels), None
        if self.val_fraction:  # its own stream, so a resumed run holds out the same rows
            train_idx, val_idx = stratified_split(encoded, self.val_fraction,
                                                  np.random.default_rng([self.seed, 1]))
            data = _rows(inputs, labels, train_idx, backend)
            val = _rows(inputs, labels, val_idx, backend)

        optimizer = self._make_optimizer()
        if not resume:
            sizes = mlp.layer_sizes(self.n_features_in_, self.hidden, n_classes)
            params = mlp.init_params(sizes, self.rng_, self.dtype, backend)
            self.state_ = TrainState(params, optimizer.init_state(params, backend.xp))
        config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size,
                             early_stopping=self.early_stopping, patience=self.patience,
                             check_every=self.check_every, lr_schedule=self.lr_schedule)
        try:
            train(self.state_, optimizer, data, config, self.rng_, backend, val=val,
                  on_epoch=on_epoch, on_step=on_step)
        finally:  # also on DivergenceError (last finite weights) and Ctrl-C (last epoch)
            self.params_ = self.state_.params
            self.history_ = self.state_.history
        return self

    def _make_optimizer(self):
        return make_optimizer(self.optimizer, self.lr, momentum=self.momentum,
                              weight_decay=self.weight_decay)

    # -- using a fitted model ---------------------------------------------------------

    @_on_model_device
    def predict_proba(self, X):
        """Class probabilities (n, k), in X's namespace and on X's device."""
        caller, logits = self._logits(X)
        return _to_caller(ops.softmax(logits, self.backend_.xp), self.backend_, caller)

    @_on_model_device
    def predict(self, X):
        """Predicted class labels (n,), in X's namespace and on X's device."""
        caller, logits = self._logits(X)
        xp = self.backend_.xp
        indices = ops.predicted_labels(logits, xp)
        if self.classes_.dtype.kind not in "biuf":  # names: mapped on the host, NumPy out
            return self.classes_[as_host_array(indices)]
        labels = xp.take(self.backend_.asarray(self.classes_), indices, axis=0)  # no host trip
        return _to_caller(labels, self.backend_, caller)

    @_on_model_device
    def evaluate(self, X, y):
        """(mean cross-entropy, accuracy) on X, y as host floats (metrics summed on the device)."""
        caller, inputs = self._inputs(X)
        labels = self.backend_.asarray(self._encode(y))
        return evaluate(self.params_, DeviceSplit(inputs, labels), self.backend_.xp)

    def _encode(self, y):
        """Host labels -> class indices 0..k-1; labels the model never saw are an error."""
        labels = as_host_array(y)
        classes = as_host_array(self.classes_)
        idx = np.searchsorted(classes, labels)
        idx = np.clip(idx, 0, classes.size - 1)
        unknown = classes[idx] != labels
        if np.any(unknown):
            raise XpnnDataError(f"label {labels[unknown][0]!r} is not one of the model's classes "
                                f"{classes.tolist()}")
        return idx.astype(np.int64)

    def score(self, X, y) -> float:
        """Mean accuracy of predict(X) against y."""
        predicted = as_host_array(self.predict(X))
        return float(np.mean(predicted == as_host_array(y)))

    def _logits(self, X):
        caller, inputs = self._inputs(X)
        return caller, predict_logits(self.params_, inputs, self.backend_.xp)

    def _check_features(self, X):
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise XpnnDataError(f"X has shape {tuple(X.shape)}; the model expects "
                                f"(n, {self.n_features_in_})")

    def _inputs(self, X):
        if not hasattr(self, "params_"):
            raise XpnnDataError("this MLPClassifier is not fitted yet; call fit(X, y) first")
        caller = backend_of(X)
        self._check_features(X)
        backend = self.backend_
        return caller, _to_backend(X, caller, backend, backend.dtype(self.dtype))


def _is_host_labels(y) -> bool:
    """Labels given as a NumPy array or list may go with X from any namespace: they are
    encoded on the host, and class names (strings) exist only there."""
    return isinstance(y, (np.ndarray, list, tuple))


def _check_shapes(X, y):
    if X.ndim != 2:
        raise XpnnDataError(f"X must be 2-D (n_samples, n_features); got shape {tuple(X.shape)}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise XpnnDataError(f"y must be 1-D with one label per row of X ({X.shape[0]}); "
                            f"got shape {tuple(y.shape)}")
    if X.shape[0] == 0:
        raise XpnnDataError("X has no rows")


def _check_finite(inputs, xp):
    if not bool(as_host_array(xp.all(xp.isfinite(inputs)))):
        raise XpnnDataError("X contains NaN or infinite values; clean or impute them first")


def _same_place(a: Backend, b: Backend) -> bool:
    return a.name == b.name and str(a.device) == str(b.device)


def _to_backend(X, caller: Backend, backend: Backend, dtype):
    """X cast to ``dtype`` on ``backend``: a cast in place of residence, or one move via host."""
    if _same_place(caller, backend):
        return backend.xp.astype(X, dtype, copy=False)
    return backend.asarray(as_host_array(X), dtype=dtype)


def _to_caller(array, backend: Backend, caller: Backend):
    if _same_place(caller, backend):
        return array
    return caller.asarray(as_host_array(array))


def _rows(inputs, labels, host_idx, backend: Backend) -> DeviceSplit:
    idx = backend.asarray(np.asarray(host_idx, dtype=np.int64))
    xp = backend.xp
    return DeviceSplit(xp.take(inputs, idx, axis=0), xp.take(labels, idx, axis=0))

"""scikit-learn estimators: MLPClassifier and MLPRegressor on any array namespace and device.

A drop-in for ``sklearn.neural_network``: the same parameter names and defaults, the same
fitted attributes, ``fit`` / ``partial_fit`` / ``predict`` / ``predict_proba`` / ``score``,
clone / Pipeline / GridSearchCV / pickle. What scikit-learn's MLP cannot do: train on
CuPy, torch, JAX or array-api-strict arrays, on a GPU, with outputs in the caller's
namespace and on its device. What both share (parameters, fitting, the fitted attributes)
is ``base.BaseMLP``; here is what each makes of its targets and outputs.

Pickles and skops files name this module (as ``xpnn.estimator``, its path before the layer
packages: ``xpnn/__init__.py``'s ``_MOVED``).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if

from ..backend.devices import Backend, as_host_array
from ..core.heads import HEADS
from . import class_weights, inputs
from .base import BaseMLP, FitPlan
from .docstrings import shared_docs
from .fit_callbacks import with_callbacks
from .params import REGRESSION_HEADS


@shared_docs
class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier on any namespace and device.

    Softmax outputs and log-loss for several classes, one logistic output for two, one
    logistic output per label for multi-label y (an indicator matrix), as scikit-learn's.
    Parameters as scikit-learn's ``MLPClassifier`` (see the user guide's table for the
    differences), plus ``class_weight``, ``weight_decay``, ``dropout``, ``dtype``,
    ``device``, ``check_every`` and ``comm``.

    Parameters
    ----------
    {mlp_parameters}
    class_weight : dict, list of dict, "balanced" or None, default=None
        As scikit-learn's linear classifiers: None, a dict ``{class: weight}`` or "balanced";
        multi-label y: "balanced" or one dict per label column. Multiplied into the rows'
        sample weights.
    {xpnn_parameters}

    Attributes
    ----------
    {fitted_attributes}
    classes_ : numpy.ndarray
        The class labels (multi-label: the label columns).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import train_test_split
    >>> from xpnn import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
    >>> clf.fit(X_train, y_train).score(X_test, y_test) > 0.9
    True
    >>> clf.predict_proba(X_test[:2]).shape
    (2, 10)

    ``MLPClassifier(device="cuda").fit(X, y)`` trains on the GPU and answers in NumPy;
    ``MLPClassifier().fit(X_torch, y_torch)`` answers in torch, on the tensors' device.
    """

    _parameter_constraints: dict = {**BaseMLP._parameter_constraints,
                                    "class_weight": [None, dict, list,
                                                     StrOptions({class_weights.BALANCED})]}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, weight_decay=0.0, dropout=0.0, dtype=None, device=None,
                 check_every=0, comm=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            weight_decay=weight_decay, dropout=dropout, dtype=dtype, device=device,
            check_every=check_every, comm=comm)
        self.class_weight = class_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # indicator-matrix y, as scikit-learn's
        return tags

    @available_if(lambda est: est._has_partial_fit())
    @with_callbacks
    @shared_docs
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, X_val=None, y_val=None,
                    sample_weight_val=None):
        """One pass over the given rows (one epoch).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows.
        y : array-like
            Class labels (n_samples,), or an indicator matrix (n_samples, n_labels)
            (multi-label).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights each row's loss.
        classes : array-like or None, default=None
            Needed by the first call: every label that any later call may bring (multi-label y:
            its label columns decide).
        {validation_parameters}

        Returns
        -------
        self
            The estimator.

        Raises
        ------
        ValueError
            Without ``classes`` on the first call, or with other ones later.
        """
        if not hasattr(self, "state_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        given = None if classes is None else np.unique(inputs.host_labels(classes))
        if hasattr(self, "state_") and given is not None and not np.array_equal(
                given, self.classes_):
            raise ValueError(f"`classes={given!r}` is not the same as on last call to "
                             f"partial_fit, was: {self.classes_!r}")
        return self._fit(X, y, sample_weight, self._plan("partial"), classes=given,
                         task_name="partial_fit",
                         validation=(X_val, y_val, sample_weight_val))

    def _check_y(self, y, n_rows, plan, classes=None):
        """Host targets of the output head: class indices (n,) (softmax), or 0/1 columns
        (n, k) (logistic: one column for two classes or one, one per label for multi-label
        y). ``plan`` None: checked against the fitted classes (evaluation); ``classes``:
        partial_fit's, sorted host labels."""
        labels = inputs.check_class_labels(y, n_rows)
        if plan is not None and plan.initialize:
            self.classes_ = (inputs.classes_of(labels) if classes is None or labels.ndim == 2
                             else classes)
            columns = labels.ndim == 2 or self.classes_.size <= 2  # logistic outputs
        else:
            if (labels.ndim == 2) != self._multilabel:
                raise ValueError(f"y is {'multi-label' if labels.ndim == 2 else 'single-label'}"
                                 f" but the model was fitted on "
                                 f"{'multi-label' if self._multilabel else 'single-label'} y")
            if plan is not None:
                self._check_classes_again(labels, plan)
            columns = self.out_activation_ == "logistic"
        return inputs.encode_labels(labels, self.classes_, columns)

    def _check_y_val(self, y_val, n_rows, y_host):
        """y_val's host targets, encoded as this fit's ``y_host`` (``_check_y``): the same
        kind of labels, and only classes the model learns."""
        labels = inputs.check_class_labels(y_val, n_rows)
        if labels.ndim == 1:
            unknown = np.setdiff1d(np.unique(labels), self.classes_)
            if unknown.size:
                raise ValueError(f"it has classes that y does not: {unknown.tolist()} (the "
                                 f"model learns {self.classes_.tolist()})")
        targets = inputs.encode_labels(labels, self.classes_, y_host.ndim == 2)
        if targets.shape[1:] != y_host.shape[1:]:
            kind = "multi-label" if labels.ndim == 2 else "single-label"
            raise ValueError(f"it is {kind} with targets of shape {targets.shape[1:]} per row; "
                             f"y's are {y_host.shape[1:]}: give it the same kind of labels")
        return targets

    def _row_weights(self, y_host, sample_weight, plan: FitPlan):
        """sample_weight times each row's class_weight (``class_weights.py``): its class's,
        or for multi-label y the product over its labels' 0/1 values."""
        if self.class_weight is None:
            return sample_weight
        if plan.partial and self.class_weight == class_weights.BALANCED:
            raise ValueError(class_weights.PARTIAL_FIT_BALANCED)
        if y_host.ndim == 2 and y_host.shape[1] > 1:  # an indicator matrix (multi-label)
            return class_weights.for_indicator(self.class_weight, y_host, sample_weight)
        # class indices, or one logistic output's 0/1 column (two classes, or one)
        class_idx = y_host if y_host.ndim == 1 else y_host[:, 0].astype(np.int64)
        return class_weights.for_classes(self.class_weight, class_idx, self.classes_,
                                         sample_weight)

    def _check_classes_again(self, labels, plan):
        """scikit-learn's errors: warm_start needs fit's classes; partial_fit known ones."""
        if labels.ndim == 2:  # multi-label: the same number of labels
            if labels.shape[1] != self.classes_.size:
                raise ValueError(f"y has {labels.shape[1]} labels; the model was fitted with "
                                 f"{self.classes_.size}")
            return
        classes = np.unique(labels)
        if self.warm_start and not np.array_equal(classes, self.classes_):
            raise ValueError(f"warm_start can only be used where `y` has the same classes as "
                             f"in the previous call to fit. Previously got {self.classes_}, "
                             f"`y` has {classes}")
        unknown = np.setdiff1d(classes, self.classes_)
        if unknown.size:
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                             f"{self.classes_}. 'y' has {classes}.")

    def _n_outputs(self, y_host) -> int:
        return int(y_host.shape[1]) if y_host.ndim == 2 else int(self.classes_.size)

    def _output_head(self, y_host) -> str:
        """scikit-learn's out_activation_: softmax for several classes, else logistic."""
        return "logistic" if y_host.ndim == 2 else "softmax"

    def _targets_on(self, backend: Backend, y_host):
        if y_host.ndim == 2:  # 0/1 columns, in the training dtype
            return backend.asarray(y_host, dtype=self.dtype_)
        return backend.asarray(y_host)

    @property
    def _multilabel(self) -> bool:
        return self.out_activation_ == "logistic" and self.n_outputs_ > 1

    def _probabilities(self, outputs, xp):
        """(n, k) class or label probabilities; one logistic output gives (1 - p, p)."""
        probs = HEADS[self.out_activation_].predict(outputs, xp)
        if self.out_activation_ == "logistic" and not self._multilabel:
            probs = xp.concat([1.0 - probs, probs], axis=1)
        return probs

    def _class_indices(self, outputs, xp):
        """Each row's predicted index into classes_ (n,) from raw outputs of ``xp``
        (multi-label: the 0/1 indicator (n, k)); what predict and the ONNX export map."""
        decided = HEADS[self.out_activation_].decide(outputs, xp)
        if decided.ndim == 2 and not self._multilabel:  # one logistic output: class 1 where
            decided = xp.minimum(decided[:, 0], self.classes_.size - 1)  # it says 1 (one class)
        return decided

    @shared_docs
    def predict_proba(self, X):
        """Class probabilities (n, k) (multi-label: each label's).

        Parameters
        ----------
        {rows}

        Returns
        -------
        array
            Shape (n_samples, n_classes), in X's namespace and on X's device.
        """
        features, outputs = self._outputs(X, "predict_proba")
        with self.backend_.activate():
            probs = self._probabilities(outputs, self.backend_.xp)
        return features.to_caller(probs, self.backend_)

    @shared_docs
    def predict_log_proba(self, X):
        """log(predict_proba(X)), as scikit-learn defines it.

        -inf where a probability underflows to 0.

        Parameters
        ----------
        {rows}

        Returns
        -------
        array
            Shape (n_samples, n_classes), in X's namespace and on X's device.
        """
        features, outputs = self._outputs(X, "predict_log_proba")
        xp = self.backend_.xp
        with self.backend_.activate(), self.backend_.quiet_float_errors():
            log_probs = xp.log(self._probabilities(outputs, xp))
        return features.to_caller(log_probs, self.backend_)

    @shared_docs
    def predict(self, X):
        """Predicted class labels (n,) (multi-label: the indicator matrix (n, k)).

        Parameters
        ----------
        {rows}

        Returns
        -------
        array
            In X's namespace and on X's device (class names: a NumPy array, the only namespace
            with strings).
        """
        features, outputs = self._outputs(X, "predict")
        xp = self.backend_.xp
        with self.backend_.activate():
            decided = self._class_indices(outputs, xp)
            if self._multilabel:
                return features.to_caller(decided, self.backend_)
            if self.classes_.dtype.kind not in "biuf":  # names: mapped on the host
                return self.classes_[as_host_array(decided)]
            labels = xp.take(self.backend_.asarray(self.classes_), decided, axis=0)
        return features.to_caller(labels, self.backend_)

    def score(self, X, y, sample_weight=None):
        """Mean (weighted) accuracy of predict(X) against y (multi-label: subset accuracy).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows.
        y : array-like
            The true labels.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Row weights.

        Returns
        -------
        float
            The accuracy, a Python float.
        """
        from sklearn.metrics import accuracy_score  # (60 ms at import: only score needs it)

        weights = inputs.check_sample_weight(sample_weight, None)
        return float(accuracy_score(inputs.host_labels(y), as_host_array(self.predict(X)),
                                    sample_weight=weights))


@shared_docs
class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor on any namespace and device.

    Identity outputs and half squared error (``loss="squared_error"``), or exp outputs and
    half Poisson deviance (``loss="poisson"``, y >= 0); y of shape (n,) or (n, k), R^2
    score. Parameters as MLPClassifier's, with ``loss`` first, as scikit-learn's.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default="squared_error"
        Half squared error with identity outputs, or half Poisson deviance with exp outputs
        (y >= 0).
    {mlp_parameters}
    {xpnn_parameters}

    Attributes
    ----------
    {fitted_attributes}

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from xpnn import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=500, random_state=0)
    >>> reg.fit(X, y / 100.0).score(X, y / 100.0) > 0.9
    True
    """

    _parameter_constraints: dict = {**BaseMLP._parameter_constraints,
                                    "loss": [StrOptions(set(REGRESSION_HEADS))]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 weight_decay=0.0, dropout=0.0, dtype=None, device=None, check_every=0,
                 comm=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            weight_decay=weight_decay, dropout=dropout, dtype=dtype, device=device,
            check_every=check_every, comm=comm)
        self.loss = loss

    @available_if(lambda est: est._has_partial_fit())
    @with_callbacks
    @shared_docs
    def partial_fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
                    sample_weight_val=None):
        """One pass over the given rows (one epoch).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows.
        y : array-like
            Targets (n_samples,) or (n_samples, n_outputs).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights each row's loss.
        {validation_parameters}

        Returns
        -------
        self
            The estimator.
        """
        return self._fit(X, y, sample_weight, self._plan("partial"), task_name="partial_fit",
                         validation=(X_val, y_val, sample_weight_val))

    def _check_y(self, y, n_rows, plan, classes=None):
        values = self._values(y, n_rows)
        if (plan is None or not plan.initialize) and values.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {values.shape[1]} outputs; the model was fitted with "
                             f"{self.n_outputs_}")
        return values

    def _check_y_val(self, y_val, n_rows, y_host):
        """y_val's host values (n, k), with y's outputs."""
        values = self._values(y_val, n_rows)
        if values.shape[1] != y_host.shape[1]:
            raise ValueError(f"it has {values.shape[1]} outputs; y has {y_host.shape[1]}")
        return values

    def _values(self, y, n_rows):
        """Host targets (n, k), finite (and not negative for the Poisson loss)."""
        values = inputs.check_regression_targets(y, n_rows).reshape(n_rows, -1)
        if self.loss == "poisson" and np.any(values < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        return values

    def _n_outputs(self, y_host) -> int:
        return int(y_host.shape[1])

    def _output_head(self, y_host) -> str:
        return REGRESSION_HEADS[self.loss]

    def _targets_on(self, backend: Backend, y_host):
        return backend.asarray(y_host, dtype=self.dtype_)

    @shared_docs
    def predict(self, X):
        """Predictions (n,) for a single output, else (n, k).

        Parameters
        ----------
        {rows}

        Returns
        -------
        array
            In X's namespace and on X's device.
        """
        features, outputs = self._outputs(X, "predict")
        with self.backend_.activate():
            predictions = self._predictions(outputs, self.backend_.xp)
        return features.to_caller(predictions, self.backend_)

    def _predictions(self, outputs, xp):
        """Predictions from raw outputs of ``xp``: (n,) for a single output, else (n, k)."""
        predictions = HEADS[self.out_activation_].predict(outputs, xp)
        return predictions[:, 0] if predictions.shape[1] == 1 else predictions

    def score(self, X, y, sample_weight=None):
        """R^2 of predict(X), averaged over outputs.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows.
        y : array-like
            Targets (n_samples,) or (n_samples, n_outputs).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Row weights.

        Returns
        -------
        float
            R^2, a Python float.
        """
        from sklearn.metrics import r2_score  # (60 ms at import: only score needs it)

        weights = inputs.check_sample_weight(sample_weight, None)
        return float(r2_score(inputs.host_values(y),
                              as_host_array(self.predict(X)), sample_weight=weights))


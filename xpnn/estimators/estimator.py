"""scikit-learn estimators: MLPClassifier and MLPRegressor on any array namespace and device.

A drop-in for ``sklearn.neural_network``: the same parameter names and defaults, the same
fitted attributes, ``fit`` / ``partial_fit`` / ``predict`` / ``predict_proba`` / ``score``,
clone / Pipeline / GridSearchCV / pickle. What scikit-learn's MLP cannot do: train on
CuPy, torch, JAX or array-api-strict arrays, on a GPU, with outputs in the caller's
namespace and on its device.

Namespace and device are resolved once, here, at the public entry points: ``device=None``
trains where the caller's arrays live (NumPy for lists, DataFrames and sparse matrices);
a device string (``"cpu"``, ``"cuda:0"``) moves the data there once. The one table of
hyperparameters is ``_parameter_constraints`` (validated in ``fit`` by scikit-learn's own
machinery) with the defaults of ``__init__``; checkpoints and the CLI read the same table.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import class_weights, inputs

from ..parallel import distributed

from ..training import lbfgs

from ..core import mlp
from ..core.activations import ACTIVATIONS
from ..backend.devices import (DTYPES, Backend, as_host_array, backend_of, is_device_spec, is_sparse,
                      numpy_backend, resolve_device)
from ..training.batches import DeviceSplit
from ..data.split import check_two_per_class, stratified_split
from ..training.evaluation import evaluate, outputs_in_batches
from ..errors import CallbackError
from .fit_callbacks import CallbackSupportMixin, FitTasks, with_callbacks
from ..core.heads import HEADS
from ..core.optim import OPTIMIZERS, SCHEDULES, make_optimizer, velocity_from_buffer
from ..training.train import TrainConfig, train
from ..training.train_state import TrainingInterrupted, TrainState, snapshot
from .verbose import VerboseReport
from .verbose import callbacks as verbose_callbacks

SOLVERS = (*OPTIMIZERS, "lbfgs")
# MLPRegressor's loss -> its output head (scikit-learn's out_activation_)
REGRESSION_HEADS = {"squared_error": "identity", "poisson": "exp"}

# What a resumed run (``resume_fit``, ``xpnn train --resume``) may change; every other
# hyperparameter is the saved model's.
CHANGEABLE_ON_RESUME = frozenset({"max_iter", "early_stopping", "n_iter_no_change", "tol",
                                  "verbose", "check_every", "device", "comm"})


class DeviceStrings(StrOptions):
    """The constraint on ``device``: a string ``backend.resolve_device`` reads (cpu, cuda,
    cuda:N); scikit-learn's validation names it in its InvalidParameterError."""

    def __init__(self):
        super().__init__({"cpu", "cuda"})

    def is_satisfied_by(self, val):
        return is_device_spec(val)

    def __str__(self):
        return "a device string: 'cpu', 'cuda' or 'cuda:N' (N a GPU index)"


# what Ctrl-C during fit does: scikit-learn's warning and the model as fitted so far, or
# TrainingInterrupted raised (the CLI's: it saves a resumable checkpoint and exits 130)
ON_INTERRUPT = ("warn", "raise")


@dataclass(frozen=True)
class FitPlan:
    """What one call to fit, partial_fit or resume_fit does, decided once at its start
    (scikit-learn's MLP decides the same in ``_fit``: first pass, incremental)."""

    initialize: bool  # new weights and optimizer (a first fit, or fit without warm_start)
    warm_start: bool  # fit again from the fitted weights with a fresh optimizer and count
    partial: bool  # partial_fit: one epoch more, no holdout, no convergence warning
    epochs_done: int  # epochs (lbfgs: iterations) already counted when this call starts
    max_iter: int  # epochs (lbfgs: iterations) in all at the end of this call

    @property
    def early_stopping_allowed(self) -> bool:
        return not self.partial

    @property
    def epochs_to_run(self) -> int:
        """Epochs (lbfgs: iterations) this call may run."""
        return max(self.max_iter - self.epochs_done, 0)


class BaseMLP(CallbackSupportMixin, BaseEstimator):
    """What the classifier and the regressor share: parameters, fitting, prediction."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(ACTIVATIONS.keys())],  # a live view: entries added later count
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto", "full"}),
                       Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(SCHEDULES))],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"),
                             Options(numbers.Real, {np.inf})],
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
        # xpnn's own
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left"), "array-like"],  # per layer
        "dtype": [None, StrOptions(set(DTYPES))],
        "device": [None, DeviceStrings()],
        "check_every": [Interval(numbers.Integral, 0, None, closed="left")],
        # an mpi4py communicator (duck-typed: mpi4py stays optional)
        "comm": [None, HasMethods(["Get_rank", "Get_size", "Allreduce"])],
    }

    # scikit-learn's defaults (and xpnn's own after max_fun): the one place they are written;
    # both estimators inherit this signature, so get_params / clone see the same table
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 weight_decay=0.0, dropout=0.0, dtype=None, device=None, check_every=0,
                 comm=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.dtype = dtype
        self.device = device
        self.check_every = check_every
        self.comm = comm

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    # -- fitting ----------------------------------------------------------------------

    @with_callbacks
    def fit(self, X, y, sample_weight=None, *, on_epoch=None, on_step=None, scaling=None,
            on_interrupt="warn"):
        """Train on X (n, d) and y.

        X stays in its own dtype (uint8 images stay uint8); each batch is cast to the training
        dtype as it is gathered.

        With scikit-learn 1.9+, ``set_callbacks`` takes scikit-learn's callbacks (and
        ``xpnn.callbacks``'): the fit is the root task, each epoch (L-BFGS: iteration) a
        sub-task (``fit_callbacks.py``); a callback's True at an epoch's end stops there.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            From NumPy, lists, pandas/polars, scipy.sparse, or any array-API namespace (torch,
            CuPy, JAX, array-api-strict).
        y : array-like
            Targets: class labels, or values for a regressor (see the estimator).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights each row's loss.
        on_epoch : callable or None, default=None
            ``on_epoch(record)``, a progress callback after each epoch (host only).
        on_step : callable or None, default=None
            ``on_step(i)``, after each step (host only).
        scaling : tuple or None, default=None
            None, or (shift or None, factor), host arrays in the training dtype: each cast batch
            becomes (x - shift) * factor, how ``xpnn train`` applies its saved preprocessing
            without a float copy of the data (predict then takes features scaled the same way).
        on_interrupt : {"warn", "raise"}, default="warn"
            What Ctrl-C does: "warn" (scikit-learn's behaviour) warns "Training interrupted by
            user." and returns the model as of its last completed epoch; "raise" raises
            ``TrainingInterrupted`` instead.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        DivergenceError
            When the loss or the weights become non-finite (the last finite weights are kept).
        XpnnDeviceError
            When ``device`` is not usable, or X and y live in different namespaces or devices.
        """
        return self._fit(X, y, sample_weight, self._plan("fit"), on_epoch, on_step,
                         scaling=scaling, on_interrupt=on_interrupt, task_name="fit")

    @with_callbacks
    def resume_fit(self, X, y, sample_weight=None, *, on_epoch=None, on_step=None,
                   scaling=None, on_interrupt="warn"):
        """Continue a fitted (or loaded) model exactly up to ``max_iter`` epochs in all.

        From its weights, optimizer state, random-number state and stopping counters. Only
        the parameters in ``CHANGEABLE_ON_RESUME`` (``max_iter``, ``early_stopping``,
        ``n_iter_no_change``, ``tol``, ``verbose``, ``check_every``, ``device``, ``comm``)
        may differ from the fitted model's.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            From NumPy, lists, pandas/polars, scipy.sparse, or any array-API namespace (torch,
            CuPy, JAX, array-api-strict).
        y : array-like
            Targets, as fit's.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights each row's loss.
        on_epoch : callable or None, default=None
            ``on_epoch(record)``, a progress callback after each epoch (host only).
        on_step : callable or None, default=None
            ``on_step(i)``, after each step (host only).
        scaling : tuple or None, default=None
            None, or (shift or None, factor), host arrays in the training dtype: each cast batch
            becomes (x - shift) * factor, how ``xpnn train`` applies its saved preprocessing
            without a float copy of the data (predict then takes features scaled the same way).
        on_interrupt : {"warn", "raise"}, default="warn"
            What Ctrl-C does: "warn" (scikit-learn's behaviour) warns "Training interrupted by
            user." and returns the model as of its last completed epoch; "raise" raises
            ``TrainingInterrupted`` instead.

        Returns
        -------
        self
            The fitted estimator.

        Raises
        ------
        ValueError
            When another parameter changed since the model was fitted.
        DivergenceError
            When the loss or the weights become non-finite.
        """
        check_is_fitted(self)
        self._check_resume_params()
        return self._fit(X, y, sample_weight, self._plan("resume"), on_epoch, on_step,
                         scaling=scaling, on_interrupt=on_interrupt, task_name="resume_fit")

    def _has_partial_fit(self):
        if self.solver == "lbfgs":
            raise AttributeError(f"partial_fit is not available for solver={self.solver!r}; "
                                 f"use a stochastic solver ({', '.join(OPTIMIZERS)})")
        return True

    def _plan(self, call: str) -> FitPlan:
        """The plan of a call to ``fit``, ``partial`` (partial_fit) or ``resume``."""
        self._validate_params()
        fitted = hasattr(self, "state_")
        if call == "partial" and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        if any(self._dropout_rates()) and self.solver == "lbfgs":
            raise ValueError("dropout draws new masks every step; solver='lbfgs' minimizes "
                             "one fixed full-batch loss: use a stochastic solver "
                             f"({', '.join(OPTIMIZERS)}) or dropout=0")
        if call == "partial" and self.learning_rate == "cosine":
            raise ValueError("learning_rate='cosine' decays over max_iter epochs of the data "
                             "given to fit; partial_fit has no such horizon: use 'constant', "
                             "'invscaling' or 'adaptive'")
        initialize = not fitted or (call == "fit" and not self.warm_start)
        warm_start = fitted and call == "fit" and bool(self.warm_start)
        epochs_done = self.state_.epoch if fitted and not (initialize or warm_start) else 0
        max_iter = epochs_done + 1 if call == "partial" else int(self.max_iter)
        return FitPlan(initialize, warm_start, call == "partial", epochs_done, max_iter)

    def _check_resume_params(self):
        """resume_fit continues the fitted model: only CHANGEABLE_ON_RESUME may differ."""
        changed = self.resume_conflicts(self.get_params())
        if changed:
            raise ValueError(
                f"resume_fit continues the fitted model with its own settings: "
                f"{', '.join(changed)} changed since it was fitted (only "
                f"{', '.join(sorted(CHANGEABLE_ON_RESUME))} may change); call fit to train "
                f"anew with the new settings")

    def resume_conflicts(self, params: dict) -> list:
        """The names in ``params`` that differ from the fitted settings and may not change.

        All but ``CHANGEABLE_ON_RESUME`` may not: the one resume rule, for ``resume_fit`` and
        ``xpnn train --resume`` alike.

        Parameters
        ----------
        params : dict
            Settings, as ``get_params()`` gives them.

        Returns
        -------
        list of str
            The conflicting names, sorted.
        """
        fitted = self._fitted_params
        return sorted(name for name, value in params.items()
                      if name in fitted and not same_param(value, fitted[name]))

    def _resume_fixed_params(self) -> dict:
        return {name: value for name, value in self.get_params().items()
                if name not in CHANGEABLE_ON_RESUME}

    def _fit(self, X, y, sample_weight, plan: FitPlan, on_epoch=None, on_step=None,
             classes=None, scaling=None, on_interrupt="warn", *, task_name):
        if on_interrupt not in ON_INTERRUPT:
            raise ValueError(f"on_interrupt must be one of {ON_INTERRUPT}, got "
                             f"{on_interrupt!r}")
        given = X, y, (None if sample_weight is None else {"sample_weight": sample_weight})
        caller, X = inputs.check_X(self, X, reset=plan.initialize)
        if scaling is not None and is_sparse(X):
            raise ValueError("scaling= applies to dense features; scale sparse X first")
        y_host = self._check_y(y, X.shape[0], plan, classes)
        weights = self._row_weights(y_host, inputs.check_sample_weight(sample_weight,
                                                                        X.shape[0]), plan)
        if self.comm is not None and self.solver == "lbfgs":
            raise ValueError("comm= (data-parallel training) needs a stochastic solver "
                             f"({', '.join(OPTIMIZERS)}), not solver='lbfgs'")
        if plan.initialize:
            backend = caller.backend if self.device is None else resolve_device(
                distributed.local_device(self.comm, self.device))  # cuda: this rank's GPU
        else:
            backend = self.backend_
        tasks = self._fit_tasks(given, plan, task_name, backend)
        try:
            with backend.activate(), backend.quiet_float_errors():
                self._fit_on(backend, caller, X, y_host, weights, plan, on_epoch, on_step,
                             scaling, tasks)
        except TrainingInterrupted as interrupt:
            # scikit-learn's MLP warns and keeps the model as fitted so far; a data-parallel
            # fit returns only when every rank stopped at the same epoch (else some rank
            # would wait in a collective that never comes)
            if on_interrupt == "raise" or not (interrupt.agreed or self.comm is None):
                raise
            warnings.warn("Training interrupted by user.")
        tasks.end()
        return self

    def _fit_tasks(self, given, plan: FitPlan, task_name: str, backend) -> FitTasks:
        """This call's tasks for scikit-learn's callbacks (1.9+), run on rank 0 of a
        data-parallel fit (or alone). The group agrees as the fit begins whether any rank
        runs callbacks (then each joins their per-epoch sums) and whether their setup failed
        (then every rank raises)."""
        tasks = failure = None
        try:
            tasks = FitTasks(self, *given, task_name=task_name, subtasks=plan.epochs_to_run,
                             subtask_name="iteration" if self.solver == "lbfgs" else "epoch",
                             fitted=functools.partial(self._attributes_after, plan),
                             active=self.comm is None or self.comm.Get_rank() == 0)
        except Exception as exc:  # raised below, on every rank of the group at once
            failure = exc
        # one process is a group of one: its sums are its own values
        failed, hooked = distributed.host_reducer(self.comm, backend).host_sum(
            [float(failure is not None), float(tasks is not None and tasks.active)])
        if failure is not None:
            raise failure
        if failed:
            raise CallbackError("a callback raised on another rank as the fit began; this "
                                "rank stops with it")
        tasks.anywhere = hooked > 0
        return tasks

    def _fit_on(self, backend, caller, X, y_host, weights, plan, on_epoch, on_step,
                scaling=None, tasks=None):
        if plan.initialize:  # scikit-learn's rule: float32 features train in float32
            self.dtype_ = self.dtype or inputs.training_dtype(X)
        dtype = self.dtype_
        features = inputs.to_backend(X, caller, backend, dtype)
        targets = self._targets_on(backend, y_host)
        row_weights = None if weights is None else backend.asarray(weights, dtype=dtype)
        if plan.initialize:
            self._initialize(backend, features.shape[1], y_host)
        elif plan.warm_start:  # the same weights, a fresh optimizer and epoch count
            old = self.state_
            self.state_ = TrainState(old.params, self._optimizer().init_state(old.params,
                                                                              backend.xp),
                                     history=old.history, samples_seen=old.samples_seen,
                                     best_loss=old.best_loss, best_score=old.best_score,
                                     best_epoch=old.best_epoch, best_params=old.best_params)
        self._fit_caller = caller.key
        self._fitted_params = self._resume_fixed_params()
        data = DeviceSplit(features, targets, row_weights, dtype,
                           scaling=inputs.scaling_on(backend, scaling, dtype))
        if self.solver == "lbfgs":
            self._fit_lbfgs(backend, data, plan, tasks)
            return
        data, val = self._splits(backend, data, y_host, plan, weights)
        config = self._config(len(data), plan)
        reducer = distributed.make_reducer(self.comm, backend)
        report = (VerboseReport(config, self.state_) if self.verbose and reducer.rank == 0
                  else None)  # scikit-learn's lines on stdout, once for a data-parallel fit
        on_epoch, on_plateau = verbose_callbacks(report, on_epoch)
        try:
            train(self.state_, self._optimizer(), data, config, self.rng_, backend, reducer,
                  val=val, on_epoch=on_epoch, on_step=on_step, on_plateau=on_plateau,
                  hooks=None if tasks is None else tasks.hooks())
        finally:  # also on DivergenceError (last finite weights) and Ctrl-C
            self._publish(plan)
        if not plan.partial and not (self.state_.converged or self.state_.stopped):
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                          f"reached and the optimization hasn't converged yet.",
                          ConvergenceWarning)

    def _initialize(self, backend, n_features, y_host):
        """First fit: random state, layer sizes, parameters, optimizer state."""
        self.backend_ = backend
        self.seed_ = inputs.seed_from(self.random_state)
        self.rng_ = np.random.default_rng(self.seed_)  # init, then one permutation per epoch
        self.n_outputs_ = self._n_outputs(y_host)
        sizes = mlp.layer_sizes(n_features, self._hidden(), self.n_outputs_)
        self.n_layers_ = len(sizes)
        self.out_activation_ = self._output_head(y_host)  # a key of heads.HEADS
        inputs.check_model_size(sizes, self.dtype_)
        params = mlp.init_params(sizes, self.rng_, self.dtype_, backend, self.activation)
        opt_state = {"step": 0} if self.solver == "lbfgs" else self._optimizer().init_state(
            params, backend.xp)
        self.state_ = TrainState(params, opt_state)

    def _row_weights(self, y_host, sample_weight, plan: FitPlan):
        """The rows' training weights: sample_weight (the classifier multiplies its
        class_weight in)."""
        return sample_weight

    def _hidden(self) -> tuple:
        sizes = self.hidden_layer_sizes
        if not np.iterable(sizes):
            sizes = (sizes,)
        sizes = tuple(int(size) for size in sizes)
        if any(size <= 0 for size in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {list(sizes)}.")
        return sizes

    def _dropout_rates(self) -> tuple:
        """One dropout rate in [0, 1) per hidden layer: ``dropout`` for each, or its own."""
        n_hidden = len(self._hidden())
        rates = self.dropout
        if not np.iterable(rates):
            return (float(rates),) * n_hidden
        rates = tuple(rates)
        if len(rates) != n_hidden or not all(
                isinstance(rate, numbers.Real) and not isinstance(rate, bool)
                and 0.0 <= rate < 1.0 for rate in rates):
            raise ValueError(f"dropout must be a float in [0, 1) for every hidden layer, or "
                             f"one such rate per hidden layer ({n_hidden}); got {rates!r}")
        return tuple(float(rate) for rate in rates)

    def _spec(self) -> mlp.MLPSpec:
        return mlp.MLPSpec(self.activation, self.out_activation_, float(self.alpha))

    def _optimizer(self):
        return make_optimizer("sgd" if self.solver == "lbfgs" else self.solver,
                              float(self.learning_rate_init), momentum=float(self.momentum),
                              nesterov=bool(self.nesterovs_momentum), beta1=float(self.beta_1),
                              beta2=float(self.beta_2), eps=float(self.epsilon),
                              weight_decay=float(self.weight_decay))

    def _config(self, n_rows: int, plan: FitPlan) -> TrainConfig:
        if self.batch_size == "auto":
            batch_size = min(200, n_rows)
        elif self.batch_size == "full":
            batch_size = 0
        else:
            if self.batch_size > n_rows:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped")
            batch_size = min(int(self.batch_size), n_rows)
        return TrainConfig(
            max_iter=plan.max_iter, batch_size=batch_size, shuffle=bool(self.shuffle),
            tol=float(self.tol), n_iter_no_change=self.n_iter_no_change,
            early_stopping=bool(self.early_stopping) and plan.early_stopping_allowed,
            learning_rate=self._schedule(), learning_rate_init=float(self.learning_rate_init),
            power_t=float(self.power_t), check_every=int(self.check_every), spec=self._spec(),
            dropout=self._dropout_rates(), seed=self.seed_)

    def _schedule(self) -> str:
        """scikit-learn's schedules (invscaling, adaptive) apply to solver='sgd' only, as in
        scikit-learn (which ignores them for adam); xpnn's cosine to every solver."""
        if self.learning_rate in ("invscaling", "adaptive") and self.solver != "sgd":
            return "constant"
        return self.learning_rate

    def _splits(self, backend, data: DeviceSplit, y_host, plan: FitPlan, weights=None):
        """(training split, validation split or None): scikit-learn holds out
        ``validation_fraction`` (stratified for a classifier) only for early stopping. Its
        own stream from the seed, so a resumed run holds out the same rows."""
        if not (self.early_stopping and plan.early_stopping_allowed):
            return data, None
        rng = np.random.default_rng([self.seed_, 1])
        if is_classifier(self) and not self._multilabel:  # stratified by label
            strata = np.unique(y_host, axis=0, return_inverse=True)[1].reshape(-1)
            if len(self.classes_) == 2:  # scikit-learn stratifies a binary y, and refuses
                check_two_per_class(strata, self.classes_)  # a class of one member there
            train_idx, val_idx = stratified_split(strata, self.validation_fraction, rng)
        else:
            order = rng.permutation(len(y_host))
            n_val = int(math.ceil(self.validation_fraction * len(y_host)))
            train_idx, val_idx = order[n_val:], np.sort(order[:n_val])
        if len(val_idx) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        for part, idx in (("validation", val_idx), ("training", train_idx)):
            if weights is not None and not np.sum(weights[idx]) > 0:
                raise ValueError(f"sample_weight: every {part} row held out for early stopping "
                                 f"has weight 0; give some of them a positive weight")
        return data.take(train_idx, backend), data.take(val_idx, backend)

    def _fit_lbfgs(self, backend, data: DeviceSplit, plan: FitPlan, tasks=None):
        # resume_fit: up to max_iter iterations in all; fit (also warm start): max_iter more
        iterations = plan.epochs_to_run
        if iterations == 0:
            return

        def on_iteration(n, loss, params_of):  # the callbacks' task per iteration
            return tasks.iteration({"epoch": plan.epochs_done + n, "loss": loss}, params_of)

        result = lbfgs.minimize(self.state_, data, self._spec(), backend,
                                max_iter=iterations, max_fun=int(self.max_fun),
                                tol=float(self.tol), verbose=bool(self.verbose),
                                on_iteration=on_iteration if tasks and tasks.active else None)
        self.state_.epoch = plan.epochs_done + result.n_iter
        self.state_.samples_seen += result.n_iter * len(data)
        if result.n_iter or not result.interrupted:
            self.state_.history.append({"epoch": self.state_.epoch, "loss": result.loss})
        self._publish()
        if result.interrupted:  # as the stochastic solvers' (fit warns, the CLI saves)
            raise TrainingInterrupted(self.state_)
        if not (result.converged or result.stopped):
            warnings.warn(f"lbfgs failed to converge after {result.n_iter} iteration(s) "
                          f"(status={result.status}): {result.message}", ConvergenceWarning)

    def _publish(self, plan: FitPlan | None = None):
        """The fitted attributes, under scikit-learn's names, from the training state."""
        for name, value in self._fitted_attributes(self.state_, plan).items():
            setattr(self, name, value)

    def _fitted_attributes(self, state: TrainState, plan: FitPlan | None = None) -> dict:
        """scikit-learn's fitted attributes of ``state``; ``n_iter_`` counts the epochs of
        this call for partial_fit (scikit-learn's, 1.3+), else all the state's epochs (a
        fresh fit and warm_start count from 0)."""
        # early stopping: predict with the best epoch's weights (scikit-learn restores them);
        # training goes on from state.params, the last epoch's
        best = self.early_stopping and state.best_params is not None
        params = state.best_params if best else state.params
        n = mlp.n_weight_layers(params)
        fitted = {
            "params_": params,
            "coefs_": [params[f"w{layer}"] for layer in range(1, n + 1)],
            "intercepts_": [params[f"b{layer}"] for layer in range(1, n + 1)],
            "history_": state.history,
            "n_iter_": state.epoch - (plan.epochs_done if plan is not None and plan.partial
                                      else 0),
            "t_": state.samples_seen,
            "loss_": state.history[-1]["loss"] if state.history else None}
        if self.solver != "lbfgs":
            early = bool(self.early_stopping)
            score_key = f"val_{HEADS[self.out_activation_].score_name}"
            fitted.update(
                loss_curve_=[row["loss"] for row in state.history],
                best_loss_=None if early else state.best_loss,
                validation_scores_=([row[score_key] for row in state.history
                                     if row.get(score_key) is not None] if early else None),
                best_validation_score_=state.best_score if early else None)
        return fitted

    def _attributes_after(self, plan: FitPlan, row=None, params_of=None) -> dict:
        """The callbacks' reconstruction attributes: the fitted attributes of the model as
        it stands mid-fit, on copies that later steps leave alone (``row`` and
        ``params_of()``: an L-BFGS iteration's history row and weights)."""
        state, backend = self.state_, self.backend_

        def copies(params):
            return snapshot(params, {"step": 0}, backend)[0]

        view = dataclasses.replace(
            state, params=copies(params_of() if params_of else state.params),
            best_params=None if state.best_params is None else copies(state.best_params),
            history=[dict(record) for record in state.history] + ([row] if row else []),
            epoch=row["epoch"] if row else state.epoch)
        # a copy to predict with, on this rank alone: not a member of the fit's group
        return {**self._fitted_attributes(view, plan), "comm": None}

    # -- using a fitted model ---------------------------------------------------------

    def _outputs(self, X, method):
        """(caller backend, raw outputs on the model's backend) for X."""
        check_is_fitted(self)
        caller, X = inputs.check_X(self, X, reset=False)
        inputs.check_same_namespace(self, caller, method)
        backend = self.backend_
        with backend.activate(), backend.quiet_float_errors():
            features = inputs.to_backend(X, caller, backend, self.dtype_)
            outputs = outputs_in_batches(self.params_, features, self._spec(), backend,
                                         backend.dtype(self.dtype_))
        return caller, outputs

    def evaluate(self, X, y, sample_weight=None):
        """Mean loss and score on X, y, as host floats.

        The head's loss without the L2 term; accuracy for a classifier, 0 for a regressor (use
        ``score`` for R^2). With ``comm``, each rank evaluates its share of the rows.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows.
        y : array-like
            Their targets.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Row weights.

        Returns
        -------
        loss : float
            The mean (weighted) loss.
        score : float
            Accuracy (classifier) or 0 (regressor).
        """
        check_is_fitted(self)
        caller, X = inputs.check_X(self, X, reset=False)
        y_host = self._check_y(y, X.shape[0], None)
        weights = inputs.check_sample_weight(sample_weight, X.shape[0])
        backend, dtype = self.backend_, self.dtype_
        with backend.activate(), backend.quiet_float_errors():
            split = DeviceSplit(inputs.to_backend(X, caller, backend, dtype),
                                self._targets_on(backend, y_host),
                                None if weights is None else backend.asarray(weights, dtype),
                                dtype)
            return evaluate(self.params_, split, self._spec(), backend, backend.dtype(dtype),
                            distributed.host_reducer(self.comm, backend))

    # -- pickling: the namespace module is not picklable; rebuilt from the parameters --

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(
            self.__dict__)
        state = dict(state)
        state.pop("backend_", None)
        if state.get("comm") is not None:
            state["comm"] = None  # a communicator belongs to its processes: not pickled
        return state

    def __sklearn_clone__(self):
        """scikit-learn's clone, keeping ``comm`` by reference: a communicator is shared,
        never copied (mpi4py refuses to deep-copy one)."""
        comm = self.comm
        if comm is None:
            return super().__sklearn_clone__()
        self.comm = None
        try:
            clone = super().__sklearn_clone__()
        finally:
            self.comm = comm
        clone.comm = comm
        return clone

    def __setstate__(self, state):
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)
        if "state_" in self.__dict__:
            opt_state = self.state_.opt_state
            if "momentum" in opt_state:  # SGD's buffer b before scikit-learn's velocity -lr b
                opt_state["velocity"] = velocity_from_buffer(
                    opt_state.pop("momentum"), self.learning_rate_init, self.state_.lr_factor)
            first = next(iter(self.state_.params.values()))
            self.backend_ = (numpy_backend() if isinstance(first, np.ndarray)
                             else backend_of(first))


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier on any namespace and device.

    Softmax outputs and log-loss for several classes, one logistic output for two, one
    logistic output per label for multi-label y (an indicator matrix), as scikit-learn's.
    Parameters as scikit-learn's ``MLPClassifier`` (see the user guide's table for the
    differences), plus ``class_weight``, ``weight_decay``, ``dropout``, ``dtype``,
    ``device``, ``check_every`` and ``comm``.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        The width of each hidden layer.
    activation : str, default="relu"
        The hidden activation: scikit-learn's "identity", "logistic", "tanh", "relu", or
        "leaky_relu", "elu", "softplus", "silu", "gelu" (``activations.ACTIVATIONS``).
    solver : {"adam", "adamw", "sgd", "lbfgs"}, default="adam"
        The optimizer; "adamw" is Adam with ``weight_decay`` decoupled; "lbfgs" full-batch
        L-BFGS (scipy.optimize) with gradients on the device.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases).
    batch_size : int or {"auto", "full"}, default="auto"
        Rows per step; "auto": min(200, n_samples); "full": every row.
    learning_rate : {"constant", "invscaling", "adaptive", "cosine"}, default="constant"
        The schedule. "cosine" decays to 0 over ``max_iter`` epochs (every stochastic solver,
        not in partial_fit); "invscaling" and "adaptive" apply to solver="sgd", as
        scikit-learn's.
    learning_rate_init : float, default=0.001
        The initial learning rate (stochastic solvers).
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Epochs (lbfgs: iterations) in all.
    shuffle : bool, default=True
        Shuffle the rows each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffles, the holdout split and dropout's masks.
    tol : float, default=1e-4
        The plateau rule's tolerance.
    verbose : bool, default=False
        Print scikit-learn's progress lines on stdout (with ``comm``, rank 0 alone).
    warm_start : bool, default=False
        ``fit`` starts from the fitted weights.
    momentum : float, default=0.9
        SGD's momentum, in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for SGD.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified for classes), stop when its
        score stops improving and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        The holdout's share, with early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moments.
    epsilon : float, default=1e-8
        Adam's epsilon, added to sqrt(v).
    n_iter_no_change : int or numpy.inf, default=10
        Epochs without an improvement of ``tol`` before the plateau rule acts.
    max_fun : int, default=15000
        The most loss evaluations of "lbfgs".
    class_weight : dict, list of dict, "balanced" or None, default=None
        As scikit-learn's linear classifiers: None, a dict ``{class: weight}`` or "balanced";
        multi-label y: "balanced" or one dict per label column. Multiplied into the rows'
        sample weights.
    weight_decay : float, default=0.0
        AdamW's decoupled decay (solver="adamw").
    dropout : float or tuple of float, default=0.0
        Inverted dropout on the hidden layers' outputs while training: one rate in [0, 1) for
        every hidden layer, or a tuple with one per layer; off when predicting.
    dtype : {"float32", "float64"} or None, default=None
        The training dtype; None: float32 for float32 inputs, else float64.
    device : str or None, default=None
        None: where the inputs live; "cpu", "cuda", "cuda:N".
    check_every : int, default=0
        Steps between divergence checks; 0: once per epoch, no extra host reads.
    comm : mpi4py communicator or None, default=None
        Data-parallel training over its ranks.

    Attributes
    ----------
    coefs_, intercepts_ : list of array
        The weights and biases of each layer, on the training device (with early stopping,
        the best epoch's).
    params_ : dict
        The same, as ``{"w1", "b1", ...}``.
    n_iter_ : int
        Epochs (lbfgs: iterations) run; partial_fit: this call's.
    loss_ : float
        The last epoch's training loss.
    loss_curve_ : list of float
        The training loss per epoch (stochastic solvers).
    best_loss_, validation_scores_, best_validation_score_ : float, list or None
        As scikit-learn's (early stopping: the validation scores).
    history_ : list of dict
        One row per epoch: loss, training metric, validation loss and score, learning rate,
        seconds.
    t_ : int
        Training rows seen.
    n_outputs_, n_layers_ : int
        Outputs; layers including input and output.
    out_activation_ : str
        The output head, a key of ``heads.HEADS``.
    dtype_ : str
        The training dtype.
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
    def partial_fit(self, X, y, sample_weight=None, classes=None):
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
        return self._fit(X, y, sample_weight, self._plan("partial"), classes=classes,
                         task_name="partial_fit")

    def _check_y(self, y, n_rows, plan, classes=None):
        """Host targets of the output head: class indices (n,) (softmax), or 0/1 columns
        (n, k) (logistic: one column for two classes or one, one per label for multi-label
        y). ``plan`` None: checked against the fitted classes (evaluation)."""
        labels = inputs.check_class_labels(y, n_rows)
        if plan is not None and plan.initialize:
            self.classes_ = (inputs.classes_of(labels) if classes is None or labels.ndim == 2
                             else np.unique(inputs.host_labels(classes)))
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

    def predict_proba(self, X):
        """Class probabilities (n, k) (multi-label: each label's).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows, from any namespace and device.

        Returns
        -------
        array
            Shape (n_samples, n_classes), in X's namespace and on X's device.
        """
        caller, outputs = self._outputs(X, "predict_proba")
        with self.backend_.activate():
            probs = self._probabilities(outputs, self.backend_.xp)
        return inputs.to_caller(probs, self.backend_, caller)

    def predict_log_proba(self, X):
        """log(predict_proba(X)), as scikit-learn defines it.

        -inf where a probability underflows to 0.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows, from any namespace and device.

        Returns
        -------
        array
            Shape (n_samples, n_classes), in X's namespace and on X's device.
        """
        caller, outputs = self._outputs(X, "predict_log_proba")
        xp = self.backend_.xp
        with self.backend_.activate(), self.backend_.quiet_float_errors():
            log_probs = xp.log(self._probabilities(outputs, xp))
        return inputs.to_caller(log_probs, self.backend_, caller)

    def predict(self, X):
        """Predicted class labels (n,) (multi-label: the indicator matrix (n, k)).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows, from any namespace and device.

        Returns
        -------
        array
            In X's namespace and on X's device (class names: a NumPy array, the only namespace
            with strings).
        """
        caller, outputs = self._outputs(X, "predict")
        xp = self.backend_.xp
        with self.backend_.activate():
            decided = self._class_indices(outputs, xp)
            if self._multilabel:
                return inputs.to_caller(decided, self.backend_, caller)
            if self.classes_.dtype.kind not in "biuf":  # names: mapped on the host
                return self.classes_[as_host_array(decided)]
            labels = xp.take(self.backend_.asarray(self.classes_), decided, axis=0)
        return inputs.to_caller(labels, self.backend_, caller)

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
        weights = inputs.check_sample_weight(sample_weight, None)
        return float(accuracy_score(inputs.host_labels(y), as_host_array(self.predict(X)),
                                    sample_weight=weights))


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
    hidden_layer_sizes : array-like of int, default=(100,)
        The width of each hidden layer.
    activation : str, default="relu"
        The hidden activation: scikit-learn's "identity", "logistic", "tanh", "relu", or
        "leaky_relu", "elu", "softplus", "silu", "gelu" (``activations.ACTIVATIONS``).
    solver : {"adam", "adamw", "sgd", "lbfgs"}, default="adam"
        The optimizer; "adamw" is Adam with ``weight_decay`` decoupled; "lbfgs" full-batch
        L-BFGS (scipy.optimize) with gradients on the device.
    alpha : float, default=0.0001
        Strength of the L2 penalty on the weights (not the biases).
    batch_size : int or {"auto", "full"}, default="auto"
        Rows per step; "auto": min(200, n_samples); "full": every row.
    learning_rate : {"constant", "invscaling", "adaptive", "cosine"}, default="constant"
        The schedule. "cosine" decays to 0 over ``max_iter`` epochs (every stochastic solver,
        not in partial_fit); "invscaling" and "adaptive" apply to solver="sgd", as
        scikit-learn's.
    learning_rate_init : float, default=0.001
        The initial learning rate (stochastic solvers).
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        Epochs (lbfgs: iterations) in all.
    shuffle : bool, default=True
        Shuffle the rows each epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffles, the holdout split and dropout's masks.
    tol : float, default=1e-4
        The plateau rule's tolerance.
    verbose : bool, default=False
        Print scikit-learn's progress lines on stdout (with ``comm``, rank 0 alone).
    warm_start : bool, default=False
        ``fit`` starts from the fitted weights.
    momentum : float, default=0.9
        SGD's momentum, in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for SGD.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified for classes), stop when its
        score stops improving and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        The holdout's share, with early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moments.
    epsilon : float, default=1e-8
        Adam's epsilon, added to sqrt(v).
    n_iter_no_change : int or numpy.inf, default=10
        Epochs without an improvement of ``tol`` before the plateau rule acts.
    max_fun : int, default=15000
        The most loss evaluations of "lbfgs".
    weight_decay : float, default=0.0
        AdamW's decoupled decay (solver="adamw").
    dropout : float or tuple of float, default=0.0
        Inverted dropout on the hidden layers' outputs while training: one rate in [0, 1) for
        every hidden layer, or a tuple with one per layer; off when predicting.
    dtype : {"float32", "float64"} or None, default=None
        The training dtype; None: float32 for float32 inputs, else float64.
    device : str or None, default=None
        None: where the inputs live; "cpu", "cuda", "cuda:N".
    check_every : int, default=0
        Steps between divergence checks; 0: once per epoch, no extra host reads.
    comm : mpi4py communicator or None, default=None
        Data-parallel training over its ranks.

    Attributes
    ----------
    coefs_, intercepts_ : list of array
        The weights and biases of each layer, on the training device (with early stopping,
        the best epoch's).
    params_ : dict
        The same, as ``{"w1", "b1", ...}``.
    n_iter_ : int
        Epochs (lbfgs: iterations) run; partial_fit: this call's.
    loss_ : float
        The last epoch's training loss.
    loss_curve_ : list of float
        The training loss per epoch (stochastic solvers).
    best_loss_, validation_scores_, best_validation_score_ : float, list or None
        As scikit-learn's (early stopping: the validation scores).
    history_ : list of dict
        One row per epoch: loss, training metric, validation loss and score, learning rate,
        seconds.
    t_ : int
        Training rows seen.
    n_outputs_, n_layers_ : int
        Outputs; layers including input and output.
    out_activation_ : str
        The output head, a key of ``heads.HEADS``.
    dtype_ : str
        The training dtype.

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
    def partial_fit(self, X, y, sample_weight=None):
        """One pass over the given rows (one epoch).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows.
        y : array-like
            Targets (n_samples,) or (n_samples, n_outputs).
        sample_weight : array-like of shape (n_samples,) or None, default=None
            Weights each row's loss.

        Returns
        -------
        self
            The estimator.
        """
        return self._fit(X, y, sample_weight, self._plan("partial"), task_name="partial_fit")

    def _check_y(self, y, n_rows, plan, classes=None):
        values = inputs.check_regression_targets(y, n_rows).reshape(n_rows, -1)  # (n, k)
        if self.loss == "poisson" and np.any(values < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        if (plan is None or not plan.initialize) and values.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {values.shape[1]} outputs; the model was fitted with "
                             f"{self.n_outputs_}")
        return values

    def _n_outputs(self, y_host) -> int:
        return int(y_host.shape[1])

    def _output_head(self, y_host) -> str:
        return REGRESSION_HEADS[self.loss]

    def _targets_on(self, backend: Backend, y_host):
        return backend.asarray(y_host, dtype=self.dtype_)

    def predict(self, X):
        """Predictions (n,) for a single output, else (n, k).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows, from any namespace and device.

        Returns
        -------
        array
            In X's namespace and on X's device.
        """
        caller, outputs = self._outputs(X, "predict")
        with self.backend_.activate():
            predictions = self._predictions(outputs, self.backend_.xp)
        return inputs.to_caller(predictions, self.backend_, caller)

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
        weights = inputs.check_sample_weight(sample_weight, None)
        return float(r2_score(as_host_array(inputs.host_values(y)),
                              as_host_array(self.predict(X)), sample_weight=weights))


def same_param(a, b) -> bool:
    """Whether two values of a parameter are the same setting: sequences element by element
    (tuples, lists; None as empty; a sequence is never the same as a number), floats to
    1e-12 (a flag's text parsed again), else == (or, for objects that cannot say, the very
    same object)."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if isinstance(a, numbers.Number) or isinstance(b, numbers.Number):
            return False  # dropout=0.2 against (0.2, 0.2): different settings, as written
        return list(a or []) == list(b or [])
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, numbers.Real) and isinstance(b, numbers.Real)
                and math.isclose(float(a), float(b), rel_tol=1e-12))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b

"""What MLPClassifier and MLPRegressor share: the parameters, a fit's plan and run, the fitted
attributes, and a fitted model's outputs.

Namespace and device are resolved once, at the public entry points (``inputs.resolve_X``):
``device=None`` trains where the caller's arrays live (NumPy for lists, DataFrames and
sparse matrices); a device string (``"cpu"``, ``"cuda:0"``) moves the data there once.
The subclasses say what their targets are (``_check_y``, ``_n_outputs``, ``_output_head``,
``_targets_on``) and how outputs become predictions.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ..backend.devices import backend_of, numpy_backend, resolve_device
from ..core import mlp
from ..core.heads import HEADS
from ..core.optim import OPTIMIZERS, make_optimizer, velocity_from_buffer
from ..data.split import check_two_per_class, stratified_split
from ..errors import CallbackError
from ..parallel import distributed
from ..training import lbfgs
from ..training.batches import DeviceSplit
from ..training.evaluation import evaluate, outputs_in_batches
from ..training.train import train
from ..training.train_config import TrainConfig
from ..training.train_state import TrainingInterrupted, TrainState, snapshot
from . import inputs, portable
from .docstrings import shared_docs
from .fit_callbacks import CallbackSupportMixin, FitTasks, with_callbacks
from .validation_set import ValidationSet, check_validation_set
from .params import CHANGEABLE_ON_RESUME, PARAMETER_CONSTRAINTS, same_param
from .verbose import VerboseReport
from .verbose import callbacks as verbose_callbacks

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
    def epochs_to_run(self) -> int:
        """Epochs (lbfgs: iterations) this call may run."""
        return max(self.max_iter - self.epochs_done, 0)


class BaseMLP(CallbackSupportMixin, BaseEstimator):
    """What the classifier and the regressor share: parameters, fitting, prediction."""

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS

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
    @shared_docs
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None,
            on_epoch=None, on_step=None, scaling=None, on_interrupt="warn"):
        """Train on X (n, d) and y.

        X stays in its own dtype (uint8 images stay uint8); each batch is cast to the training
        dtype as it is gathered.

        With scikit-learn 1.9+, ``set_callbacks`` takes scikit-learn's callbacks (and
        ``xpnn.callbacks``'): the fit is the root task, each epoch (L-BFGS: iteration) a
        sub-task (``fit_callbacks.py``); a callback's True at an epoch's end stops there.

        Parameters
        ----------
        {fit_parameters}

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
                         scaling=scaling, on_interrupt=on_interrupt, task_name="fit",
                         validation=(X_val, y_val, sample_weight_val))

    @with_callbacks
    @shared_docs
    def resume_fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
                   sample_weight_val=None, on_epoch=None, on_step=None, scaling=None,
                   on_interrupt="warn"):
        """Continue a fitted (or loaded) model exactly up to ``max_iter`` epochs in all.

        From its weights, optimizer state, random-number state and stopping counters. Only
        the parameters in ``xpnn.CHANGEABLE_ON_RESUME`` (``max_iter``, ``early_stopping``,
        ``n_iter_no_change``, ``tol``, ``verbose``, ``check_every``, ``device``, ``comm``)
        may differ from the fitted model's. A fit that was given ``X_val`` continues
        comparing like with like only when given the same validation set again.

        Parameters
        ----------
        {fit_parameters}

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
                         scaling=scaling, on_interrupt=on_interrupt, task_name="resume_fit",
                         validation=(X_val, y_val, sample_weight_val))

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
             classes=None, scaling=None, on_interrupt="warn", *, task_name,
             validation=(None, None, None)):
        if on_interrupt not in ON_INTERRUPT:
            raise ValueError(f"on_interrupt must be one of {ON_INTERRUPT}, got "
                             f"{on_interrupt!r}")
        given = X, y, (None if sample_weight is None else {"sample_weight": sample_weight})
        features = inputs.resolve_X(self, X, reset=plan.initialize)
        if scaling is not None and features.sparse:
            raise ValueError("scaling= applies to dense features; scale sparse X first")
        y_host = self._check_y(y, features.n_rows, plan, classes)
        weights = self._row_weights(
            y_host, inputs.check_sample_weight(sample_weight, features.n_rows), plan)
        val_set = check_validation_set(self, *validation, y_host, plan)
        if self.comm is not None and self.solver == "lbfgs":
            raise ValueError("comm= (data-parallel training) needs a stochastic solver "
                             f"({', '.join(OPTIMIZERS)}), not solver='lbfgs'")
        if not plan.initialize:
            backend = self.backend_
        elif self.device is None:
            backend = features.caller
        else:  # cuda: this rank's GPU
            backend = resolve_device(distributed.local_device(self.comm, self.device))
        tasks = self._fit_tasks(given, plan, task_name, backend, val_set)
        try:
            with backend.activate(), backend.quiet_float_errors():
                self._fit_on(backend, features, y_host, weights, plan, on_epoch, on_step,
                             scaling, tasks, val_set)
        except TrainingInterrupted as interrupt:
            # scikit-learn's MLP warns and keeps the model as fitted so far; a data-parallel
            # fit returns only when every rank stopped at the same epoch (else some rank
            # would wait in a collective that never comes)
            if on_interrupt == "raise" or not (interrupt.agreed or self.comm is None):
                raise
            warnings.warn("Training interrupted by user.")
        tasks.end()
        return self

    def _fit_tasks(self, given, plan: FitPlan, task_name: str, backend,
                   val_set: ValidationSet | None = None) -> FitTasks:
        """This call's tasks for scikit-learn's callbacks (1.9+), run on rank 0 of a
        data-parallel fit (or alone); each epoch's hooks are handed the validation set where
        one was given (what ``ScoringMonitor`` scores). The group agrees as the fit begins
        whether any rank runs callbacks (then each joins their per-epoch sums) and whether
        their setup failed (then every rank raises: the callback's own error where it was
        raised)."""
        tasks = failure = None
        try:
            epoch_data = None if val_set is None else (*val_set.given[:2], val_set.metadata)
            tasks = FitTasks(self, *given, task_name=task_name, subtasks=plan.epochs_to_run,
                             epoch_data=epoch_data,
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

    def _fit_on(self, backend, features: inputs.Features, y_host, weights, plan: FitPlan,
                on_epoch, on_step, scaling, tasks: FitTasks, val_set=None):
        if plan.initialize:  # scikit-learn's rule: float32 features train in float32
            self.dtype_ = self.dtype or features.dtype
        dtype = self.dtype_
        X = features.on(backend, dtype)
        targets = self._targets_on(backend, y_host)
        row_weights = None if weights is None else backend.asarray(weights, dtype=dtype)
        if plan.initialize:
            self._initialize(backend, X.shape[1], y_host)
        elif plan.warm_start:  # the same weights, a fresh optimizer and epoch count
            old = self.state_
            self.state_ = TrainState(old.params, self._optimizer().init_state(old.params,
                                                                              backend.xp),
                                     history=old.history, samples_seen=old.samples_seen,
                                     best_loss=old.best_loss, best_score=old.best_score,
                                     best_epoch=old.best_epoch, best_params=old.best_params)
        self._fit_caller = features.place
        self._fitted_params = self._resume_fixed_params()
        data = DeviceSplit(X, targets, row_weights, dtype,
                           scaling=inputs.scaling_on(backend, scaling, dtype))
        if self.solver == "lbfgs":
            self._fit_lbfgs(backend, data, plan, tasks)
            return
        data, val = self._splits(backend, data, y_host, weights, val_set)
        config = self._config(len(data), plan)
        reducer = distributed.make_reducer(self.comm, backend)
        report = (VerboseReport(config, self.state_) if self.verbose and reducer.rank == 0
                  else None)  # scikit-learn's lines on stdout, once for a data-parallel fit
        on_epoch, on_plateau = verbose_callbacks(report, on_epoch)
        try:
            train(self.state_, self._optimizer(), data, config, self.rng_, backend, reducer,
                  val=val, on_epoch=on_epoch, on_step=on_step, on_plateau=on_plateau,
                  hooks=tasks.hooks())
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
            early_stopping=bool(self.early_stopping), learning_rate=self._schedule(),
            learning_rate_init=float(self.learning_rate_init), power_t=float(self.power_t),
            check_every=int(self.check_every), spec=self._spec(),
            dropout=self._dropout_rates(), seed=self.seed_)

    def _schedule(self) -> str:
        """scikit-learn's schedules (invscaling, adaptive) apply to solver='sgd' only, as in
        scikit-learn (which ignores them for adam); xpnn's cosine to every solver."""
        if self.learning_rate in ("invscaling", "adaptive") and self.solver != "sgd":
            return "constant"
        return self.learning_rate

    def _splits(self, backend, data: DeviceSplit, y_host, weights=None,
                val_set: ValidationSet | None = None):
        """(training split, validation split or None): the caller's validation set where
        one was given (``validation_set.py``); else scikit-learn holds out
        ``validation_fraction`` (stratified for a classifier) only for early stopping (never
        in partial_fit: ``_plan`` refuses it there). Its own stream from the seed, so a
        resumed run holds out the same rows."""
        if val_set is not None:
            return data, val_set.split_on(backend, self._targets_on, self.dtype_,
                                          data.scaling)
        if not self.early_stopping:
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

    def _fit_lbfgs(self, backend, data: DeviceSplit, plan: FitPlan, tasks: FitTasks):
        # resume_fit: up to max_iter iterations in all; fit (also warm start): max_iter more
        iterations = plan.epochs_to_run
        if iterations == 0:
            return

        def on_iteration(n, loss, params_of):  # the callbacks' task per iteration
            return tasks.iteration({"epoch": plan.epochs_done + n, "loss": loss}, params_of)

        result = lbfgs.minimize(self.state_, data, self._spec(), backend,
                                max_iter=iterations, max_fun=int(self.max_fun),
                                tol=float(self.tol), verbose=bool(self.verbose),
                                on_iteration=on_iteration if tasks.active else None)
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
            scored = [row for row in state.history if row.get(score_key) is not None]
            # a validation set was scored (early stopping's, or X_val): its curves
            curves = early or bool(scored)
            fitted.update(
                loss_curve_=[row["loss"] for row in state.history],
                best_loss_=None if early else state.best_loss,
                validation_scores_=[row[score_key] for row in scored] if curves else None,
                validation_loss_curve_=([row["val_loss"] for row in scored] if curves
                                        else None),
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
        """(X's ``inputs.Features``, raw outputs on the model's backend) for X."""
        check_is_fitted(self)
        features = inputs.resolve_X(self, X, reset=False)
        inputs.check_same_namespace(self, features, method)
        backend = self.backend_
        with backend.activate(), backend.quiet_float_errors():
            outputs = outputs_in_batches(self.params_, features.on(backend, self.dtype_),
                                         self._spec(), backend, backend.dtype(self.dtype_))
        return features, outputs

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
        features = inputs.resolve_X(self, X, reset=False)
        y_host = self._check_y(y, features.n_rows, None)
        weights = inputs.check_sample_weight(sample_weight, features.n_rows)
        backend, dtype = self.backend_, self.dtype_
        with backend.activate(), backend.quiet_float_errors():
            split = DeviceSplit(features.on(backend, dtype), self._targets_on(backend, y_host),
                                None if weights is None else backend.asarray(weights, dtype),
                                dtype)
            return evaluate(self.params_, split, self._spec(), backend, backend.dtype(dtype),
                            distributed.host_reducer(self.comm, backend))

    # -- pickling (and skops): the namespace module is not picklable; the arrays go out as
    # host copies with their place and come back there (portable.py) --

    def __getstate__(self):
        state = portable.to_host(dict(super().__getstate__()), getattr(self, "backend_", None))
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
        state, backend = portable.from_host(dict(state))
        super().__setstate__(state)
        if backend is not None:
            self.backend_ = backend
        if "state_" in self.__dict__:
            opt_state = self.state_.opt_state
            if "momentum" in opt_state:  # SGD's buffer b before scikit-learn's velocity -lr b
                opt_state["velocity"] = velocity_from_buffer(
                    opt_state.pop("momentum"), self.learning_rate_init, self.state_.lr_factor)
            if backend is None:  # a file from before the host copies: its arrays' own place
                first = next(iter(self.state_.params.values()))
                self.backend_ = (numpy_backend() if isinstance(first, np.ndarray)
                                 else backend_of(first))

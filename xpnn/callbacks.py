"""Experiment trackers: TensorBoard event files and MLflow runs, one point per epoch.

Two ways in, one code path. The plain calls, which the CLI makes from its ``on_epoch``:
``start(params)``, ``log_epoch(record)``, ``log_metrics(metrics, step)``,
``log_artifact(path)``, ``close()``. And scikit-learn's ``FitCallback`` hooks (1.9,
``estimator.set_callbacks(...)``): ``setup`` starts a run with the estimator's parameters,
the end of each "epoch" (L-BFGS: "iteration") sub-task logs the last row of
``fitted_estimator.history_``, ``teardown`` ends the run. The protocol is structural, so
nothing here imports scikit-learn; tensorboardX and mlflow (the ``tracking``
extra) are imported when a tracker is made, never with this module.
"""
from __future__ import annotations

import math
import numbers
import os
import sys
import time

from . import extras

EXTRA = "tracking"  # the extra that has the trackers' packages

# a history row's key -> the metric it is logged as; a key the row lacks, or holds as None
# (no validation set), is skipped
EPOCH_METRICS = {
    "loss": "train_loss",
    "accuracy": "train_accuracy",  # classifiers
    "val_loss": "val_loss",  # with a validation set: early stopping's, or X_val
    "val_accuracy": "val_accuracy",  # classifiers
    "val_r2": "val_r2",  # regressors
    "learning_rate": "learning_rate",  # the epoch's last step's
}
# the fit's sub-tasks that end with a new history row: an epoch, an L-BFGS iteration
ROW_TASKS = ("epoch", "iteration")
SKIPPED_PARAMS = ("comm",)  # an MPI communicator is a connection, not a setting
# how a run ended -> the status MLflow records
RUN_STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


def epoch_metrics(record: dict) -> dict:
    """{metric name: float} of one history row (``EPOCH_METRICS``)."""
    return {name: float(record[key]) for key, name in EPOCH_METRICS.items()
            if record.get(key) is not None}


def plain_params(params: dict) -> dict:
    """Hyperparameters as trackers take them: bools, ints, finite floats and strings as they
    are, anything else (None, tuples, inf: the CLI's patience without early stopping) as its
    str; ``comm`` left out."""
    return {name: _plain(value) for name, value in params.items()
            if name not in SKIPPED_PARAMS}


def _plain(value):
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):  # NumPy's too
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return float(value)
    return str(value)


def outcome(error) -> str:
    """How a run ended, from the exception that ended it (None: it finished)."""
    if error is None:
        return "finished"
    return "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"


class Tracker:
    """What both trackers share: the plain calls, the FitCallback hooks, the missing-package
    error. A subclass names its ``package`` and writes ``_open(params)``,
    ``_write(metrics, step)`` and ``_close(outcome)``.

    A context manager too: leaving a ``with`` block closes the run, as failed when an
    exception left it (interrupted for Ctrl-C)."""

    package = ""  # the module a tracker needs, imported when one is made

    def __init__(self):
        self.active = False  # a run is open: started and not yet closed
        self.last_step = 0  # the last epoch logged; log_metrics' step when none is given
        self._fit_context = None  # the root task of the fit the hooks follow
        self._fit_ended = self._interrupted = False

    @classmethod
    def require_package(cls, feature: str | None = None):
        """The tracker's package, or an ImportError (an XpnnError too) naming the extra.

        Parameters
        ----------
        feature : str or None, default=None
            Who needs it, in that message (default: the class).

        Returns
        -------
        module
            The package (``package``).

        Raises
        ------
        XpnnMissingPackageError
            When it cannot be imported.
        """
        return extras.require(cls.package, feature=feature or cls.__name__, extra=EXTRA)

    # -- the plain calls ---------------------------------------------------------------

    def start(self, params: dict) -> None:
        """Open a run and log its hyperparameters (closing a run still open).

        Parameters
        ----------
        params : dict
            The hyperparameters (``get_params()``), logged as ``plain_params`` makes them.
        """
        self.close()
        self.active, self.last_step = True, 0
        try:
            self._open(plain_params(params))
        except BaseException as error:  # a half-opened run is ended, not left running
            self.close(error)
            raise

    def log_epoch(self, record: dict) -> None:
        """Log one history row at step = its epoch.

        Parameters
        ----------
        record : dict
            A row, keys as ``MLPClassifier.history_``'s (``EPOCH_METRICS`` are logged).
        """
        self.log_metrics(epoch_metrics(record), step=int(record["epoch"]))

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        """Log named numbers (None skipped) at ``step``.

        Parameters
        ----------
        metrics : dict
            ``{name: number or None}``.
        step : int or None, default=None
            The step; None: the last epoch logged.
        """
        self.last_step = self.last_step if step is None else int(step)
        values = {name: float(value) for name, value in metrics.items() if value is not None}
        if self.active and values:
            self._write(values, self.last_step)

    def log_artifact(self, path) -> None:
        """Keep a file with the run (the saved model); a tracker without files ignores it.

        Parameters
        ----------
        path : str or path-like
            The file.
        """

    def close(self, error: BaseException | None = None) -> None:
        """End the run, if one is open: finished, or as ``error`` ended it.

        Parameters
        ----------
        error : BaseException or None, default=None
            What ended it: None (finished), KeyboardInterrupt (interrupted), else failed.
        """
        if self.active:
            self.active = False
            self._close(outcome(error))

    # -- pickling: a copy (a pickled model, a search's worker) starts with no run open ---

    OPEN_RUN = ("_writer", "_client", "_session_end", "_fit_context")  # this process's

    def __getstate__(self):
        state = {name: value for name, value in self.__dict__.items()
                 if name != "_package" and name not in self.OPEN_RUN}
        return {**state, "active": False}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in self.OPEN_RUN:
            self.__dict__.setdefault(name, None)
        self._package = self.require_package()

    def __enter__(self):
        return self

    def __exit__(self, error_type, error, traceback):
        self.close(error)
        return False

    # -- scikit-learn's FitCallback protocol ----------------------------------------------

    def setup(self, estimator, context):
        """scikit-learn's hook: the fit begins, a run with the estimator's parameters.

        Parameters
        ----------
        estimator : estimator
            The estimator being fitted.
        context : object
            scikit-learn's task context.
        """
        self._fit_context, self._fit_ended, self._interrupted = context, False, False
        self.start(estimator.get_params())

    def on_fit_task_begin(self, estimator, context, **hook_args):
        """scikit-learn's hook: nothing to log.

        No named arguments: scikit-learn builds a fitted estimator for each hook that asks for
        ``fitted_estimator``.

        Parameters
        ----------
        estimator : estimator
            The estimator being fitted.
        context : object
            scikit-learn's task context.
        **hook_args
            Ignored.
        """

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        """scikit-learn's hook: an epoch (or L-BFGS iteration) ended, log its row.

        Parameters
        ----------
        estimator : estimator
            The estimator being fitted.
        context : object
            scikit-learn's task context.
        fitted_estimator : estimator or None, default=None
            The estimator as fitted so far (its ``history_``); None where the epoch ended
            unfinished (Ctrl-C).

        Returns
        -------
        bool
            False: never stops training.
        """
        if context is self._fit_context:
            self._fit_ended = True
        elif context.task_name in ROW_TASKS:
            if fitted_estimator is None:  # an epoch ended unfinished: Ctrl-C (xpnn's fit
                self._interrupted = True  # then warns and returns, as scikit-learn's)
            history = getattr(fitted_estimator, "history_", None)
            if history:
                self.log_epoch(history[-1])
        return False

    def teardown(self, estimator, context):
        """scikit-learn's hook: the fit is over, end the run.

        scikit-learn calls this in a ``finally``, so a fit that did not reach its end has its
        exception in flight here.

        Parameters
        ----------
        estimator : estimator
            The estimator being fitted.
        context : object
            scikit-learn's task context.
        """
        error = None if self._fit_ended else sys.exc_info()[1]
        self.close(KeyboardInterrupt() if self._interrupted else error)
        self._fit_context = None


class TensorBoardLogger(Tracker):
    """TensorBoard event files: a scalar per metric per epoch, and the hyperparameters.

    Written by tensorboardX's ``SummaryWriter``, global step = the epoch; the
    hyperparameters for TensorBoard's HParams dashboard (its session start; the session end
    when the run finished).

    Parameters
    ----------
    log_dir : str or path-like
        The directory of the event files.

    Raises
    ------
    XpnnMissingPackageError
        When tensorboardX is not installed (the ``tracking`` extra).

    Examples
    --------
    >>> from xpnn import MLPClassifier
    >>> from xpnn.callbacks import TensorBoardLogger
    >>> clf = MLPClassifier(max_iter=20)
    >>> clf.set_callbacks(TensorBoardLogger("runs/digits"))  # doctest: +SKIP
    """

    package = "tensorboardX"

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self._package = self.require_package()
        self._writer = None

    def _open(self, params):
        # tensorboardX names its file by the second: a second run (a resume, the next fit of
        # a search) within it would overwrite the first; nanoseconds keep them apart, in order
        self._writer = self._package.SummaryWriter(logdir=os.fspath(self.log_dir),
                                                        filename_suffix=f".{time.time_ns()}")
        # HParams' session start now, its end at close; no experiment summary: without
        # one, the HParams plugin takes the metrics from the run's scalar tags
        _, session_start, self._session_end = self._package.summary.hparams(params, {})
        self._writer.file_writer.add_summary(session_start)

    def _write(self, metrics, step):
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, global_step=step)
        self._writer.flush()  # TensorBoard shows the epoch now, not two minutes later

    def _close(self, how):
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if how == "finished":
            writer.file_writer.add_summary(self._session_end)
        writer.close()


class MLflowLogger(Tracker):
    """One MLflow run per fit: hyperparameters as params, metrics per epoch with step = the epoch.

    Through ``MlflowClient`` and its run id (the fluent API's active run, yours, is left
    alone: the new run is its child when the stores match). ``log_metrics`` for test scores,
    ``log_artifact`` for the saved model. The run's id stays in ``run_id`` after it ended.

    Parameters
    ----------
    experiment : str or None, default=None
        The experiment's name, created if missing (default: ``$MLFLOW_EXPERIMENT_NAME``,
        else MLflow's Default experiment).
    run_name : str or None, default=None
        The run's name.
    tracking_uri : str or None, default=None
        The store (default: MLflow's, ``$MLFLOW_TRACKING_URI`` or ./mlflow.db); the global
        URI is not changed.

    Attributes
    ----------
    run_id : str or None
        The last run's id.

    Raises
    ------
    XpnnMissingPackageError
        When mlflow is not installed (the ``tracking`` extra).

    Examples
    --------
    The plain calls, for a fitted ``clf``:

    >>> from xpnn.callbacks import MLflowLogger
    >>> with MLflowLogger(experiment="digits") as tracker:  # doctest: +SKIP
    ...     tracker.start(clf.get_params())
    ...     for record in clf.history_:
    ...         tracker.log_epoch(record)
    """

    package = "mlflow"

    def __init__(self, experiment=None, run_name=None, tracking_uri=None):
        super().__init__()
        self.experiment, self.run_name, self.tracking_uri = experiment, run_name, tracking_uri
        self._package = self.require_package()
        self._client = None
        self.run_id = None

    def _open(self, params):
        mlflow = self._package
        self.run_id = None
        self._client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
        run = self._client.create_run(self._experiment_id(), run_name=self.run_name,
                                      tags=self._parent_tag())
        self.run_id = run.info.run_id
        self._client.log_batch(self.run_id, params=[
            mlflow.entities.Param(name, str(value)) for name, value in params.items()])

    def _experiment_id(self) -> str:
        name = self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if not name:
            return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"  # "0": Default
        found = self._client.get_experiment_by_name(name)
        return found.experiment_id if found else self._client.create_experiment(name)

    def _parent_tag(self) -> dict:
        """The user's active run as the parent, when it lives in the same store."""
        active = self._package.active_run()
        same_store = self.tracking_uri in (None, self._package.get_tracking_uri())
        return {"mlflow.parentRunId": active.info.run_id} if active and same_store else {}

    def _write(self, metrics, step):
        now_ms = int(time.time() * 1000)
        self._client.log_batch(self.run_id, metrics=[
            self._package.entities.Metric(name, value, now_ms, step)
            for name, value in metrics.items()])

    def log_artifact(self, path) -> None:
        """Keep a file with the open run (the saved model).

        Parameters
        ----------
        path : str or path-like
            The file.
        """
        if self.active:
            self._client.log_artifact(self.run_id, os.fspath(path))

    def _close(self, how):
        client, self._client = self._client, None
        if client is not None and self.run_id is not None:
            client.set_terminated(self.run_id, status=RUN_STATUS[how])

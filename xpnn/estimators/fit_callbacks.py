"""scikit-learn's callback API (``sklearn.callback``, scikit-learn 1.9+) for the estimators.

A fit is the root task; each epoch one sub-task ("epoch"; L-BFGS: each "iteration"), whose
hooks are handed the validation set where fit was given one (``X_val``, ``y_val``: what
``ScoringMonitor`` then scores), else the training data, and whose
end hands the callbacks a ``fitted_estimator``: a copy of the estimator predicting with the
weights as they were after that epoch (with early stopping, the best so far: what fit would
have returned had it stopped there). An ``on_fit_task_end`` that returns True stops
training after that epoch. The hooks run where the estimator's ``comm`` has rank 0 (or in
a lone process); the training loop tells every rank the stop at the same epoch
(``epoch_hooks.EpochHooks``). On scikit-learn before 1.9 there is no ``set_callbacks``, and fits
run as before.
"""
from __future__ import annotations

import functools

try:
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # scikit-learn < 1.9: no callback API
    class CallbackSupportMixin:  # noqa: D101 - nothing to support
        pass

    def with_callbacks(method):
        return method

from ..training.epoch_hooks import EpochHooks

SUPPORTED = hasattr(CallbackSupportMixin, "set_callbacks")


class FitTasks:
    """The task tree of one call to fit for the estimator's callbacks: the root begins
    here, then per epoch ``begin_epoch`` / ``end_epoch`` (``hooks()`` for the training
    loop), or ``iteration`` for L-BFGS, then ``end``. ``fitted()`` builds the
    reconstruction attributes of the model as it stands (``fitted(row, params)``: after an
    L-BFGS iteration), only for a callback that asks for them. Inactive (no callbacks,
    scikit-learn < 1.9, or a rank other than 0): every call does nothing."""

    def __init__(self, estimator, X, y, metadata, *, task_name: str, subtasks: int,
                 subtask_name: str, fitted, active: bool, epoch_data=None):
        self.estimator, self.X, self.y, self.metadata = estimator, X, y, metadata
        # what each epoch's hooks see: the validation set (X_val, y_val, its metadata)
        # where fit was given one, else the training data
        self.epoch_data = (X, y, metadata) if epoch_data is None else epoch_data
        self.subtask_name, self.fitted = subtask_name, fitted
        self.active = active and SUPPORTED and bool(getattr(estimator, "_skl_callbacks", ()))
        self.root = self.current = None
        self.anywhere = self.active  # a rank of the group runs callbacks (the estimator's)
        if self.active:
            self.root = estimator._init_callback_context(task_name=task_name,
                                                         max_subtasks=subtasks)
            self.root.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)

    def _arguments(self):
        return dict(estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata)

    def _epoch_arguments(self):
        X, y, metadata = self.epoch_data
        return dict(estimator=self.estimator, X=X, y=y, metadata=metadata)

    # -- epochs of a stochastic solver --------------------------------------------------

    def hooks(self) -> EpochHooks | None:
        """The training loop's epoch hooks: these tasks' on the rank that runs callbacks,
        passive ones on the other ranks of its group (they join its sums), else None."""
        if self.active:
            return EpochHooks(self.begin_epoch, self.end_epoch, self.abandon_epoch)
        return EpochHooks.passive() if self.anywhere else None

    def begin_epoch(self, epoch):
        self.current = self.root.subcontext(task_name=self.subtask_name)
        self.current.call_on_fit_task_begin(**self._epoch_arguments(),
                                            reconstruction_attributes=self.fitted)

    def end_epoch(self, record) -> bool:
        """The epoch's end hooks with the model after it; true: a callback asks to stop."""
        context, self.current = self.current, None
        return context.call_on_fit_task_end(**self._epoch_arguments(),
                                            reconstruction_attributes=self.fitted)

    def abandon_epoch(self):
        """The begun epoch was rolled back (Ctrl-C): its end hooks run with nothing."""
        context, self.current = self.current, None
        if context is not None:
            context.call_on_fit_task_end(estimator=self.estimator)

    # -- iterations of L-BFGS -----------------------------------------------------------

    def iteration(self, record, params) -> bool:
        """One L-BFGS iteration, reported by SciPy at its end: its begin and end hooks
        together (its end with the model after it); true: a callback asks to stop. Called
        only where the tasks are active."""
        context = self.root.subcontext(task_name=self.subtask_name)
        context.call_on_fit_task_begin(**self._arguments())
        return context.call_on_fit_task_end(
            **self._arguments(), reconstruction_attributes=functools.partial(
                self.fitted, record, params))

    # -- the root -------------------------------------------------------------------------

    def end(self):
        """The root task's end: the estimator is fitted (what fit returns)."""
        if self.active:
            self.root.call_on_fit_task_end(**self._arguments(), reconstruction_attributes={})

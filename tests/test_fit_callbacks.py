"""scikit-learn's callback API (sklearn.callback, 1.9+) on xpnn's estimators.

A fit is the root task, each epoch (L-BFGS: iteration) a sub-task whose end sees the model
as it was after that epoch; a True from on_fit_task_end stops training there. Through
Pipeline and GridSearchCV the task trees merge; ProgressBar draws. The 2-rank MPI case is
in test_mpi.py (job "callbacks").
"""
import warnings

import numpy as np
import pytest

sklearn_callback = pytest.importorskip("sklearn.callback",
                                       reason="scikit-learn < 1.9 has no callback API")
from sklearn.callback import ProgressBar, ScoringMonitor  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import xpnn  # noqa: E402

FIT = dict(hidden_layer_sizes=(16,), batch_size=128, random_state=0)


class Recorder:
    """Records every hook; asks to stop after sub-task ``stop_after`` (1-based)."""

    def __init__(self, stop_after=None):
        self.stop_after, self.events, self.models = stop_after, [], []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.events.append(("end", context.task_name, context.task_id))
        if context.parent is None or fitted_estimator is None:
            return False
        self.models.append(fitted_estimator)
        return context.task_id + 1 == self.stop_after

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))


def _scores(monitor, task_name):
    rows = monitor.get_logs().data
    return [row for row in rows if row["task_name"] == task_name]


@pytest.mark.parametrize("estimator, scoring", [(xpnn.MLPClassifier, "accuracy"),
                                                (xpnn.MLPRegressor, "r2")])
def test_scoring_monitor_sees_the_model_after_each_epoch(digits_data, estimator, scoring):
    X, y = digits_data
    y = y if estimator is xpnn.MLPClassifier else y / 9.0
    monitor = ScoringMonitor(scoring=scoring)
    model = estimator(max_iter=4, **FIT).set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    epochs = _scores(monitor, "epoch")
    assert [row["task_id"] for row in epochs] == [0, 1, 2, 3]
    assert epochs[-1][scoring] == model.score(X, y)  # the last epoch's is the fitted model's
    assert _scores(monitor, "fit")[0][scoring] == model.score(X, y)
    with warnings.catch_warnings():  # after epoch 2: the model a 2-epoch fit returns
        warnings.simplefilter("ignore", ConvergenceWarning)
        two = estimator(max_iter=2, **FIT).fit(X, y)
    assert epochs[1][scoring] == two.score(X, y)
    assert len({row[scoring] for row in epochs}) == 4  # each epoch's own weights


def test_the_hooks_pair_up_and_a_stop_ends_training_at_that_epoch(digits_data):
    X, y = digits_data
    recorder = Recorder(stop_after=3)
    model = xpnn.MLPClassifier(max_iter=10, **FIT).set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop is no failure to converge
        model.fit(X, y)
    assert model.n_iter_ == 3 and len(model.loss_curve_) == 3
    assert recorder.events == [
        ("setup", "fit"), ("begin", "fit", 0),
        ("begin", "epoch", 0), ("end", "epoch", 0), ("begin", "epoch", 1),
        ("end", "epoch", 1), ("begin", "epoch", 2), ("end", "epoch", 2),
        ("end", "fit", 0), ("teardown", "fit")]
    # each fitted_estimator kept its own epoch's weights (copies, not views)
    assert [m.n_iter_ for m in recorder.models] == [1, 2, 3]
    first, last = recorder.models[0].coefs_[0], model.coefs_[0]
    assert not np.array_equal(first, last)
    np.testing.assert_array_equal(recorder.models[-1].coefs_[0], last)


def test_early_stopping_the_last_epochs_model_is_the_fitted_best(digits_data):
    X, y = digits_data
    monitor = ScoringMonitor(scoring="accuracy")
    model = xpnn.MLPClassifier(max_iter=30, early_stopping=True, n_iter_no_change=2,
                               tol=0.5, **FIT).set_callbacks(monitor)
    model.fit(X, y)
    epochs = _scores(monitor, "epoch")
    assert len(epochs) == model.n_iter_ < 30  # stopped by the plateau rule
    assert epochs[-1]["accuracy"] == model.score(X, y)


def test_partial_fit_is_one_task_with_one_epoch(digits_data):
    X, y = digits_data
    recorder = Recorder()
    model = xpnn.MLPClassifier(**FIT).set_callbacks(recorder)
    model.partial_fit(X, y, classes=np.arange(10))
    model.partial_fit(X, y)
    assert recorder.events[:6] == [("setup", "partial_fit"), ("begin", "partial_fit", 0),
                                   ("begin", "epoch", 0), ("end", "epoch", 0),
                                   ("end", "partial_fit", 0), ("teardown", "partial_fit")]
    assert len(recorder.events) == 12 and [m.n_iter_ for m in recorder.models] == [1, 1]


def test_lbfgs_iterations_are_sub_tasks_and_stop(digits_data):
    X, y = digits_data
    recorder, monitor = Recorder(stop_after=4), ScoringMonitor(scoring="accuracy")
    model = xpnn.MLPClassifier(solver="lbfgs", max_iter=50, **FIT).set_callbacks(recorder,
                                                                                 monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(X, y)
    assert model.n_iter_ == 4
    assert [e[1:] for e in recorder.events if e[0] == "end"] == [
        ("iteration", 0), ("iteration", 1), ("iteration", 2), ("iteration", 3), ("fit", 0)]
    assert _scores(monitor, "iteration")[-1]["accuracy"] == model.score(X, y)


def test_ctrl_c_ends_the_begun_epoch_and_the_fit(digits_data):
    X, y = digits_data
    recorder = Recorder()
    calls = {"steps": 0}

    def interrupt(step, steps_in_epoch):
        calls["steps"] += 1
        if calls["steps"] == 20:  # in epoch 2
            raise KeyboardInterrupt

    model = xpnn.MLPClassifier(max_iter=5, **FIT).set_callbacks(recorder)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        model.fit(X, y, on_step=interrupt)
    ends = [e[1:] for e in recorder.events if e[0] == "end"]
    assert ends == [("epoch", 0), ("epoch", 1), ("fit", 0)] and model.n_iter_ == 1
    assert [m.n_iter_ for m in recorder.models] == [1]  # the rolled-back epoch: no model
    assert recorder.events[-1] == ("teardown", "fit")


def test_through_a_pipeline_and_a_grid_search_with_a_progress_bar(digits_data):
    X, y = digits_data
    monitor = ScoringMonitor(scoring="accuracy")
    mlp = xpnn.MLPClassifier(max_iter=3, **FIT).set_callbacks(monitor)
    search = GridSearchCV(make_pipeline(StandardScaler(), mlp),
                          {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2)
    search.set_callbacks(ProgressBar(max_propagation_depth=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    rows = monitor.get_logs(select="all")
    # one run, the search's: 2 candidates x 2 folds + the refit, 3 epochs each
    assert len(rows) == 1 and rows[0].estimator_name == "GridSearchCV"
    epochs = [row for row in rows[0].data if row["task_name"] == "epoch"]
    assert len(epochs) == 5 * 3
    paths = {row["task_id_path"][:-1] for row in epochs}
    assert len(paths) == 5  # each fit of the MLP hangs under its own task of the search
    refit = max(paths)
    last = [row for row in epochs if row["task_id_path"][:-1] == refit][-1]
    scaled = search.best_estimator_[0].transform(X)
    assert last["accuracy"] == search.best_estimator_[-1].score(scaled, y)


def test_warm_start_and_resume_fit_count_their_own_epochs(digits_data):
    X, y = digits_data
    recorder = Recorder()
    model = xpnn.MLPClassifier(max_iter=3, warm_start=True, **FIT).set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        model.fit(X, y)  # warm start: 3 epochs more, counted from 0
        model.set_params(max_iter=5).resume_fit(X, y)  # to 5 in all: 2 more
    roots = [e for e in recorder.events if e[0] == "begin" and e[2] == 0 and e[1] != "epoch"]
    assert [e[1] for e in roots] == ["fit", "fit", "resume_fit"]
    epochs_per_fit, count = [], 0
    for event in recorder.events:
        if event[:2] == ("end", "epoch"):
            count += 1
        elif event[0] == "teardown":
            epochs_per_fit, count = epochs_per_fit + [count], 0
    assert epochs_per_fit == [3, 3, 2]
    assert [m.n_iter_ for m in recorder.models] == [1, 2, 3, 1, 2, 3, 4, 5]


def test_progress_bar_draws_the_epochs(digits_data, capsys):
    X, y = digits_data
    model = xpnn.MLPClassifier(max_iter=3, **FIT).set_callbacks(ProgressBar())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    drawn = capsys.readouterr()
    assert "MLPClassifier" in drawn.out + drawn.err  # rich's bar, named by the estimator


class Boom:
    """A callback whose fit-begin hook raises."""

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, **kwargs):
        raise RuntimeError("boom")

    def on_fit_task_end(self, estimator, context, **kwargs):
        return False

    def teardown(self, estimator, context):
        pass


def _one_rank():
    return pytest.importorskip("mpi4py.MPI", reason="mpi4py is not installed").COMM_SELF


@pytest.mark.parametrize("comm", [lambda: None, _one_rank], ids=["no comm", "one rank"])
def test_a_callbacks_own_error_reaches_the_caller_in_a_group_of_one(digits_data, comm):
    X, y = digits_data
    model = xpnn.MLPClassifier(max_iter=3, comm=comm(), **FIT).set_callbacks(Boom())
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X, y)

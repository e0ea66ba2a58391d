"""Experiment trackers (xpnn/callbacks.py; xpnn train --tensorboard/--mlflow): what they log
is read back with TensorBoard's own event reader and with MlflowClient from a SQLite store.

The library through both doors (the plain calls; scikit-learn's FitCallback hooks, called by
hand and, where scikit-learn has them, by its own callback machinery), the CLI end to end
(a resumed run's steps going on), and a missing package: one line naming the extra, before
anything is trained or written.
"""
import json
import math
import os
import warnings
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.datasets import load_digits

import xpnn
from clirun import xpnn as xpnn_cli
from clirun import xpnn_json
from xpnn.callbacks import EPOCH_METRICS, MLflowLogger, TensorBoardLogger, plain_params

# MLflow's SQLAlchemy store, its own business
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")


@pytest.fixture(scope="module")
def fitted():
    """A small classifier fitted for 3 epochs with early stopping (validation metrics too)."""
    X, y = load_digits(return_X_y=True)
    return xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, early_stopping=True,
                              n_iter_no_change=10, random_state=0).fit(X / 16.0, y)


# -------------------------------------------------------------------------- readers


@pytest.fixture
def read_tensorboard():
    """log_dir -> ({tag: [(step, value)]}, {hparam: value}, whether the session ended), read
    with TensorBoard's own EventAccumulator."""
    pytest.importorskip("tensorboardX", reason="tensorboardX is not installed (xpnn[tracking])")
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (the test extra)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    def read(log_dir):
        events = EventAccumulator(str(log_dir))
        events.Reload()
        scalars = {tag: [(event.step, event.value) for event in events.Scalars(tag)]
                   for tag in events.Tags()["scalars"]}
        plugin = events.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(
            plugin["_hparams_/session_start_info"]).session_start_info
        hparams = {name: getattr(value, value.WhichOneof("kind"))
                   for name, value in start.hparams.items()}
        return scalars, hparams, "_hparams_/session_end_info" in plugin
    return read


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    """One SQLite store for the module (creating its tables takes seconds): (its URI, a
    function making an experiment whose artifacts live under the store's folder)."""
    mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed (xpnn[tracking])")
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)

    def experiment(name):
        return client.create_experiment(name, artifact_location=(folder / name).as_uri())
    return SimpleNamespace(uri=uri, client=client, experiment=experiment)


def metric_history(client, run_id, name):
    return [(metric.step, metric.value) for metric in client.get_metric_history(run_id, name)]


def expected_scalars(history):
    """{metric: [(epoch, value)]} that the history rows should give."""
    return {name: [(row["epoch"], row[key]) for row in history]
            for key, name in EPOCH_METRICS.items() if history[0].get(key) is not None}


def assert_scalars(logged, history, rtol=1e-6):
    """``logged`` holds exactly the history's metrics, one point per epoch (TensorBoard
    keeps float32: rtol 1e-6)."""
    expected = expected_scalars(history)
    assert set(expected) <= set(logged), sorted(logged)
    for name, points in expected.items():
        assert [step for step, _ in logged[name]] == [step for step, _ in points], name
        np.testing.assert_allclose([value for _, value in logged[name]],
                                   [value for _, value in points], rtol=rtol, err_msg=name)


# -------------------------------------------------------------------------- shared rules


@pytest.mark.parametrize("row, metrics", [
    ({"epoch": 2, "loss": 0.5, "learning_rate": 0.01, "accuracy": 0.9, "val_loss": None,
      "val_accuracy": None, "seconds": 0.1},
     {"train_loss": 0.5, "learning_rate": 0.01, "train_accuracy": 0.9}),
    ({"epoch": 2, "loss": 0.5, "learning_rate": 0.01, "val_loss": 0.7, "val_r2": 0.8,
      "seconds": 0.1},
     {"train_loss": 0.5, "learning_rate": 0.01, "val_loss": 0.7, "val_r2": 0.8}),
    ({"epoch": 7, "loss": 0.25}, {"train_loss": 0.25}),  # an L-BFGS row
], ids=["classifier", "regressor with early stopping", "lbfgs"])
def test_history_rows_become_metrics_without_their_nones(row, metrics):
    from xpnn.callbacks import epoch_metrics

    assert epoch_metrics(row) == metrics


def test_params_are_plain_values_and_comm_is_left_out():
    params = plain_params({"hidden_layer_sizes": (8, 4), "random_state": np.int64(3),
                           "tol": 1e-4, "n_iter_no_change": math.inf, "class_weight": None,
                           "shuffle": True, "solver": "adam", "comm": object()})
    assert params == {"hidden_layer_sizes": "(8, 4)", "random_state": 3, "tol": 1e-4,
                      "n_iter_no_change": "inf", "class_weight": "None", "shuffle": True,
                      "solver": "adam"}
    assert type(params["random_state"]) is int


# -------------------------------------------------------------------------- TensorBoard


def test_tensorboard_plain_calls(tmp_path, fitted, read_tensorboard):
    with TensorBoardLogger(tmp_path / "tb") as logger:
        logger.start(fitted.get_params())
        for row in fitted.history_:
            logger.log_epoch(row)
        logger.log_metrics({"test_accuracy": 0.5, "test_loss": None})
    scalars, hparams, ended = read_tensorboard(tmp_path / "tb")
    assert_scalars(scalars, fitted.history_)
    assert {"train_accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(scalars)
    assert scalars["test_accuracy"] == [(3, 0.5)] and "test_loss" not in scalars
    assert hparams["hidden_layer_sizes"] == "(8,)" and hparams["early_stopping"] is True
    assert hparams["learning_rate_init"] == 0.001 and hparams["solver"] == "adam"
    assert "comm" not in hparams and ended


def test_tensorboard_through_the_fit_callback_hooks(tmp_path, fitted, read_tensorboard):
    """The hooks called as scikit-learn calls them, with contexts of its shape: the fit is
    the root task, each epoch a sub-task whose end sees the history so far."""
    logger = TensorBoardLogger(tmp_path / "tb")
    fit = SimpleNamespace(task_name="fit", parent=None)
    logger.setup(fitted, fit)
    logger.on_fit_task_begin(fitted, fit)
    for epoch in range(1, len(fitted.history_) + 1):
        task = SimpleNamespace(task_name="epoch", parent=fit)
        logger.on_fit_task_begin(fitted, task)
        so_far = SimpleNamespace(history_=fitted.history_[:epoch])
        assert logger.on_fit_task_end(fitted, task, fitted_estimator=so_far) is False
    assert logger.on_fit_task_end(fitted, fit, fitted_estimator=fitted) is False
    logger.teardown(fitted, fit)
    assert not logger.active
    scalars, hparams, ended = read_tensorboard(tmp_path / "tb")
    assert_scalars(scalars, fitted.history_)
    assert hparams["max_iter"] == 3 and ended
    sklearn_callback = pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9")
    assert isinstance(logger, sklearn_callback.FitCallback)


def test_set_callbacks_logs_every_epoch_of_a_real_fit(tmp_path, read_tensorboard):
    """Once the estimators take scikit-learn's callbacks: one fit, its history in the log."""
    if not hasattr(xpnn.MLPClassifier, "set_callbacks"):
        pytest.skip("MLPClassifier has no set_callbacks (scikit-learn >= 1.9 callbacks)")
    X, y = load_digits(return_X_y=True)
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    clf.set_callbacks(TensorBoardLogger(tmp_path / "tb")).fit(X / 16.0, y)
    scalars, hparams, ended = read_tensorboard(tmp_path / "tb")
    assert_scalars(scalars, clf.history_)
    assert hparams["hidden_layer_sizes"] == "(8,)" and ended


def test_the_validation_curve_of_a_given_set_reaches_tensorboard(tmp_path, read_tensorboard):
    """fit's X_val (issue 39): its per-epoch scores are the logged val_* curves."""
    if not hasattr(xpnn.MLPClassifier, "set_callbacks"):
        pytest.skip("MLPClassifier has no set_callbacks (scikit-learn >= 1.9 callbacks)")
    X, y = load_digits(return_X_y=True)
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    clf.set_callbacks(TensorBoardLogger(tmp_path / "tb")).fit(
        X[:1400] / 16.0, y[:1400], X_val=X[1400:] / 16.0, y_val=y[1400:])
    scalars, _, _ = read_tensorboard(tmp_path / "tb")
    assert [value for _, value in scalars["val_accuracy"]] == pytest.approx(
        clf.validation_scores_, rel=1e-6)
    assert [value for _, value in scalars["val_loss"]] == pytest.approx(
        clf.validation_loss_curve_, rel=1e-6)


# -------------------------------------------------------------------------- MLflow


def test_mlflow_plain_calls_beside_the_users_active_run(tmp_path, monkeypatch, fitted,
                                                        mlflow_store):
    """Params, a metric history per epoch, test metrics, the model file; the store from
    $MLFLOW_TRACKING_URI; the user's own active run neither ended nor written to (the
    logger's run is its child); nothing in the working directory."""
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store.uri)
    experiment_id = mlflow_store.experiment("library")
    model_file = tmp_path / "model.safetensors"
    model_file.write_bytes(b"weights")
    client = mlflow_store.client
    with mlflow.start_run(experiment_id=experiment_id) as users_run:
        with MLflowLogger(experiment="library", run_name="digits") as logger:
            logger.start(fitted.get_params())
            for row in fitted.history_:
                logger.log_epoch(row)
            logger.log_metrics({"test_loss": 0.75, "test_accuracy": 0.5})
            logger.log_artifact(model_file)
        assert mlflow.active_run().info.run_id == users_run.info.run_id
        assert client.get_run(users_run.info.run_id).info.status == "RUNNING"
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "digits"
    assert run.info.experiment_id == experiment_id
    assert run.data.tags["mlflow.parentRunId"] == users_run.info.run_id
    assert run.data.params["hidden_layer_sizes"] == "(8,)" and "comm" not in run.data.params
    assert run.data.params["max_iter"] == "3"
    assert_scalars({name: metric_history(client, logger.run_id, name)
                    for name in run.data.metrics}, fitted.history_, rtol=1e-12)
    assert metric_history(client, logger.run_id, "test_accuracy") == [(3, 0.5)]
    assert [item.path for item in client.list_artifacts(logger.run_id)] == ["model.safetensors"]
    assert not client.get_run(users_run.info.run_id).data.metrics  # ours went to our run
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]  # no mlruns/, no mlflow.db


def test_mlflow_runs_of_real_fits_finished_and_interrupted(mlflow_store):
    """xpnn's own fits through set_callbacks: a finished fit's run FINISHED with every
    epoch; a fit that Ctrl-C stops in its third epoch (it warns and returns, as
    scikit-learn's) ends its run KILLED with two points, not left RUNNING."""
    if not hasattr(xpnn.MLPClassifier, "set_callbacks"):
        pytest.skip("MLPClassifier has no set_callbacks (scikit-learn >= 1.9 callbacks)")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    mlflow_store.experiment("fits")
    finished = MLflowLogger("fits", tracking_uri=mlflow_store.uri)
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0,
                             early_stopping=True).set_callbacks(finished).fit(X, y)
    interrupted = MLflowLogger("fits", tracking_uri=mlflow_store.uri)
    steps = {"n": 0}

    def ctrl_c_in_epoch_3(step, steps_in_epoch):
        steps["n"] += 1
        if steps["n"] == 2 * steps_in_epoch + 1:
            raise KeyboardInterrupt

    model = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0,
                               early_stopping=True).set_callbacks(interrupted)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        model.fit(X, y, on_step=ctrl_c_in_epoch_3)
    client = mlflow_store.client
    assert client.get_run(finished.run_id).info.status == "FINISHED"
    assert client.get_run(interrupted.run_id).info.status == "KILLED"
    assert metric_history(client, finished.run_id, "train_loss") == [
        (row["epoch"], row["loss"]) for row in clf.history_]
    assert [step for step, _ in metric_history(client, interrupted.run_id, "val_loss")] == [1, 2]
    assert client.get_run(interrupted.run_id).data.params["hidden_layer_sizes"] == "(8,)"


def test_a_model_with_trackers_pickles_and_its_copy_logs_anew(tmp_path, mlflow_store):
    """pickle / joblib (and a search's workers) copy the trackers closed, without their
    module or open writer; the copy opens its own run when it fits."""
    import pickle

    if not hasattr(xpnn.MLPClassifier, "set_callbacks"):
        pytest.skip("MLPClassifier has no set_callbacks (scikit-learn >= 1.9 callbacks)")
    X, y = load_digits(return_X_y=True)
    mlflow_store.experiment("pickled")
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    clf.set_callbacks(TensorBoardLogger(tmp_path / "tb"),
                      MLflowLogger("pickled", tracking_uri=mlflow_store.uri))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X / 16.0, y)
        copy = pickle.loads(pickle.dumps(clf))
        copy.fit(X / 16.0, y)
    np.testing.assert_array_equal(copy.predict(X / 16.0), clf.predict(X / 16.0))
    runs = mlflow_store.client.search_runs(
        [mlflow_store.client.get_experiment_by_name("pickled").experiment_id])
    assert len(runs) == 2 and {run.info.status for run in runs} == {"FINISHED"}


# -------------------------------------------------------------------------- the CLI


def test_cli_logs_to_tensorboard_and_mlflow_and_a_resumed_run_goes_on(
        tmp_path, monkeypatch, mlflow_store, read_tensorboard):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store.uri)
    experiment_id = mlflow_store.experiment("cli")
    tb, model, log = tmp_path / "tb", tmp_path / "model.safetensors", tmp_path / "log.jsonl"
    summary = xpnn_json("train", "--epochs", "2", "--hidden", "8", "--tensorboard", tb,
                        "--mlflow", "cli", "--save", model, "--metrics-log", log)
    resumed = xpnn_json("train", "--resume", model, "--epochs", "3", "--tensorboard", tb,
                        "--mlflow", "cli", "--metrics-log", log)
    history = [json.loads(line) for line in log.read_text().splitlines()]
    assert [row["epoch"] for row in history] == [1, 2, 3]

    scalars, hparams, ended = read_tensorboard(tb)  # both runs' event files, steps 1..3
    assert_scalars(scalars, history)
    assert hparams["hidden_layer_sizes"] == "(8,)" and hparams["data"] == "scikit-learn digits"
    assert scalars["test_accuracy"][-1] == (3, pytest.approx(resumed["test_accuracy"]))

    client = mlflow_store.client
    first, second = sorted(client.search_runs([experiment_id]),
                           key=lambda run: run.info.start_time)
    assert first.info.status == second.info.status == "FINISHED"
    assert first.data.params["data"] == "scikit-learn digits"
    assert first.data.params["max_iter"] == "2" and second.data.params["max_iter"] == "3"
    assert_scalars({name: metric_history(client, first.info.run_id, name)
                    for name in first.data.metrics}, history[:2], rtol=1e-12)
    assert metric_history(client, second.info.run_id, "train_loss") == [(3, history[2]["loss"])]
    assert first.data.metrics["test_loss"] == pytest.approx(summary["test_loss"], rel=1e-12)
    assert first.data.metrics["test_accuracy"] == summary["test_accuracy"]
    assert [item.path for item in client.list_artifacts(first.info.run_id)] == [model.name]
    assert not client.list_artifacts(second.info.run_id)  # no --save, no model file
    assert sorted(os.listdir(tmp_path)) == ["log.jsonl", "model.safetensors", "tb"]


def test_cli_run_that_diverges_is_ended_as_failed(tmp_path, monkeypatch, mlflow_store):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store.uri)
    experiment_id = mlflow_store.experiment("diverged")
    result = xpnn_cli("train", "--lr", "1e10", "--optimizer", "sgd", "--epochs", "3",
                      "--mlflow", "diverged")
    assert result.returncode == 3, result.stderr
    (run,) = mlflow_store.client.search_runs([experiment_id])
    assert run.info.status == "FAILED" and "test_loss" not in run.data.metrics


@pytest.mark.parametrize("flags, package, tracker, tracker_args", [
    (["--tensorboard", "tb"], "tensorboardX", TensorBoardLogger, ("tb",)),
    (["--mlflow"], "mlflow", MLflowLogger, ()),
], ids=["tensorboard", "mlflow"])
def test_a_missing_package_is_one_line_before_anything_runs(tmp_path, monkeypatch, flags,
                                                            package, tracker, tracker_args):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, package, None)  # import raises ImportError: not installed
    result = xpnn_cli("train", "--epochs", "1", *flags, "--save", "model.safetensors",
                      "--metrics-log", "log.jsonl")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"xpnn train: error: {flags[0]} needs {package}" in lines[0]
    assert "pip install -e '.[tracking]'" in lines[0]

    with pytest.raises(ImportError, match=rf"{tracker.__name__} needs {package}.*"
                                          rf"pip install -e '\.\[tracking\]'") as error:
        tracker(*tracker_args)
    assert isinstance(error.value, xpnn.XpnnError)  # the CLI's one line, exit 2
    assert os.listdir(tmp_path) == []  # no data read, nothing trained or written

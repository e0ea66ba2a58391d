"""A validation set of the caller's choosing (issue 39): ``fit(X, y, *, X_val, y_val,
sample_weight_val)`` as scikit-learn's histogram gradient boosting takes it.

Scored every epoch into the history (with or without early stopping, training unchanged by
it), the set early stopping watches (``validation_fraction`` unused), checked as X and y
are with one-line errors, kept in its own dtype, routed by scikit-learn's metadata routing
(``Pipeline``'s ``transform_input`` scales it with the scaler fitted on X), handed to
``ScoringMonitor`` per epoch, and taken by ``partial_fit``. The 2-rank case is in
test_mpi.py (``adam-given-validation`` and ranks with different sets).
"""
import json
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, log_loss, r2_score

import xpnn
from xpnn.estimators import base as estimator_base
from assertions import assert_params_equal

FIT = dict(hidden_layer_sizes=(16,), batch_size=64, random_state=0)


@pytest.fixture
def split(digits_data):
    X, y = digits_data
    return X[:1400], y[:1400], X[1400:], y[1400:]


def quiet_fit(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


def test_without_early_stopping_the_set_is_scored_every_epoch_and_changes_no_weight(split):
    X, y, X_val, y_val = split
    scored = quiet_fit(xpnn.MLPClassifier(max_iter=4, **FIT), X, y, X_val=X_val, y_val=y_val)
    plain = quiet_fit(xpnn.MLPClassifier(max_iter=4, **FIT), X, y)
    assert_params_equal(scored.params_, plain.params_)
    assert scored.loss_curve_ == plain.loss_curve_
    assert plain.validation_scores_ is None and plain.validation_loss_curve_ is None
    assert len(scored.validation_scores_) == len(scored.validation_loss_curve_) == 4
    assert scored.best_validation_score_ is None  # scikit-learn's: early stopping's alone
    # the last epoch's entries are the fitted model's accuracy and log loss on the set
    assert scored.validation_scores_[-1] == accuracy_score(y_val, scored.predict(X_val))
    assert scored.validation_loss_curve_[-1] == pytest.approx(
        log_loss(y_val, scored.predict_proba(X_val)), rel=1e-10)
    assert [row["val_accuracy"] for row in scored.history_] == scored.validation_scores_


def test_early_stopping_watches_the_given_set_and_holds_out_no_row_of_X(split):
    X, y, X_val, y_val = split
    fits = [quiet_fit(xpnn.MLPClassifier(max_iter=60, early_stopping=True, n_iter_no_change=3,
                                         validation_fraction=fraction, **FIT),
                      X, y, X_val=X_val, y_val=y_val) for fraction in (0.1, 0.5)]
    assert_params_equal(fits[0].params_, fits[1].params_)  # validation_fraction: unused
    model = fits[0]
    assert model.n_iter_ < 60  # the rule stopped it
    assert model.t_ == model.n_iter_ * len(X)  # every row of X trained, every epoch
    assert model.best_validation_score_ == max(model.validation_scores_)
    # the best epoch's weights predict: their accuracy on the set is the best score
    assert model.score(X_val, y_val) == model.best_validation_score_


def test_the_regressor_scores_r2_on_the_given_set(digits_data):
    X, y = digits_data
    y = y / 9.0
    model = quiet_fit(xpnn.MLPRegressor(max_iter=3, **FIT), X[:1400], y[:1400],
                      X_val=X[1400:], y_val=y[1400:])
    assert model.validation_scores_[-1] == pytest.approx(
        r2_score(y[1400:], model.predict(X[1400:])), rel=1e-9)


def test_uint8_X_val_stays_uint8_and_is_not_copied(monkeypatch, split):
    X, y, X_val, y_val = split
    X8, X_val8 = (np.rint(part * 16).astype(np.uint8) for part in (X, X_val))
    seen = []
    original = estimator_base.train

    def spy(state, optimizer, data, config, *args, val=None, **kwargs):
        seen.append(val)
        return original(state, optimizer, data, config, *args, val=val, **kwargs)

    monkeypatch.setattr(estimator_base, "train", spy)
    quiet_fit(xpnn.MLPClassifier(max_iter=1, dtype="float32", **FIT), X8, y,
              X_val=X_val8, y_val=y_val)
    (val,) = seen
    assert val.X.dtype == np.uint8 and np.shares_memory(val.X, X_val8)


@pytest.mark.parametrize("arguments, line", [
    (lambda X, y: dict(X_val=X[:, :10], y_val=y),
     "X_val: X has 10 features, but MLPClassifier is expecting 64 features as input."),
    (lambda X, y: dict(X_val=X, y_val=y + 20),
     "y_val: it has classes that y does not: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29] "
     "(the model learns [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])"),
    (lambda X, y: dict(X_val=X), "X_val was given without y_val: pass both, or neither"),
    (lambda X, y: dict(y_val=y), "y_val was given without X_val: pass both, or neither"),
    (lambda X, y: dict(sample_weight_val=np.ones(len(y))),
     "sample_weight_val was given without X_val and y_val: pass the validation set it "
     "weighs"),
    (lambda X, y: dict(X_val=X, y_val=y[:5]),
     "y_val: Found input variables with inconsistent numbers of samples: [397, 5] (y)"),
    (lambda X, y: dict(X_val=X, y_val=np.stack([y > 4, y % 2 == 0], axis=1) * 1),
     "y_val: it is multi-label with targets of shape (2,) per row; y's are (): give it the "
     "same kind of labels"),
    (lambda X, y: dict(X_val=X, y_val=y, sample_weight_val=-np.ones(len(y))),
     "sample_weight_val: Negative values in data passed to sample_weight, or NaN/inf: "
     "weights must be finite and >= 0"),
], ids=["features", "unseen-classes", "no-y_val", "no-X_val", "weights-alone", "lengths",
        "multi-label", "negative-weights"])
def test_a_bad_validation_set_is_one_line_naming_the_argument(split, arguments, line):
    X, y, X_val, y_val = split
    with pytest.raises(ValueError) as raised:
        xpnn.MLPClassifier(max_iter=1, **FIT).fit(X, y, **arguments(X_val, y_val))
    assert str(raised.value) == line


def test_lbfgs_refuses_a_validation_set(split):
    X, y, X_val, y_val = split
    with pytest.raises(ValueError, match="^X_val: solver='lbfgs' minimizes the full-batch"):
        xpnn.MLPClassifier(solver="lbfgs", max_iter=2).fit(X, y, X_val=X_val, y_val=y_val)


def test_partial_fit_scores_the_set_of_each_call_that_brings_one(split):
    X, y, X_val, y_val = split
    model = xpnn.MLPClassifier(**FIT)
    for call in range(3):
        model.partial_fit(X, y, classes=np.arange(10),
                          **(dict(X_val=X_val, y_val=y_val) if call != 1 else {}))
    assert len(model.loss_curve_) == 3 and len(model.validation_scores_) == 2
    assert model.validation_scores_[-1] == accuracy_score(y_val, model.predict(X_val))


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_a_pipeline_scales_X_val_with_the_scaler_fitted_on_X(routing, digits_data):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = digits_data
    X, X_val, y, y_val = X[:1400] * 16, X[1400:] * 16, y[:1400], y[1400:]
    model = xpnn.MLPClassifier(max_iter=3, **FIT).set_fit_request(X_val=True, y_val=True)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", model)], transform_input=["X_val"])
    quiet_fit(pipe, X, y, X_val=X_val, y_val=y_val)
    scaler = StandardScaler().fit(X)
    by_hand = quiet_fit(xpnn.MLPClassifier(max_iter=3, **FIT), scaler.transform(X), y,
                        X_val=scaler.transform(X_val), y_val=y_val)
    unscaled = quiet_fit(xpnn.MLPClassifier(max_iter=3, **FIT), scaler.transform(X), y,
                         X_val=X_val, y_val=y_val)
    assert pipe[-1].validation_scores_ == by_hand.validation_scores_
    assert pipe[-1].validation_loss_curve_ != unscaled.validation_loss_curve_


def test_a_search_routes_the_set_to_every_candidate(routing, split):
    from sklearn.model_selection import GridSearchCV

    X, y, X_val, y_val = split
    model = xpnn.MLPClassifier(max_iter=2, **FIT).set_fit_request(X_val=True, y_val=True)
    search = quiet_fit(GridSearchCV(model, {"alpha": [1e-4, 1e-2]}, cv=2), X, y,
                       X_val=X_val, y_val=y_val)
    best = search.best_estimator_
    assert len(best.validation_scores_) == 2
    assert best.validation_scores_[-1] == accuracy_score(y_val, best.predict(X_val))
    # without the request, routing refuses the metadata rather than drop it
    with pytest.raises(Exception, match="X_val"):
        GridSearchCV(xpnn.MLPClassifier(max_iter=1, **FIT), {"alpha": [1e-4]}, cv=2).fit(
            X, y, X_val=X_val, y_val=y_val)


def test_scoring_monitor_scores_each_epoch_on_the_given_set(split):
    callback = pytest.importorskip("sklearn.callback", reason="scikit-learn >= 1.9")
    X, y, X_val, y_val = split
    monitor = callback.ScoringMonitor(scoring="accuracy")
    model = quiet_fit(xpnn.MLPClassifier(max_iter=3, **FIT).set_callbacks(monitor), X, y,
                      X_val=X_val, y_val=y_val)
    rows = monitor.get_logs().data
    epochs = [row["accuracy"] for row in rows if row["task_name"] == "epoch"]
    assert epochs == model.validation_scores_
    (fit,) = [row["accuracy"] for row in rows if row["task_name"] == "fit"]
    assert fit == model.score(X, y)  # the fit's own task: the training data, as before


# -- xpnn train --val-data -------------------------------------------------------------------

@pytest.fixture
def npz_files(tmp_path, digits_data):
    """The digits' first 1400 rows and the rest as .npz files of their 0..16 integers."""
    X, y = digits_data
    X = np.rint(X * 16).astype(np.uint8)
    paths = {}
    for name, rows in (("train", slice(0, 1400)), ("val", slice(1400, None))):
        paths[name] = tmp_path / f"{name}.npz"
        np.savez(paths[name], X=X[rows], y=y[rows])
    return paths


def test_train_scores_val_data_as_the_saved_model_does_on_it(npz_files, tmp_path):
    from clirun import xpnn_json

    log, model = tmp_path / "log.jsonl", tmp_path / "m.safetensors"
    xpnn_json("train", "--data", npz_files["train"], "--val-data", npz_files["val"],
              "--epochs", "3", "--hidden", "16", "--metrics-log", log, "--save", model)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(row["val_accuracy"] is not None and not row["keeps_best"] for row in records)
    # scaled as the training rows: the last epoch's score is the saved model's on the file
    evaluated = xpnn_json("evaluate", model, "--data", npz_files["val"])
    assert records[-1]["val_accuracy"] == evaluated["accuracy"]
    assert records[-1]["val_loss"] == pytest.approx(evaluated["loss"], rel=1e-6)


def test_train_with_val_data_and_early_stopping_keeps_the_best_epoch_on_it(npz_files,
                                                                           tmp_path):
    from clirun import xpnn_json

    log = tmp_path / "log.jsonl"
    summary = xpnn_json("train", "--data", npz_files["train"], "--val-data", npz_files["val"],
                        "--early-stopping", "--patience", "2", "--epochs", "40", "--hidden",
                        "16", "--lr", "0.05", "--metrics-log", log)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert summary["stopped_early"] and len(records) < 40
    from xpnn.reports.history import kept_epoch
    best = max(row["val_accuracy"] for row in records)
    assert records[kept_epoch(records) - 1]["val_accuracy"] == best


@pytest.mark.parametrize("make, flags, line", [
    (None, ("--val-split", "0.2", "--early-stopping"),
     "--val-data {val} and --val-split both name the validation rows: give one (--val-split "
     "holds out a share of the training data)"),
    (lambda X, y: (X[:, :10], y), (),
     "{val}: 10 features per sample, but the model expects 64"),
    (lambda X, y: (X, y + 20), (),
     "{val}, row 0 (from 0): label 22 is not one of the training split's classes (0, 1, 2, "
     "3, 4, 5, 6, 7, 8, 9); 397 rows have labels the training data lacks: give a validation "
     "split from the same classes"),
], ids=["with-val-split", "features", "labels"])
def test_bad_val_data_is_one_line_naming_the_file(npz_files, tmp_path, make, flags, line):
    from clirun import xpnn

    val = npz_files["val"]
    if make is not None:
        data = np.load(val)
        val = tmp_path / "bad.npz"
        np.savez(val, **dict(zip(("X", "y"), make(data["X"], data["y"]))))
    result = xpnn("train", "--data", npz_files["train"], "--val-data", val, "--epochs", "1",
                  *flags)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"xpnn train: error: {line.format(val=val)}"]

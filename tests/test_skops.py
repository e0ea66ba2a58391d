"""skops, scikit-learn's way to share a fitted estimator: files that skops.io writes of today's
estimators load back and predict the same, naming only xpnn's own types for the loader to
trust; xpnn.model_card fills a skops card. (tests/test_fixtures.py loads skops files written
before the modules moved.)"""
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

import xpnn
from xpnn.errors import XpnnMissingPackageError

skops_io = pytest.importorskip("skops.io", reason="needs pip install 'xpnn[skops]'")

TRAIN_STATE = "xpnn.training.train_state.TrainState"
SMALL = {"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0}
# name -> (estimator, its parameters beyond SMALL, the targets it is fitted to)
FITS = {
    "classifier": (xpnn.MLPClassifier, {}, "labels"),
    "regressor": (xpnn.MLPRegressor, {}, "values"),
    "early_stopping": (xpnn.MLPClassifier, {"early_stopping": True}, "labels"),
    "multi_label": (xpnn.MLPClassifier, {}, "indicator"),
    "dropout": (xpnn.MLPClassifier, {"dropout": 0.2}, "labels"),
    "sgd": (xpnn.MLPClassifier, {"solver": "sgd"}, "labels"),
    "adam": (xpnn.MLPClassifier, {"solver": "adam"}, "labels"),
    "lbfgs": (xpnn.MLPClassifier, {"solver": "lbfgs"}, "labels"),
}


def targets(y, kind):
    return {"labels": y, "values": y / 9.0,
            "indicator": np.stack([y % 2, y >= 5], axis=1).astype(np.int64)}[kind]


@pytest.fixture(scope="module")
def digits():
    """(X_train, y_train, X_test, y_test): 300 training rows, 297 test rows, scaled to [0, 1]."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X[:300], y[:300], X[1500:], y[1500:]


def fitted(name, digits):
    estimator, params, kind = FITS[name]
    X, y, _, _ = digits
    return estimator(**SMALL, **params).fit(X, targets(y, kind))


def skops_round_trip(model, path):
    """(the loaded model, the types skops asked to trust) of a file skops.io.dump wrote."""
    skops_io.dump(model, path)
    untrusted = skops_io.get_untrusted_types(file=path)
    return skops_io.load(path, trusted=untrusted), untrusted


def assert_same_predictions(model, loaded, X):
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# ------------------------------------------------------------------------ skops.io files


@pytest.mark.parametrize("name", FITS)
def test_a_skops_file_names_only_xpnns_types_and_predicts_bit_for_bit(name, digits, tmp_path):
    model = fitted(name, digits)
    loaded, untrusted = skops_round_trip(model, tmp_path / "model.skops")
    assert untrusted == [f"xpnn.estimators.estimator.{type(model).__name__}", TRAIN_STATE]
    assert all(type_name.startswith("xpnn.") for type_name in untrusted)
    assert type(loaded) is type(model)
    assert_same_predictions(model, loaded, digits[2])


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_loaded_model_trains_on_as_the_one_it_was_saved_from(solver, digits, tmp_path):
    model = fitted(solver, digits)  # the optimizer's state (velocity, moments) went too
    loaded, _ = skops_round_trip(model, tmp_path / "model.skops")
    X, y, X_test, _ = digits
    model.partial_fit(X, y)
    loaded.partial_fit(X, y)
    for mine, theirs in zip(model.coefs_ + model.intercepts_, loaded.coefs_ + loaded.intercepts_):
        np.testing.assert_array_equal(theirs, mine)
    assert_same_predictions(model, loaded, X_test)


def test_a_skops_file_is_refused_until_its_types_are_trusted(digits, tmp_path):
    skops_io.dump(fitted("classifier", digits), tmp_path / "model.skops")
    with pytest.raises(skops_io.exceptions.UntrustedTypesFoundException,
                       match="xpnn.estimators.estimator.MLPClassifier"):
        skops_io.load(tmp_path / "model.skops")


@pytest.mark.parametrize("name", ["classifier", "regressor"])
def test_the_xpnn_file_and_the_skops_file_of_a_model_predict_the_same(name, digits, tmp_path):
    model = fitted(name, digits)
    xpnn.save_model(tmp_path / "model.safetensors", model)
    from_xpnn, _, _ = xpnn.load_model(tmp_path / "model.safetensors")
    from_skops, _ = skops_round_trip(model, tmp_path / "model.skops")
    assert_same_predictions(from_xpnn, from_skops, digits[2])
    assert_same_predictions(model, from_skops, digits[2])


def test_a_model_fitted_on_torch_tensors_round_trips_on_torch(digits, tmp_path):
    torch = pytest.importorskip("torch")
    X, y, X_test, _ = digits
    model = xpnn.MLPClassifier(**SMALL).fit(torch.asarray(X, dtype=torch.float32),
                                            torch.asarray(y))
    loaded, untrusted = skops_round_trip(model, tmp_path / "model.skops")
    assert untrusted == ["xpnn.estimators.estimator.MLPClassifier", TRAIN_STATE]
    assert isinstance(loaded.coefs_[0], torch.Tensor)
    X_test = torch.asarray(X_test, dtype=torch.float32)
    assert torch.equal(loaded.predict(X_test), model.predict(X_test))
    assert torch.equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    # the live model kept its own arrays: dumping copied them to the host, never moved them
    assert isinstance(model.coefs_[0], torch.Tensor) and model.coefs_[0] is model.params_["w1"]
    assert loaded.coefs_[0] is loaded.params_["w1"]  # shared arrays stay shared


def test_a_pickled_torch_model_holds_numpy_copies_and_comes_back_on_torch(digits):
    import pickle

    torch = pytest.importorskip("torch")
    X, y, X_test, _ = digits
    model = xpnn.MLPClassifier(**SMALL).fit(torch.asarray(X), torch.asarray(y))
    blob = pickle.dumps(model)
    assert b"torch._utils" not in blob  # no torch tensor was pickled
    loaded = pickle.loads(blob)
    assert loaded.backend_.name == "torch" and isinstance(loaded.coefs_[0], torch.Tensor)
    X_test = torch.asarray(X_test)
    assert torch.equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    loaded.partial_fit(torch.asarray(X), torch.asarray(y))  # and trains on from there
    model.partial_fit(torch.asarray(X), torch.asarray(y))
    assert torch.equal(loaded.coefs_[0], model.coefs_[0])


# ------------------------------------------------------------------------ model cards


def readme_of(model, y_test, digits, folder):
    """The README.md that ``card.save`` writes of the model's card on the test rows."""
    card = xpnn.model_card(model, digits[2], y_test, folder=folder)
    card.save(folder / "README.md")
    return (folder / "README.md").read_text()


def table_value(markdown, name):
    """The value cell of the table row whose first cell is ``name``."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.lstrip().startswith("|")]
    return next(row[1] for row in rows if row[0] == name)


def test_a_classifiers_card_has_its_metrics_history_plot_and_the_types_to_trust(digits,
                                                                                tmp_path):
    model = fitted("early_stopping", digits)  # a history with a validation curve
    _, _, X_test, y_test = digits
    readme = readme_of(model, y_test, digits, tmp_path)
    accuracy = accuracy_score(y_test, model.predict(X_test))
    loss = log_loss(y_test, model.predict_proba(X_test))
    assert table_value(readme, "accuracy") == str(round(accuracy, 4))
    assert table_value(readme, "log loss") == str(round(loss, 4))
    assert table_value(readme, "hidden_layer_sizes") == "(8,)"  # skops' hyperparameter table
    plot = tmp_path / "training_history.png"
    assert plot.read_bytes().startswith(b"\x89PNG") and "(training_history.png)" in readme
    skops_io.dump(model, tmp_path / "model.skops")
    trusted = skops_io.get_untrusted_types(file=tmp_path / "model.skops")
    assert f"skops.io.load('model.skops', trusted={trusted!r})" in readme


def test_a_regressors_card_has_r2_and_mean_squared_error(digits, tmp_path):
    model = fitted("regressor", digits)
    _, _, X_test, y_test = digits
    readme = readme_of(model, y_test / 9.0, digits, tmp_path)
    predictions = model.predict(X_test)
    assert table_value(readme, "R^2") == str(round(r2_score(y_test / 9.0, predictions), 4))
    assert table_value(readme, "mean squared error") == str(
        round(mean_squared_error(y_test / 9.0, predictions), 4))
    assert "xpnn.estimators.estimator.MLPRegressor" in readme
    # plot_history draws loss and accuracy: a regressor's history has no accuracy to draw
    assert not (tmp_path / "training_history.png").exists()


def test_a_multi_label_cards_log_loss_is_the_mean_binary_cross_entropy(digits, tmp_path):
    model = fitted("multi_label", digits)
    _, _, X_test, y_test = digits
    Y = targets(y_test, "indicator")
    probs = np.clip(model.predict_proba(X_test), 1e-15, 1 - 1e-15)
    entropy = -np.mean(Y * np.log(probs) + (1 - Y) * np.log(1 - probs))
    card = xpnn.model_card(model, X_test, Y, folder=tmp_path)
    assert table_value(card.render(), "log loss") == str(round(entropy, 4))


def test_a_card_of_a_model_fitted_on_torch_gives_the_skops_load_code(digits, tmp_path):
    torch = pytest.importorskip("torch")
    X, y, X_test, y_test = digits
    model = xpnn.MLPClassifier(**SMALL).fit(torch.asarray(X), torch.asarray(y))
    card = xpnn.model_card(model, torch.asarray(X_test), torch.asarray(y_test), folder=tmp_path)
    text = card.render()
    accuracy = accuracy_score(y_test, model.predict(torch.asarray(X_test)).numpy())
    assert table_value(text, "accuracy") == str(round(accuracy, 4))
    assert "skops.io.load(" in text and "skops.io cannot share this model" not in text


@pytest.mark.parametrize("model, error, message", [
    (xpnn.MLPClassifier(), NotFittedError, "This MLPClassifier instance is not fitted yet"),
    (LogisticRegression().fit([[0.0], [1.0]], [0, 1]), TypeError,
     "model_card takes a fitted xpnn MLPClassifier or MLPRegressor, got LogisticRegression"),
])
def test_a_card_of_a_bad_model_is_one_line_and_writes_nothing(model, error, message, digits,
                                                             tmp_path):
    with pytest.raises(error, match=message) as caught:
        xpnn.model_card(model, digits[2], digits[3], folder=tmp_path / "card")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "card").exists()


def test_a_card_without_skops_names_the_extra(digits, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skops.card", None)  # as if not installed
    with pytest.raises(XpnnMissingPackageError, match=r"pip install -e '\.\[skops\]'") as caught:
        xpnn.model_card(fitted("classifier", digits), digits[2], digits[3], folder=tmp_path)
    assert "\n" not in str(caught.value)

"""MLPClassifier's class_weight, as scikit-learn's linear classifiers define it.

A class weight of k is that class's rows repeated k times (float64, full batch, no
shuffling); "balanced" is the dict compute_class_weight gives; multi-label y weighs each
label column as compute_sample_weight; the errors are scikit-learn's words; None changes
nothing; the setting is a parameter (clone, resume, model file; the CLI's --class-weight:
tests/test_cli_train.py).
"""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight

import xpnn
from assertions import assert_params_close, assert_params_equal

FULL_BATCH = dict(hidden_layer_sizes=(8,), batch_size="full", shuffle=False, max_iter=5,
                  random_state=0, dtype="float64", alpha=1e-3, n_iter_no_change=np.inf)
SOLVERS = {"sgd": dict(solver="sgd", learning_rate_init=0.1), "adam": dict(solver="adam")}


@pytest.fixture
def rows(digits_data):
    X, y = digits_data
    return X[:150], y[:150]


# target kind -> (y from the digit labels, a class_weight giving one class (or the rows of
# one label) weight 2, which rows weigh 2)
TARGETS = {
    "multiclass": (lambda y: y % 3, {0: 1.0, 1: 2.0, 2: 1.0}, lambda y: y % 3 == 1),
    "binary": (lambda y: y > 4, {False: 2.0, True: 1.0}, lambda y: y <= 4),
    "multi-label": (lambda y: np.stack([y > 4, y % 2 == 0], axis=1).astype(int),
                    [{0: 1.0, 1: 2.0}, {0: 1.0, 1: 1.0}], lambda y: y > 4),
}


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_a_class_weight_of_2_equals_repeating_that_classs_rows(rows, target, solver):
    X, labels = rows
    make_y, class_weight, doubled = TARGETS[target]
    y, repeats = make_y(labels), np.where(doubled(labels), 2, 1)
    options = {**FULL_BATCH, **SOLVERS[solver]}
    weighted = xpnn.MLPClassifier(class_weight=class_weight, **options).fit(X, y)
    repeated = xpnn.MLPClassifier(**options).fit(np.repeat(X, repeats, axis=0),
                                                 np.repeat(y, repeats, axis=0))
    assert_params_close(weighted.params_, repeated.params_, dtype="float64")
    assert not np.allclose(weighted.coefs_[0],  # and it did change something
                           xpnn.MLPClassifier(**options).fit(X, y).coefs_[0])


@pytest.mark.parametrize("sample_weight", [None, "integers"])
def test_balanced_is_compute_class_weights_dict(rows, sample_weight):
    """With sample weights, "balanced" counts each class's rows by their weight, as
    LogisticRegression passes them to compute_class_weight."""
    X, labels = rows
    y = np.where(labels < 7, labels % 2, 2)  # classes of 60, 45 and 45 rows
    weights = (None if sample_weight is None
               else np.random.default_rng(0).integers(1, 4, len(y)).astype(float))
    classes = np.unique(y)
    as_dict = dict(zip(classes.tolist(), compute_class_weight(
        "balanced", classes=classes, y=y, sample_weight=weights)))
    balanced = xpnn.MLPClassifier(class_weight="balanced", **FULL_BATCH).fit(
        X, y, sample_weight=weights)
    given = xpnn.MLPClassifier(class_weight=as_dict, **FULL_BATCH).fit(
        X, y, sample_weight=weights)
    assert_params_equal(balanced.params_, given.params_)


@pytest.mark.parametrize("class_weight", ["balanced", [{0: 1.0, 1: 3.0}, {0: 0.5, 1: 1.0}]],
                         ids=["balanced", "a dict per column"])
def test_multi_label_weighs_each_column_as_compute_sample_weight(rows, class_weight):
    X, labels = rows
    Y = np.stack([labels > 6, labels % 2 == 0], axis=1).astype(int)
    ours = xpnn.MLPClassifier(class_weight=class_weight, **FULL_BATCH).fit(X, Y)
    theirs = xpnn.MLPClassifier(**FULL_BATCH).fit(
        X, Y, sample_weight=compute_sample_weight(class_weight, Y))
    assert_params_equal(ours.params_, theirs.params_)


def test_class_names_and_integer_sample_weights(rows):
    """Keys are the labels as given (names too), and the class weight multiplies the
    sample weights: weight 2 on a row of class weight 3 counts as 6 repetitions."""
    X, labels = rows
    y = np.array(["cat", "dog", "emu"])[labels % 3]
    weights = np.random.default_rng(1).integers(1, 3, len(y))
    class_weight = {"cat": 1.0, "dog": 3.0, "emu": 1.0}
    repeats = weights * np.where(y == "dog", 3, 1)
    weighted = xpnn.MLPClassifier(class_weight=class_weight, **FULL_BATCH).fit(
        X, y, sample_weight=weights)
    repeated = xpnn.MLPClassifier(**FULL_BATCH).fit(np.repeat(X, repeats, axis=0),
                                                    np.repeat(y, repeats))
    assert_params_close(weighted.params_, repeated.params_, dtype="float64")


def test_none_is_the_default_and_changes_nothing(rows):
    X, labels = rows
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(labels))
    default = xpnn.MLPClassifier(**FULL_BATCH)
    assert default.get_params()["class_weight"] is None
    explicit = xpnn.MLPClassifier(class_weight=None, **FULL_BATCH)
    assert_params_equal(explicit.fit(X, labels, sample_weight=weights).params_,
                        default.fit(X, labels, sample_weight=weights).params_)
    assert "class_weight" not in xpnn.MLPRegressor().get_params()


def _message(fit):
    with pytest.raises(ValueError) as error:
        fit()
    return str(error.value)


def test_errors_are_scikit_learns(rows):
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    X, labels = rows
    y, Y = labels % 3, np.stack([labels > 4, labels % 2 == 0], axis=1).astype(int)
    for class_weight in ({0: 1.0, 3: 2.0}, {5: 1.0}):  # a class that is not in y
        ours = _message(lambda: xpnn.MLPClassifier(class_weight=class_weight).fit(X, y))
        theirs = _message(lambda: LogisticRegression(class_weight=class_weight).fit(X, y))
        assert ours == theirs and "are not in class_weight" in ours
    for class_weight in ({0: 1.0}, [{0: 1.0}] * 3):  # multi-label: a list, one per column
        ours = _message(lambda: xpnn.MLPClassifier(class_weight=class_weight).fit(X, Y))
        assert ours == _message(lambda: compute_sample_weight(class_weight, Y))
    ours = _message(lambda: xpnn.MLPClassifier(class_weight="balanced").partial_fit(
        X, y, classes=[0, 1, 2]))
    theirs = _message(lambda: SGDClassifier(class_weight="balanced").partial_fit(
        X, y, classes=[0, 1, 2]))
    assert ours == theirs
    with pytest.raises(ValueError, match="class_weight.*must be"):  # the parameter table
        xpnn.MLPClassifier(class_weight="even").fit(X, y)
    with pytest.raises(ValueError, match="list of dicts is for multi-label"):
        xpnn.MLPClassifier(class_weight=[{0: 1.0}]).fit(X, y)
    with pytest.raises(ValueError, match="finite and >= 0"):
        xpnn.MLPClassifier(class_weight={0: -1.0, 1: 1.0, 2: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="every row with weight 0"):
        xpnn.MLPClassifier(class_weight={0: 0.0, 1: 0.0, 2: 0.0}).fit(X, y)


def test_a_dict_works_with_partial_fit_and_every_class_counts(rows):
    X, labels = rows
    y = labels % 3
    clf = xpnn.MLPClassifier(class_weight={0: 1.0, 1: 2.0, 2: 1.0}, hidden_layer_sizes=(8,),
                             random_state=0)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2]).partial_fit(X[50:], y[50:])
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 2  # n_iter_: per call, as sklearn's
    plain = xpnn.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    plain.partial_fit(X[:50], y[:50], classes=[0, 1, 2]).partial_fit(X[50:], y[50:])
    assert not np.allclose(clf.coefs_[0], plain.coefs_[0])  # the weights reached the loss


def test_balanced_with_a_class_whose_rows_all_weigh_0(rows):
    """Its weighted count is 0: its weight would be inf, but its rows weigh 0 anyway."""
    X, labels = rows
    y = labels % 3
    weights = np.where(y == 2, 0.0, 1.0)
    clf = xpnn.MLPClassifier(class_weight="balanced", **FULL_BATCH).fit(
        X, y, sample_weight=weights)
    assert all(np.all(np.isfinite(coef)) for coef in clf.coefs_)


def test_a_parameter_clone_set_params_and_fixed_on_resume(rows, tmp_path):
    from xpnn.saving.checkpoint import load_model, save_model
    from xpnn.estimators.params import CHANGEABLE_ON_RESUME

    X, labels = rows
    y = np.array(["cat", "dog", "emu"])[labels % 3]
    clf = xpnn.MLPClassifier(class_weight={"cat": 2.0, "dog": 1.0, "emu": 1.0},
                             hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    assert clone(clf).class_weight == {"cat": 2.0, "dog": 1.0, "emu": 1.0}
    assert "class_weight" not in CHANGEABLE_ON_RESUME
    save_model(tmp_path / "m.safetensors", clf)
    loaded, _, _ = load_model(tmp_path / "m.safetensors")
    assert loaded.class_weight == clf.class_weight  # the labels as keys, not their text
    for model in (clf, loaded):
        model.set_params(max_iter=3).resume_fit(X, y)  # the same weights: fine
        model.set_params(max_iter=4, class_weight="balanced")
        with pytest.raises(ValueError, match="class_weight changed"):
            model.resume_fit(X, y)


def test_a_file_from_before_class_weight_loads(rows, tmp_path):
    from xpnn.saving.checkpoint import load_model, save_model
    from xpnn.files.checkpoint_io import load_checkpoint, save_checkpoint

    X, labels = rows
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, labels)
    save_model(tmp_path / "m.safetensors", clf)
    tensors, metadata = load_checkpoint(tmp_path / "m.safetensors")
    del metadata["hyperparameters"]["class_weight"]
    save_checkpoint(tmp_path / "old.safetensors", tensors, metadata)
    loaded, _, _ = load_model(tmp_path / "old.safetensors")
    assert loaded.class_weight is None
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


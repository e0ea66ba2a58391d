"""scikit-learn's outputs, side by side with scikit-learn itself: one logistic output for two
classes, one per label for multi-label y, a single class, the Poisson loss, the dtype that
follows X, and scikit-learn's errors for classes that change between calls."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.neural_network._base import binary_log_loss, poisson_loss

import xpnn
from xpnn.core import ops
from xpnn.backend.devices import numpy_backend

SETTINGS = dict(hidden_layer_sizes=(32,), max_iter=60, random_state=0, tol=0.0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _fit_both(X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached, on purpose
        ours = xpnn.MLPClassifier(**{**SETTINGS, **kwargs}).fit(X, y)
        theirs = SkMLPClassifier(**{**SETTINGS, **kwargs}).fit(X, y)
    return ours, theirs


@pytest.mark.parametrize("labels", ["integers", "names"])
def test_two_classes_have_one_logistic_output(digits, labels):
    X, y = digits
    y = (y > 4).astype(int) if labels == "integers" else np.where(y > 4, "high", "low")
    ours, theirs = _fit_both(X[:1200], y[:1200])
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    assert ours.n_outputs_ == theirs.n_outputs_ == 1
    assert ours.coefs_[-1].shape == theirs.coefs_[-1].shape == (32, 1)
    assert list(ours.classes_) == list(theirs.classes_)
    probs = ours.predict_proba(X[1200:])
    assert probs.shape == (len(X) - 1200, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert set(ours.predict(X[1200:])) <= set(ours.classes_)
    np.testing.assert_array_equal(ours.predict(X[1200:]),
                                  ours.classes_[np.argmax(probs, axis=1)])
    assert abs(ours.score(X[1200:], y[1200:]) - theirs.score(X[1200:], y[1200:])) < 0.03


def test_multi_label_y_trains_one_logistic_output_per_label(digits):
    X, y = digits
    Y = np.stack([y > 4, y % 2 == 0, y == 3], axis=1).astype(int)
    ours, theirs = _fit_both(X[:1200], Y[:1200])
    assert ours.out_activation_ == theirs.out_activation_ == "logistic"
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)  # 0..k-1
    predicted = ours.predict(X[1200:])
    assert predicted.shape == (len(X) - 1200, 3) and set(np.unique(predicted)) <= {0, 1}
    probs = ours.predict_proba(X[1200:])
    assert probs.shape == (len(X) - 1200, 3)
    np.testing.assert_array_equal(predicted, (probs > 0.5).astype(int))
    # scikit-learn's score is the subset accuracy: every label of a row right
    assert abs(ours.score(X[1200:], Y[1200:]) - theirs.score(X[1200:], Y[1200:])) < 0.05
    model = xpnn.MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        model.partial_fit(X[:300], Y[:300])  # as scikit-learn, even for multi-label y
    model.partial_fit(X[:300], Y[:300], classes=[0, 1, 2])
    model.partial_fit(X[300:600], Y[300:600])
    assert model.n_iter_ == 1 and len(model.loss_curve_) == 2 and list(model.classes_) == [0, 1, 2]
    # early stopping holds out validation_fraction of the rows (not stratified: scikit-learn's
    # rule for multi-label y), even when most label sets are unique
    many = (np.random.default_rng(0).random((200, 20)) > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stopped = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, early_stopping=True,
                                     n_iter_no_change=100).fit(X[:200], many)
    assert len(stopped.validation_scores_) == 3


def test_a_single_class_fits_and_predicts_it_as_scikit_learn(digits):
    X, y = digits[0][:50], np.full(50, 7)
    ours, theirs = _fit_both(X, y, max_iter=5)
    assert list(ours.classes_) == list(theirs.classes_) == [7]
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape


def test_the_losses_are_scikit_learns():
    """The binary log-loss and half Poisson deviance against scikit-learn's own functions."""
    xp, rng = numpy_backend().xp, np.random.default_rng(0)
    logits, weights = rng.normal(0, 3, (40, 3)), rng.uniform(0.1, 2.0, 40)
    labels = rng.integers(0, 2, (40, 3)).astype(float)
    counts = rng.poisson(3.0, (40, 3)).astype(float)
    for w in (None, weights):
        np.testing.assert_allclose(ops.binary_cross_entropy(logits, labels, xp, w),
                                   binary_log_loss(labels, ops.logistic(logits, xp), w),
                                   rtol=1e-12)
        np.testing.assert_allclose(ops.half_poisson_deviance(logits, counts, xp, w),
                                   poisson_loss(counts, np.exp(logits), w), rtol=1e-12)


def test_poisson_regression_as_scikit_learn():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = y / 100.0  # rates > 0
    kwargs = dict(loss="poisson", hidden_layer_sizes=(16,), max_iter=300, random_state=0,
                  learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = xpnn.MLPRegressor(**kwargs).fit(X[:350], y[:350])
        theirs = SkMLPRegressor(**kwargs).fit(X[:350], y[:350])
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    assert np.all(ours.predict(X[350:]) > 0)
    assert abs(ours.score(X[350:], y[350:]) - theirs.score(X[350:], y[350:])) < 0.1
    with pytest.raises(ValueError, match="Some value\\(s\\) of y are negative which is not "
                                         "allowed for Poisson regression"):
        xpnn.MLPRegressor(loss="poisson").fit(X, y - 1.0)


@pytest.mark.parametrize("X_dtype, given, expected", [
    ("float32", None, "float32"), ("float64", None, "float64"), ("int64", None, "float64"),
    ("float64", "float32", "float32"), ("float32", "float64", "float64")])
def test_the_dtype_follows_X_unless_given(digits, X_dtype, given, expected):
    X, y = digits
    X = (X * 16).astype(X_dtype) if X_dtype == "int64" else X.astype(X_dtype)
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, dtype=given).fit(X, y)
    reg = xpnn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, dtype=given).fit(X, y * 1.0)
    for model in (clf, reg):
        assert model.dtype_ == expected
        assert all(coef.dtype == np.dtype(expected) for coef in model.coefs_)
    assert clf.predict_proba(X[:3]).dtype == np.dtype(expected)
    assert reg.predict(X[:3]).dtype == np.dtype(expected)


def test_classes_that_change_between_calls_are_scikit_learns_errors(digits):
    X, y = digits
    for ours in (xpnn.MLPClassifier(hidden_layer_sizes=(8,)),
                 SkMLPClassifier(hidden_layer_sizes=(8,))):
        ours.partial_fit(X[:100], y[:100], classes=np.arange(10))
        with pytest.raises(ValueError, match="is not the same as on last call to partial_fit"):
            ours.partial_fit(X[:100], y[:100], classes=np.arange(11))
        with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
            ours.partial_fit(X[:100], y[:100] + 5)
    for ours in (xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, warm_start=True),
                 SkMLPClassifier(hidden_layer_sizes=(8,), max_iter=2, warm_start=True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours.fit(X[:200], y[:200])
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the "
                                             "same classes as in the previous call to fit"):
            ours.fit(X[:200], np.where(y[:200] == 9, 8, y[:200]))


def test_binary_multilabel_and_poisson_models_round_trip_through_a_file(digits, tmp_path):
    from xpnn.saving.checkpoint import load_model, save_model

    X, y = digits
    models = [
        xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3).fit(X, np.where(y > 4, "a", "b")),
        xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3).fit(
            X, np.stack([y > 4, y % 2 == 0], axis=1).astype(int)),
        xpnn.MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=3).fit(X, y),
        xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3).fit(X.astype(np.float32), y),
    ]
    for index, model in enumerate(models):
        save_model(tmp_path / f"{index}.safetensors", model)
        loaded, _, _ = load_model(tmp_path / f"{index}.safetensors")
        assert loaded.out_activation_ == model.out_activation_
        assert loaded.dtype_ == model.dtype_
        np.testing.assert_array_equal(loaded.predict(X[:50]), model.predict(X[:50]))


def test_sparse_label_indicators_and_a_pickled_regressor(digits):
    import pickle

    import scipy.sparse

    X, y = digits
    Y = np.stack([y > 4, y % 2 == 0], axis=1).astype(int)
    sparse_y = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    dense_y = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sparse_y.fit(X, scipy.sparse.csr_matrix(Y))
        dense_y.fit(X, Y)
    np.testing.assert_array_equal(sparse_y.predict(X[:20]), dense_y.predict(X[:20]))
    regressor = xpnn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=2).fit(X, y * 1.0)
    copy = pickle.loads(pickle.dumps(regressor))
    assert copy.get_params()["loss"] == "squared_error"
    np.testing.assert_array_equal(copy.predict(X[:5]), regressor.predict(X[:5]))

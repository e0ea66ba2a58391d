"""xpnn's estimators as scikit-learn estimators: its own checks, its tools, its data types.

scikit-learn's ``parametrize_with_checks`` runs every check of ``check_estimator`` (and,
because the estimators declare ``array_api_support``, the array API checks on every
installed namespace) over both estimators in three configurations: the defaults (float32,
Adam, minibatches), float64, and full-batch L-BFGS in float64.
"""
import pickle
import warnings

import numpy as np
import pytest
from conftest import gpu_skip_reason
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import xpnn
from xpnn.backend.devices import as_host_array

def _expected_failures(estimator):
    """L-BFGS fits the multi-label check's data so well that some probabilities round to
    exactly 1.0 in float64, which the check's strict 0 < p < 1 refuses: scikit-learn's own
    MLPClassifier(solver="lbfgs") fails it the same way (tested below)."""
    if isinstance(estimator, xpnn.MLPClassifier) and estimator.solver == "lbfgs":
        return {"check_classifiers_multilabel_output_format_predict_proba":
                "probabilities of exactly 1.0 after L-BFGS, as scikit-learn's own MLP"}
    return {}


# every check at default settings (the multi-label ones too: classifier_tags.multi_label,
# as scikit-learn's MLP): the dtype follows X as scikit-learn's (float64 for the checks'
# data), binary y has one logistic output
@parametrize_with_checks(
    [xpnn.MLPClassifier(), xpnn.MLPRegressor(), xpnn.MLPClassifier(solver="lbfgs"),
     xpnn.MLPRegressor(solver="lbfgs")], expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    if getattr(check, "keywords", {}).get("array_namespace") == "cupy" and gpu_skip_reason():
        pytest.skip(gpu_skip_reason())  # CuPy imports without a GPU; its arrays do not
    check(estimator)


def test_the_expected_failure_is_scikit_learns_own_and_the_tag_is_its_tag():
    from sklearn.neural_network import MLPClassifier
    from sklearn.utils.estimator_checks import (
        check_classifiers_multilabel_output_format_predict_proba as check)

    assert xpnn.MLPClassifier().__sklearn_tags__().classifier_tags.multi_label
    assert MLPClassifier().__sklearn_tags__().classifier_tags.multi_label
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError, match="between 0 and 1"):
            check("MLPClassifier", MLPClassifier(solver="lbfgs"))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def test_digits_accuracy_within_a_point_of_scikit_learns_mlp(digits):
    from sklearn.neural_network import MLPClassifier

    X_train, X_test, y_train, y_test = digits
    params = dict(hidden_layer_sizes=(64,), max_iter=60, random_state=0)
    ours = xpnn.MLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    theirs = MLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    assert ours > 0.95 and abs(ours - theirs) <= 0.01, (ours, theirs)


def test_diabetes_r2_within_003_of_scikit_learns_mlp(diabetes):
    """Mean test R^2 over three seeds, both on standardized inputs and targets."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor

    X_train, X_test, y_train, y_test = diabetes
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", alpha=10.0, max_iter=200)

    def mean_r2(make):
        scores = []
        for seed in range(3):
            model = TransformedTargetRegressor(
                make_pipeline(StandardScaler(), make(random_state=seed, **params)),
                transformer=StandardScaler())
            scores.append(model.fit(X_train, y_train).score(X_test, y_test))
        return float(np.mean(scores))

    ours = mean_r2(lambda **kw: xpnn.MLPRegressor(dtype="float64", **kw))
    theirs = mean_r2(MLPRegressor)
    assert ours > 0.3 and abs(ours - theirs) <= 0.03, (ours, theirs)


def test_clone_repr_and_params_round_trip():
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(7, 3), solver="sgd", device="cpu")
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy is not clf
    assert repr(clf) == ("MLPClassifier(device='cpu', hidden_layer_sizes=(7, 3), "
                         "solver='sgd')")
    with pytest.raises(ValueError, match="activation"):
        xpnn.MLPClassifier(activation="swish").fit([[0.0], [1.0]], [0, 1])


def test_pipeline_grid_search_and_cross_validation(digits):
    X_train, _, y_train, _ = digits
    pipe = make_pipeline(StandardScaler(), xpnn.MLPClassifier(max_iter=30, random_state=0))
    scores = cross_val_score(pipe, X_train, y_train, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9
    search = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(8,), (64,)]}, cv=2)
    search.fit(X_train, y_train)
    assert search.best_params_ == {"mlpclassifier__hidden_layer_sizes": (64,)}


def test_lists_pandas_and_polars_with_feature_names(digits):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    X_train, X_test, y_train, _ = digits
    names = [f"pixel{i}" for i in range(64)]
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    reference = xpnn.MLPClassifier(**kwargs).fit(X_train, y_train).predict_proba(X_test)
    from_lists = xpnn.MLPClassifier(**kwargs).fit(X_train.tolist(), y_train.tolist())
    np.testing.assert_allclose(from_lists.predict_proba(X_test.tolist()), reference)
    for frame in (pd.DataFrame, lambda a, columns: pl.DataFrame(a, schema=columns)):
        model = xpnn.MLPClassifier(**kwargs).fit(frame(X_train, columns=names),
                                                 pd.Series(y_train))
        assert list(model.feature_names_in_) == names
        np.testing.assert_allclose(model.predict_proba(frame(X_test, columns=names)), reference)
        with pytest.raises(ValueError, match="feature names"):
            model.predict(frame(X_test, columns=names[::-1]))


def test_sparse_inputs_train_like_their_dense_copy(digits):
    import scipy.sparse

    X_train, X_test, y_train, _ = digits
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, dtype="float64")
    dense = xpnn.MLPClassifier(**kwargs).fit(X_train, y_train)
    for kind in (scipy.sparse.csr_matrix, scipy.sparse.csc_array):
        sparse = xpnn.MLPClassifier(**kwargs).fit(kind(X_train), y_train)
        np.testing.assert_allclose(sparse.predict_proba(kind(X_test)),
                                   dense.predict_proba(X_test), rtol=1e-10)


def test_integer_sample_weight_equals_repeating_rows(digits):
    """Full batch, float64: a weight of k is the row repeated k times, exactly."""
    X_train, X_test, y_train, _ = digits
    X, y = X_train[:200], y_train[:200]
    weights = np.random.default_rng(0).integers(0, 4, len(y))
    kwargs = dict(hidden_layer_sizes=(16,), batch_size="full", max_iter=20, random_state=0,
                  dtype="float64", n_iter_no_change=np.inf)
    weighted = xpnn.MLPClassifier(**kwargs).fit(X, y, sample_weight=weights)
    repeated = xpnn.MLPClassifier(**kwargs).fit(np.repeat(X, weights, axis=0),
                                                np.repeat(y, weights))
    np.testing.assert_allclose(weighted.predict_proba(X_test), repeated.predict_proba(X_test),
                               rtol=1e-9)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-10)


def test_pickle_and_joblib_round_trip(digits, tmp_path):
    import joblib

    X_train, X_test, y_train, _ = digits
    for model in (xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0),
                  xpnn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)):
        model.fit(X_train, y_train)
        restored = pickle.loads(pickle.dumps(model))
        np.testing.assert_array_equal(restored.predict(X_test), model.predict(X_test))
        joblib.dump(model, tmp_path / "m.joblib")
        np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict(X_test),
                                      model.predict(X_test))


def test_save_and_load_both_estimators(digits, tmp_path):
    from xpnn.saving.checkpoint import load_model, save_model

    X_train, X_test, y_train, _ = digits
    targets = np.stack([y_train / 9.0, X_train[:, 20]], axis=1)  # two outputs
    for model, y in ((xpnn.MLPClassifier(activation="tanh"), y_train),
                     (xpnn.MLPRegressor(activation="logistic"), targets)):
        model.set_params(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
        model.fit(X_train, y)
        save_model(tmp_path / "m.safetensors", model)
        loaded, _, _ = load_model(tmp_path / "m.safetensors")
        assert type(loaded) is type(model) and loaded.get_params() == {
            **model.get_params(), "device": "cpu", "hidden_layer_sizes": [8]}
        np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))
        assert loaded.n_iter_ == model.n_iter_ and loaded.loss_curve_ == model.loss_curve_


def test_regressor_single_and_multi_output(diabetes):
    X_train, X_test, y_train, y_test = diabetes
    X_train, X_test = StandardScaler().fit(X_train).transform(X_train), X_test
    single = xpnn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    assert single.fit(X_train, y_train).predict(X_train).shape == (len(y_train),)
    assert single.n_outputs_ == 1 and single.out_activation_ == "identity"
    Y = np.stack([y_train, -y_train, 2 * y_train], axis=1)
    multi = xpnn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X_train, Y)
    assert multi.predict(X_train).shape == (len(y_train), 3) and multi.n_outputs_ == 3
    assert isinstance(multi.score(X_train, Y), float)


def test_fitted_attributes_as_scikit_learn_names_them(digits):
    X_train, _, y_train, _ = digits
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=4, random_state=0,
                             n_iter_no_change=np.inf).fit(X_train, y_train)
    assert [w.shape for w in clf.coefs_] == [(64, 16), (16, 8), (8, 10)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (8,), (10,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 10 and clf.out_activation_ == "softmax"
    assert clf.n_iter_ == 4 and clf.t_ == 4 * len(y_train) and len(clf.loss_curve_) == 4
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert list(clf.classes_) == list(range(10)) and clf.n_features_in_ == 64
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X_train[:5])),
                               clf.predict_proba(X_train[:5]), rtol=1e-6)


NAMESPACES = ["array_api_strict", "torch"]


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_array_api_dispatch_keeps_the_namespace_end_to_end(namespace, digits):
    """With scikit-learn's dispatch on, a Pipeline, GridSearchCV and cross_val_score run on
    the namespace's arrays: the scaler's and our outputs stay in it."""
    from conftest import make_backend

    backend = make_backend(namespace)
    X_train, _, y_train, _ = digits
    X = backend.asarray(X_train[:300], "float64")
    y = backend.asarray(y_train[:300])
    with config_context(array_api_dispatch=True):
        pipe = make_pipeline(StandardScaler(), xpnn.MLPClassifier(
            hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=1e-2, random_state=0))
        pipe.fit(X, y)
        for output in (pipe.predict(X), pipe.predict_proba(X)):
            assert type(output) is type(X)
        assert type(pipe[-1].coefs_[0]) is type(X)
        assert pipe.score(X, y) > 0.8
        if namespace == "torch":  # array-api-strict refuses scikit-learn's NumPy indices
            scores = cross_val_score(pipe, X, y, cv=3)
            assert scores.min() > 0.6
            search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
            assert type(search.predict(X)) is type(X)
        with pytest.raises(ValueError, match="must use the same namespace"):
            pipe[-1].predict(as_host_array(X))


def test_scikit_learns_own_mlp_cannot_do_that(digits):
    """The comparison the README makes: scikit-learn's MLP declares no array API support."""
    from sklearn.neural_network import MLPClassifier

    assert not MLPClassifier().__sklearn_tags__().array_api_support
    assert xpnn.MLPClassifier().__sklearn_tags__().array_api_support


def test_validation_r2_is_scikit_learns_also_for_constant_outputs():
    from sklearn.metrics import r2_score

    from xpnn.core.heads import SquaredErrorIdentity

    y = np.array([[1.0, 0.0, 5.0], [2.0, 0.0, 5.0], [3.0, 0.0, 5.0], [5.0, 0.0, 5.0]])
    predicted = y + np.array([[0.5, 1.0, 0.0], [-0.2, 1.0, 0.0], [0.1, 1.0, 0.0],
                              [0.0, 1.0, 0.0]])  # output 2 wrong, output 3 exact
    finish = SquaredErrorIdentity.score_context(y, None)
    assert finish(np.sum((predicted - y) ** 2, axis=0)) == pytest.approx(r2_score(y, predicted))


def test_float_and_bool_class_labels_save_and_load(digits, tmp_path):
    from xpnn.saving.checkpoint import load_model, save_model

    X_train, X_test, y_train, _ = digits
    for labels in (y_train.astype(float), y_train > 4):
        model = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
        model.fit(X_train, labels)
        save_model(tmp_path / "m.safetensors", model)
        loaded, _, _ = load_model(tmp_path / "m.safetensors")
        assert loaded.classes_.dtype == model.classes_.dtype
        np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))

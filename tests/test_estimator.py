"""The library API: fit/predict on any namespace, outputs stay where the inputs live."""
import numpy as np
import pytest

import xpnn
from assertions import assert_array_close
from conftest import backend_params, make_backend


@pytest.mark.parametrize("name", backend_params(("array_api_strict", "torch", "jax", "cupy")))
def test_outputs_stay_in_the_callers_namespace_and_device(name, digits_data):
    backend = make_backend(name)
    X_host, y_host = digits_data
    X = backend.asarray(X_host[:600], dtype="float32")
    y = backend.asarray(y_host[:600])
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3).fit(X, y)
    for value in clf.params_.values():
        assert type(value) is type(X) and str(value.device) == str(X.device)
    for output in (clf.predict(X), clf.predict_proba(X)):
        assert type(output) is type(X) and str(output.device) == str(X.device)
    assert clf.predict_proba(X).dtype == backend.xp.float32
    assert 0.0 <= clf.score(X, y) <= 1.0


def test_same_fit_on_numpy_and_torch_gives_the_same_predictions(digits_data):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    X, y = digits_data
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=3, dtype="float64", random_state=0)
    ref = xpnn.MLPClassifier(**kwargs).fit(X, y)
    other = xpnn.MLPClassifier(**kwargs).fit(torch.asarray(X), torch.asarray(y))
    assert_array_close(other.predict_proba(torch.asarray(X)), ref.predict_proba(X),
                       rtol=1e-9, atol=1e-12)


def test_device_cpu_moves_foreign_inputs_and_returns_them_home(digits_data):
    import array_api_strict

    X_host, y_host = digits_data
    X, y = array_api_strict.asarray(X_host[:300]), array_api_strict.asarray(y_host[:300])
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, device="cpu").fit(X, y)
    assert isinstance(clf.params_["w1"], np.ndarray)  # trained with NumPy
    assert type(clf.predict(X)) is type(X)  # answered in the caller's namespace


def test_arbitrary_class_labels_round_trip(digits_data):
    X, y = digits_data
    labels = np.array([10, 20, 30])[y[:400] % 3]
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=5).fit(X[:400], labels)
    assert set(np.unique(clf.predict(X[:400]))) <= {10, 20, 30}
    with pytest.raises(ValueError, match="not one of the model's classes"):
        clf.evaluate(X[:5], np.array([10, 20, 30, 40, 10]))


@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("bad", ["nan", "shape", "rows", "features"])
def test_bad_inputs_are_clear_errors(bad, namespace, digits_data):
    """The same ValueErrors (scikit-learn's words) on the NumPy path and on a device namespace."""
    from conftest import make_backend

    X, y = digits_data[0][:50].copy(), digits_data[1][:50]
    to = (lambda a: a) if namespace == "numpy" else make_backend(namespace).asarray
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1)
    if bad == "nan":
        X[3, 2] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            clf.fit(to(X), y)
    elif bad == "shape":
        with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
            clf.fit(to(X[0]), y)
    elif bad == "rows":
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            clf.fit(to(X), y[:-1])
    else:
        clf.fit(to(X), y)
        with pytest.raises(ValueError, match="X has 10 features, but MLPClassifier is "
                                             "expecting 64 features"):
            clf.predict(to(X[:, :10]))


def test_y_and_sample_weight_follow_x_from_any_namespace(digits_data):
    """As scikit-learn's array API rule: everything follows X. y and sample_weight from
    another library move to X's namespace and device; outputs are in X's namespace."""
    import array_api_strict

    torch = pytest.importorskip("torch", reason="torch is not installed")
    X, y = digits_data
    X_strict = array_api_strict.asarray(X)
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, dtype="float64")
    mixed = xpnn.MLPClassifier(**kwargs).fit(X_strict, torch.asarray(y),
                                             sample_weight=torch.ones(len(y)))
    same = xpnn.MLPClassifier(**kwargs).fit(X_strict, array_api_strict.asarray(y))
    assert type(mixed.predict(X_strict)) is type(X_strict)
    assert_array_close(mixed.predict_proba(X_strict), same.predict_proba(X_strict),
                       rtol=1e-12)


def test_runs_on_the_2023_12_standard_without_scalar_arguments(digits_data):
    """array-api-strict at 2023.12 refuses Python scalars as function arguments."""
    import array_api_strict

    X, y = digits_data
    array_api_strict.set_array_api_strict_flags(api_version="2023.12")
    try:
        clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1).fit(
            array_api_strict.asarray(X[:200], dtype=array_api_strict.float32),
            array_api_strict.asarray(y[:200]))
        assert clf.predict_proba(array_api_strict.asarray(
            X[:5], dtype=array_api_strict.float32)).shape == (5, 10)
    finally:
        array_api_strict.reset_array_api_strict_flags()


def test_resume_fit_refuses_settings_that_would_change_the_fitted_model(tmp_path, digits_data):
    """CHANGEABLE_ON_RESUME is the library's rule, enforced by resume_fit itself (fitted or
    loaded models); fit still trains anew with any settings."""
    from xpnn.saving.checkpoint import load_model, save_model
    from xpnn.estimators.params import CHANGEABLE_ON_RESUME

    X, y = digits_data[0][:300], digits_data[1][:300]
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    save_model(tmp_path / "m.safetensors", clf)
    loaded, _, _ = load_model(tmp_path / "m.safetensors")
    assert {"max_iter", "early_stopping", "n_iter_no_change", "tol"} <= CHANGEABLE_ON_RESUME
    for model in (clf, loaded):
        model.set_params(max_iter=3, tol=1e-3)  # changeable: fine
        model.resume_fit(X, y)
        assert model.n_iter_ == 3
        model.set_params(max_iter=4, learning_rate_init=0.1, batch_size=16)
        with pytest.raises(ValueError, match="batch_size, learning_rate_init changed"):
            model.resume_fit(X, y)
        assert model.n_iter_ == 3  # nothing trained
        model.fit(X, y)  # a new fit takes the new settings
        assert model.n_iter_ == 4

"""The library API: fit/predict on any namespace, outputs stay where the inputs live."""
import numpy as np
import pytest

import xpnn
from xpnn.backend import as_host_array
from conftest import backend_params, make_backend


@pytest.mark.parametrize("name", backend_params(("array_api_strict", "torch", "jax", "cupy")))
def test_outputs_stay_in_the_callers_namespace_and_device(name, digits_data):
    backend = make_backend(name)
    X_host, y_host = digits_data
    X = backend.asarray(X_host[:600], dtype="float32")
    y = backend.asarray(y_host[:600])
    clf = xpnn.MLPClassifier(hidden=(16,), epochs=3).fit(X, y)
    for value in clf.params_.values():
        assert type(value) is type(X) and str(value.device) == str(X.device)
    for output in (clf.predict(X), clf.predict_proba(X)):
        assert type(output) is type(X) and str(output.device) == str(X.device)
    assert clf.predict_proba(X).dtype == backend.xp.float32
    assert 0.0 <= clf.score(X, y) <= 1.0


def test_same_fit_on_numpy_and_torch_gives_the_same_predictions(digits_data):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    X, y = digits_data
    ref = xpnn.MLPClassifier(hidden=(16,), epochs=3, dtype="float64").fit(X, y)
    other = xpnn.MLPClassifier(hidden=(16,), epochs=3, dtype="float64").fit(
        torch.asarray(X), torch.asarray(y))
    np.testing.assert_allclose(as_host_array(other.predict_proba(torch.asarray(X))),
                               ref.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_device_cpu_moves_foreign_inputs_and_returns_them_home(digits_data):
    import array_api_strict

    X_host, y_host = digits_data
    X, y = array_api_strict.asarray(X_host[:300]), array_api_strict.asarray(y_host[:300])
    clf = xpnn.MLPClassifier(hidden=(8,), epochs=1, device="cpu").fit(X, y)
    assert isinstance(clf.params_["w1"], np.ndarray)  # trained with NumPy
    assert type(clf.predict(X)) is type(X)  # answered in the caller's namespace


def test_arbitrary_class_labels_round_trip(digits_data):
    X, y = digits_data
    labels = np.array([10, 20, 30])[y[:400] % 3]
    clf = xpnn.MLPClassifier(hidden=(16,), epochs=5).fit(X[:400], labels)
    assert set(np.unique(clf.predict(X[:400]))) <= {10, 20, 30}
    with pytest.raises(xpnn.XpnnDataError, match="not one of the model's classes"):
        clf.evaluate(X[:5], np.array([10, 20, 30, 40, 10]))


@pytest.mark.parametrize("bad", ["nan", "shape", "rows", "one-class", "features"])
def test_bad_inputs_are_clear_errors(bad, digits_data):
    X, y = digits_data[0][:50].copy(), digits_data[1][:50]
    clf = xpnn.MLPClassifier(hidden=(4,), epochs=1)
    if bad == "nan":
        X[3, 2] = np.nan
        with pytest.raises(xpnn.XpnnDataError, match="NaN"):
            clf.fit(X, y)
    elif bad == "shape":
        with pytest.raises(xpnn.XpnnDataError, match="2-D"):
            clf.fit(X[0], y)
    elif bad == "rows":
        with pytest.raises(xpnn.XpnnDataError, match="one label per row"):
            clf.fit(X, y[:-1])
    elif bad == "one-class":
        with pytest.raises(xpnn.XpnnDataError, match="single class"):
            clf.fit(X, np.zeros(50, dtype=np.int64))
    else:
        clf.fit(X, y)
        with pytest.raises(xpnn.XpnnDataError, match=r"expects \(n, 64\)"):
            clf.predict(X[:, :10])


def test_mixed_namespaces_are_refused(digits_data):
    """X and y from two device libraries are refused; labels as NumPy/list go with any X
    (they are encoded on the host, where class names live)."""
    import array_api_strict

    torch = pytest.importorskip("torch", reason="torch is not installed")
    X, y = digits_data
    with pytest.raises(xpnn.XpnnDeviceError, match="different array libraries"):
        xpnn.MLPClassifier(epochs=1).fit(array_api_strict.asarray(X), torch.asarray(y))
    clf = xpnn.MLPClassifier(hidden=(4,), epochs=1).fit(array_api_strict.asarray(X), y)
    assert isinstance(clf.predict(array_api_strict.asarray(X)), type(array_api_strict.asarray(X)))


def test_runs_on_the_2023_12_standard_without_scalar_arguments(digits_data):
    """array-api-strict at 2023.12 refuses Python scalars as function arguments."""
    import array_api_strict

    X, y = digits_data
    array_api_strict.set_array_api_strict_flags(api_version="2023.12")
    try:
        clf = xpnn.MLPClassifier(hidden=(8,), epochs=1).fit(
            array_api_strict.asarray(X[:200], dtype=array_api_strict.float32),
            array_api_strict.asarray(y[:200]))
        assert clf.predict_proba(array_api_strict.asarray(
            X[:5], dtype=array_api_strict.float32)).shape == (5, 10)
    finally:
        array_api_strict.reset_array_api_strict_flags()

"""What today's code reads and computes, held to files written before the modules moved.

tests/fixtures/ was written by xpnn while its modules lay flat in xpnn/ (make_fixtures.py):
a pickle and a skops file of a fitted classifier and regressor (they name the module paths
``xpnn.estimator`` and ``xpnn.train_state``), and the weights of four small fixed-seed
NumPy fits. Old files must still load and predict the same; a refactoring must not move a weight
by one bit, on the fast paths or the reference.
"""
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import xpnn

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from make_fixtures import FITS, data, fitted  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAVED = ("adam_l2", "regressor")


@pytest.mark.parametrize("kernels", ["auto", "reference"])
@pytest.mark.parametrize("name", list(FITS))
def test_a_fixed_seed_fit_gives_the_weights_written_before_the_move(name, kernels):
    expected = np.load(FIXTURES / "fit_weights.npz")
    with xpnn.config_context(kernels=kernels):
        model = fitted(name)
    for layer, (w, b) in enumerate(zip(model.coefs_, model.intercepts_), start=1):
        np.testing.assert_array_equal(w, expected[f"{name}/w{layer}"])
        np.testing.assert_array_equal(b, expected[f"{name}/b{layer}"])


def _predictions_equal(model, name):
    expected = np.load(FIXTURES / "saved_predictions.npz")
    X, _ = data(FITS[name][2])
    np.testing.assert_array_equal(model.predict(X), expected[f"{name}/predict"])
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(model.predict_proba(X), expected[f"{name}/predict_proba"])


@pytest.mark.parametrize("name", SAVED)
def test_a_pickle_written_before_the_move_loads_and_predicts_the_same(name):
    with open(FIXTURES / f"{name}.pkl", "rb") as file:
        model = pickle.load(file)
    assert type(model) is getattr(xpnn, FITS[name][0])
    _predictions_equal(model, name)
    again = pickle.loads(pickle.dumps(model))  # and a pickle written today names today's paths
    _predictions_equal(again, name)


@pytest.mark.parametrize("name", SAVED)
def test_a_skops_file_written_before_the_move_loads_and_predicts_the_same(name):
    skops_io = pytest.importorskip("skops.io")
    path = FIXTURES / f"{name}.skops"
    untrusted = skops_io.get_untrusted_types(file=path)
    assert untrusted == sorted([f"xpnn.estimator.{FITS[name][0]}", "xpnn.train_state.TrainState"])
    model = skops_io.load(path, trusted=untrusted)
    assert type(model) is getattr(xpnn, FITS[name][0])
    _predictions_equal(model, name)

"""Each fast path gives the reference's result: the NumPy step kernel, bit for bit.

The same seeded fit runs twice, once with the backend's kernel and once with it switched off
(the array-API reference code), over every activation, both heads, every optimizer, row
weights, the L2 term, float32 and float64, and a last batch of another size; the kernel's
optimizer update both ways: numba's one-pass loop (xpnn[fast]) and NumPy in place.
"""
import numpy as np
import pytest

import xpnn
from xpnn.backend import Backend, numpy_backend
from xpnn.kernels.numpy_step import NumpyStep
from xpnn.optim import state_arrays
from assertions import assert_params_equal

CASES = {
    "relu adam float32": dict(activation="relu", solver="adam"),
    "tanh adamw float64": dict(activation="tanh", solver="adamw", weight_decay=1e-2,
                               dtype="float64"),
    "logistic nesterov": dict(activation="logistic", solver="sgd", learning_rate_init=0.05),
    "identity momentum": dict(activation="identity", solver="sgd", nesterovs_momentum=False,
                              learning_rate_init=0.01),
    "relu plain sgd, invscaling": dict(solver="sgd", momentum=0.0, learning_rate="invscaling",
                                       learning_rate_init=0.1),
    "relu adam, no L2": dict(alpha=0.0),
}


def _fit(monkeypatch, estimator, X, y, weights, use_kernel, fused_update=True):
    from xpnn.kernels import fused

    monkeypatch.undo()
    if not use_kernel:
        monkeypatch.setattr(Backend, "step_kernel", lambda self, spec, optimizer: None)
    elif not fused_update:
        monkeypatch.setattr(fused, "available", lambda: False)
    estimator.fit(X, y, sample_weight=weights)
    arrays = {**estimator.params_, **state_arrays(estimator.state_.opt_state)}
    return {k: np.array(v, copy=True) for k, v in arrays.items()}, estimator.loss_curve_


def _numba_or_skip(fused_update):
    from xpnn.kernels import fused

    if fused_update and not fused.available():
        pytest.skip("numba is not installed (pip install 'xpnn[fast]')")


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("fused_update", [True, False], ids=["numba-update", "numpy-update"])
def test_numpy_kernel_is_bit_identical_to_the_reference(monkeypatch, digits_data, case, kind,
                                                         weighted, fused_update):
    X, y = digits_data
    X, y = X[:700], y[:700]  # batch 64: ten full batches and one of 60
    weights = np.random.default_rng(1).uniform(0.2, 3.0, len(y)) if weighted else None
    options = {**dict(hidden_layer_sizes=(24, 12), max_iter=3, batch_size=64, random_state=0,
                      alpha=1e-3, n_iter_no_change=np.inf), **CASES[case]}
    if kind == "classifier":
        make, target = xpnn.MLPClassifier, y
    else:
        make, target = xpnn.MLPRegressor, np.stack([y / 9.0, X[:, 20]], axis=1)
    _numba_or_skip(fused_update)
    fast, fast_losses = _fit(monkeypatch, make(**options), X, target, weights, True,
                             fused_update)
    reference, ref_losses = _fit(monkeypatch, make(**options), X, target, weights, False)
    assert fast_losses == ref_losses
    assert_params_equal(fast, reference)


def test_the_kernel_is_used_and_reuses_its_buffers(digits_data):
    X, y = digits_data
    kernel = numpy_backend().step_kernel(xpnn.MLPClassifier()._spec(),
                                         xpnn.MLPClassifier()._optimizer())
    assert isinstance(kernel, NumpyStep)
    calls = []
    original = NumpyStep.forward

    def counting(self, *args):
        calls.append(len(self.buffers))
        return original(self, *args)

    NumpyStep.forward = counting
    try:
        xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, batch_size=100,
                           random_state=0).fit(X[:1000], y[:1000])
    finally:
        NumpyStep.forward = original
    assert len(calls) == 30
    assert calls[1] > 0 and calls[-1] == calls[1]  # allocated in the first step, then reused


def test_other_namespaces_and_unsupported_settings_use_the_reference():
    from conftest import make_backend

    spec, adam = xpnn.MLPClassifier()._spec(), xpnn.MLPClassifier()._optimizer()
    assert make_backend("array_api_strict").step_kernel(spec, adam) is None
    from xpnn.optim import Adam

    coupled = Adam(weight_decay=0.1, decoupled=False)  # not reachable from the estimators
    assert numpy_backend().step_kernel(spec, coupled) is None

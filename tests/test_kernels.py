"""Each fast path gives the reference's result: the NumPy step kernel, bit for bit.

The same seeded fit runs twice, once with the backend's kernel and once with it switched off
(the array-API reference code), over every activation, both heads, every optimizer, row
weights, the L2 term, dropout masks, float32 and float64, and a last batch of another size;
the kernel's optimizer update both ways: numba's one-pass loop (xpnn[fast]) and NumPy in
place.
"""
import numpy as np
import pytest

import xpnn
from xpnn import kernels
from xpnn.backend.devices import numpy_backend
from xpnn.kernels import ReferenceStep
from xpnn.kernels.numpy_step import NumpyStep
from xpnn.core.mlp import MLPSpec
from xpnn.core.optim import make_optimizer, state_arrays
from assertions import assert_params_equal

CASES = {
    "relu adam float32": dict(activation="relu", solver="adam", dtype="float32"),
    "tanh adamw float64": dict(activation="tanh", solver="adamw", weight_decay=1e-2,
                               dtype="float64"),
    "logistic nesterov": dict(activation="logistic", solver="sgd", learning_rate_init=0.05,
                              dtype="float32"),
    "identity momentum": dict(activation="identity", solver="sgd", nesterovs_momentum=False,
                              learning_rate_init=0.01, dtype="float32"),
    "relu plain sgd, invscaling": dict(solver="sgd", momentum=0.0, learning_rate="invscaling",
                                       learning_rate_init=0.1, dtype="float32"),
    "relu adam, no L2": dict(alpha=0.0, dtype="float32"),
    "leaky_relu sgd float64": dict(activation="leaky_relu", solver="sgd", momentum=0.0,
                                   learning_rate_init=0.05, dtype="float64"),
    "elu adam float32": dict(activation="elu", solver="adam", dtype="float32"),
    # the masks multiplied into the outputs and the gradients, one layer without
    "relu adam dropout float32": dict(dropout=0.3, dtype="float32"),
    "tanh sgd dropout per layer float64": dict(activation="tanh", solver="sgd",
                                               learning_rate_init=0.05, dropout=(0.2, 0.0),
                                               dtype="float64"),
}
# estimator kind -> (estimator, targets from the digits): every output head
KINDS = {
    "classifier": (xpnn.MLPClassifier, lambda X, y: y),  # softmax
    "regressor": (xpnn.MLPRegressor, lambda X, y: np.stack([y / 9.0, X[:, 20]], axis=1)),
    "binary": (xpnn.MLPClassifier, lambda X, y: y > 4),  # one logistic output
    "multilabel": (xpnn.MLPClassifier,
                   lambda X, y: np.stack([y > 4, y % 2 == 0, X[:, 20] > 0.5], axis=1) * 1),
    "poisson": (lambda **kw: xpnn.MLPRegressor(loss="poisson", **kw),
                lambda X, y: np.stack([y, np.round(4 * X[:, 20])], axis=1)),
}


def _fit(monkeypatch, estimator, X, y, weights, use_kernel, fused_update=True):
    from xpnn.kernels import fused

    monkeypatch.undo()
    if use_kernel and not fused_update:
        monkeypatch.setattr(fused, "available", lambda: False)
    with xpnn.config_context(kernels="auto" if use_kernel else "reference"):
        estimator.fit(X, y, sample_weight=weights)
    arrays = {**estimator.params_, **state_arrays(estimator.state_.opt_state)}
    return {k: np.array(v, copy=True) for k, v in arrays.items()}, estimator.loss_curve_


def _numba_or_skip(fused_update):
    from xpnn.kernels import fused

    if fused_update and not fused.ready():
        pytest.skip("numba is not installed (pip install 'xpnn[fast]')")


@pytest.mark.parametrize("case, kind", [
    *((case, kind) for case in CASES for kind in ("classifier", "regressor")),
    *((case, kind) for case in ("relu adam float32", "tanh adamw float64")
      for kind in ("binary", "multilabel", "poisson"))])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("fused_update", [True, False], ids=["numba-update", "numpy-update"])
def test_numpy_kernel_is_bit_identical_to_the_reference(monkeypatch, digits_data, case, kind,
                                                         weighted, fused_update):
    X, y = digits_data
    X, y = X[:700], y[:700]  # batch 64: ten full batches and one of 60
    weights = np.random.default_rng(1).uniform(0.2, 3.0, len(y)) if weighted else None
    options = {**dict(hidden_layer_sizes=(24, 12), max_iter=3, batch_size=64, random_state=0,
                      alpha=1e-3, n_iter_no_change=np.inf), **CASES[case]}
    make, targets = KINDS[kind]
    target = targets(X, y)
    _numba_or_skip(fused_update)
    fast, fast_losses = _fit(monkeypatch, make(**options), X, target, weights, True,
                             fused_update)
    reference, ref_losses = _fit(monkeypatch, make(**options), X, target, weights, False)
    assert fast_losses == ref_losses
    assert_params_equal(fast, reference)


@pytest.mark.parametrize("solver", [dict(solver="adam"), dict(solver="sgd", momentum=0.9)],
                         ids=["adam", "sgd-momentum"])
def test_numba_arriving_at_any_step_changes_no_bit(monkeypatch, digits_data, solver):
    """numba's kernels load in a background thread (fused.py) while the first steps run
    NumPy's in-place update; the step after the load takes the numba pass. Forced to arrive
    at the first step, mid-epoch, at an epoch's first step, or never: the same weights,
    optimizer state and loss curve, bit for bit."""
    from xpnn.kernels import fused

    _numba_or_skip(True)
    X, y = digits_data
    steps_per_epoch = -(-len(y) // 200)  # batch_size="auto": 200 rows
    results = {}
    for arrives in (0, 3, steps_per_epoch, None):  # None: never
        calls = []

        def available(arrives=arrives, calls=calls):  # asked once per step's update
            calls.append(1)
            return arrives is not None and len(calls) > arrives

        monkeypatch.setattr(fused, "available", available)
        model = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=3, random_state=0,
                                   dtype="float32", **solver)
        with pytest.warns(Warning):  # 3 epochs: ConvergenceWarning
            model.fit(X, y)
        assert len(calls) == 3 * steps_per_epoch
        arrays = {**model.params_, **state_arrays(model.state_.opt_state)}
        results[arrives] = ({k: np.array(v, copy=True) for k, v in arrays.items()},
                            model.loss_curve_)
    never_params, never_curve = results.pop(None)
    for arrives, (params, curve) in results.items():
        assert_params_equal(params, never_params)
        assert curve == never_curve, arrives


def test_numba_loads_once_the_processs_fits_plan_enough_work(monkeypatch, digits_data):
    """fused.plan: a fit plans its steps of a model of so many parameters; numba's kernels
    start loading once the process's planned steps would save more than the load costs,
    counting every fit (a loop of partial_fit calls adds up)."""
    from xpnn.kernels import fused

    started = []
    monkeypatch.setattr(fused, "_saving", 0.0)
    monkeypatch.setattr(fused, "start_loading", lambda: started.append(fused._saving))
    X, y = digits_data
    model = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=3, random_state=0)
    with pytest.warns(Warning):  # ConvergenceWarning
        model.fit(X, y)
    steps, parameters = 3 * -(-len(y) // 200), 64 * 32 + 32 + 32 * 10 + 10
    assert fused._saving == pytest.approx(
        steps * (fused.STEP_SECONDS + fused.PARAMETER_STEP_SECONDS * parameters))
    assert not started  # 27 steps of a small model: not worth a load
    adam = make_optimizer("adam", 1e-3)
    spec = MLPSpec("relu", "softmax")
    half = int(fused.LOAD_SECONDS / 2 / (fused.STEP_SECONDS + fused.PARAMETER_STEP_SECONDS))
    kernels.select(numpy_backend(), spec, adam, plan=(half, 1))
    assert not started
    kernels.select(numpy_backend(), spec, adam, plan=(half + 2, 1))  # the two add up
    assert started == [fused._saving] and fused._saving > fused.LOAD_SECONDS
    with xpnn.config_context(kernels="reference"):  # the reference never loads it
        kernels.select(numpy_backend(), spec, adam, plan=(10 * half, 1))
    assert len(started) == 1


def test_the_kernel_is_used_and_reuses_its_buffers(digits_data):
    X, y = digits_data
    kernel = kernels.select(numpy_backend(), MLPSpec("relu", "softmax"),
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


def test_other_namespaces_and_names_without_a_kernel_entry_use_the_reference(monkeypatch):
    from conftest import make_backend

    spec, adam = MLPSpec("relu", "softmax"), xpnn.MLPClassifier()._optimizer()
    assert isinstance(kernels.select(make_backend("array_api_strict"), spec, adam),
                      ReferenceStep)
    monkeypatch.delitem(kernels.numpy_step.ACTIVATIONS, "relu")
    assert isinstance(kernels.select(numpy_backend(), spec, adam), ReferenceStep)


@pytest.mark.parametrize("activation", ["softplus", "silu", "gelu"])
def test_activations_without_a_kernel_entry_train_on_the_reference(activation, digits_data):
    """softplus, silu and gelu have no in-place entry: the NumPy step is the reference's."""
    spec, adam = MLPSpec(activation, "softmax"), xpnn.MLPClassifier()._optimizer()
    assert isinstance(kernels.select(numpy_backend(), spec, adam), ReferenceStep)
    X, y = digits_data[0][:600], digits_data[1][:600]
    model = xpnn.MLPClassifier(hidden_layer_sizes=(20,), activation=activation, max_iter=6,
                               batch_size=50, learning_rate_init=0.01, random_state=0)
    assert model.fit(X, y).score(X, y) > 0.8


def test_an_in_place_entry_for_an_activation_that_takes_z_is_declined(monkeypatch):
    """The kernel's forward overwrites z with a: an entry whose reference backward takes
    the pre-activation (silu, gelu) cannot run there, even if the kernel's table had one."""
    from xpnn.kernels import numpy_step

    monkeypatch.setitem(numpy_step.ACTIVATIONS, "silu", numpy_step.ACTIVATIONS["relu"])
    spec, adam = MLPSpec("silu", "softmax"), xpnn.MLPClassifier()._optimizer()
    assert isinstance(kernels.select(numpy_backend(), spec, adam), ReferenceStep)


def _softsign(z, xp):
    return z / (1.0 + xp.abs(z))


def _softsign_backward(grad_out, activation, xp):
    """d softsign(z) / dz = 1 / (1 + |z|)^2 = (1 - |a|)^2, from the output a."""
    gate = 1.0 - xp.abs(activation)
    return grad_out * (gate * gate)


def _softsign_in_place(z):
    np.divide(z, 1.0 + np.abs(z), out=z)


def _softsign_grad_in_place(delta, activation, scratch):
    gate = scratch(activation)
    np.abs(activation, out=gate)
    np.subtract(1.0, gate, out=gate)
    np.multiply(gate, gate, out=gate)
    delta *= gate


def test_a_new_activation_is_one_table_entry(monkeypatch, digits_data):
    """Registered in activations.ACTIVATIONS alone, it trains (the NumPy step falls back to
    the reference); given a kernel entry too, the kernel runs it, bit for bit the same."""
    from xpnn.core.activations import ACTIVATIONS, Activation
    from xpnn.kernels import numpy_step

    X, y = digits_data[0][:600], digits_data[1][:600]
    monkeypatch.setitem(ACTIVATIONS, "softsign",
                        Activation(_softsign, _softsign_backward, 1.0))
    options = dict(hidden_layer_sizes=(20,), activation="softsign", max_iter=6,
                   batch_size=50, learning_rate_init=0.01, random_state=0)
    spec, adam = MLPSpec("softsign", "softmax"), xpnn.MLPClassifier()._optimizer()
    assert isinstance(kernels.select(numpy_backend(), spec, adam), ReferenceStep)
    reference = xpnn.MLPClassifier(**options).fit(X, y)
    assert reference.score(X, y) > 0.8  # it learns: the gradient is right

    monkeypatch.setitem(numpy_step.ACTIVATIONS, "softsign", numpy_step.InPlaceActivation(
        _softsign_in_place, _softsign_grad_in_place))
    assert isinstance(kernels.select(numpy_backend(), spec, adam), NumpyStep)
    fast = xpnn.MLPClassifier(**options).fit(X, y)
    assert fast.loss_curve_ == reference.loss_curve_
    assert_params_equal(fast.params_, reference.params_)


@pytest.mark.parametrize("solver", ["adam", "sgd momentum", "plain sgd"])
@pytest.mark.parametrize("gradients", ["backward's", "summed over ranks"])
@pytest.mark.parametrize("fused_update", [True, False], ids=["numba-update", "numpy-update"])
def test_the_kernel_adds_the_l2_gradient_once_as_the_reference(monkeypatch, solver, gradients,
                                                               fused_update):
    """The L2 term's gradient l2 w (l2 = alpha / n) is one line of the reference
    (``mlp.add_l2_gradient``, in ``ReferenceStep.update``); the NumPy kernel folds it into its
    update (numba's pass over the flat buffers or each parameter's arrays, or NumPy in place
    before the update). Its steps are the reference's bit for bit, and not those of a step
    that drops the L2 gradient or adds it twice: a kernel that did either fails here."""
    from xpnn.core import mlp
    from xpnn.core.optim import make_optimizer
    from xpnn.kernels import fused

    _numba_or_skip(fused_update)
    if not fused_update:
        monkeypatch.setattr(fused, "available", lambda: False)
    optimizer = {"adam": make_optimizer("adam", 0.01),
                 "sgd momentum": make_optimizer("sgd", 0.05, momentum=0.9),
                 "plain sgd": make_optimizer("sgd", 0.05, momentum=0.0)}[solver]
    backend, spec = numpy_backend(), MLPSpec("tanh", "softmax", 0.5)
    rng = np.random.default_rng(0)
    params = mlp.init_params([6, 5, 3], rng, "float64", backend, "tanh")
    inputs, labels = rng.normal(size=(9, 6)), rng.integers(0, 3, 9)
    l2 = spec.alpha / inputs.shape[0]

    def three_steps(stages, l2, l2_added_before=None):
        state = {k: np.array(v, copy=True) for k, v in params.items()}
        opt_state = optimizer.init_state(state, backend.xp)
        for _ in range(3):
            outputs, trace = stages.forward(state, inputs)
            _, grad_outputs = stages.loss_with_grad(outputs, labels, None)
            grads = stages.backward(state, trace, grad_outputs)
            if gradients == "summed over ranks":  # new arrays, not the kernel's flat buffers
                grads = {k: np.array(v, copy=True) for k, v in grads.items()}
            mlp.add_l2_gradient(grads, state, l2_added_before, backend.xp)
            state, opt_state = stages.update(state, grads, opt_state, 1.0, l2)
            state = {k: np.array(v, copy=True) for k, v in state.items()}
        return {**state, **{k: np.array(v, copy=True)
                            for k, v in state_arrays(opt_state).items()}}

    kernel = three_steps(kernels.select(backend, spec, optimizer), l2)
    assert isinstance(kernels.select(backend, spec, optimizer), NumpyStep)
    reference = ReferenceStep(spec, optimizer, backend.xp)
    assert_params_equal(kernel, three_steps(reference, l2))
    for wrong in (three_steps(reference, None), three_steps(reference, l2, l2)):
        assert not all(np.array_equal(kernel[k], wrong[k]) for k in kernel)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("contiguous", [True, False])
def test_the_in_place_flush_is_the_references_flush_bit_for_bit(dtype, contiguous):
    """``_flush_below`` finds what to flush from the bits; it must change exactly what
    numerics.flush_below changes: nonzero values below the floor, to their signed zero; not
    0, -0, the floor itself, NaN or inf."""
    from xpnn.core.numerics import flush_below, weight_floor

    info = np.finfo(dtype)
    for floor in (float(info.smallest_normal), weight_floor(np.dtype(dtype), np)):
        below = np.nextafter(np.asarray(floor, dtype), np.asarray(0, dtype))
        values = np.array([0.0, -0.0, floor, -floor, below, -below, info.smallest_subnormal,
                           -info.smallest_subnormal, np.nan, -np.nan, np.inf, -np.inf, 1.0,
                           -2.5, floor * 1e3, info.max], dtype=dtype)
        rng = np.random.default_rng(0)
        values = np.concatenate([values, rng.choice(values, 200)]).astype(dtype)
        array = values.reshape(24, 9)[:, ::2] if not contiguous else values.copy()
        expected = flush_below(array.copy(), floor, np)
        step = NumpyStep.__new__(NumpyStep)  # the method needs only the scratch buffers
        step.buffers = {}
        step._flush_below(array, floor)
        assert array.tobytes() == np.ascontiguousarray(expected).tobytes(), floor

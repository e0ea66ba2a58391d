"""No subnormal arithmetic in training: what decays is flushed to 0 where it is made.

A moment of a weight whose gradient is 0 shrinks by beta every step and, without the rule,
spends its last few hundred steps in the subnormal range, where x86 arithmetic is about 100x
slower (bench/README.md, "Flat epochs"). The rule (``numerics.flush_subnormal``): below the dtype's
smallest normal number, 0; a parameter after its update, below sqrt of it
(``numerics.flush_tiny_weight``: its GEMM products would be subnormal). Here: one update in which a moment, a momentum buffer, a parameter
and an L2 gradient underflow, on every namespace; the NumPy kernel (numba's pass and NumPy in
place) bit for bit with the reference on such values; and the CPU's own float mode left as
it was (no flush-to-zero switched on behind the caller's back).
"""
import numpy as np
import pytest

import xpnn
from xpnn.core import mlp, numerics, optim
from xpnn.backend.devices import as_host_array, numpy_backend
from xpnn.kernels import ReferenceStep, fused
from xpnn.kernels.numpy_step import NumpyStep
from xpnn.core.mlp import MLPSpec
from xpnn.core.optim import state_arrays
from assertions import assert_params_equal

DTYPES = ("float32", "float64")


def tiny(dtype):
    return float(np.finfo(dtype).tiny)


def on(backend, dtype, values):
    return backend.asarray(np.asarray(values, dtype=dtype))


def host(array):
    return np.asarray(as_host_array(array))


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_moments_that_underflow_are_flushed_on_every_namespace(backend, dtype):
    """Entry 0 learns; entry 1's gradient is 0 and its moments sit just above the smallest
    normal number: one step takes b1 m and b2 v below it, and the rule makes them 0, so
    the weight does not move. Entry 0 follows Adam's formula."""
    t = tiny(dtype)
    params = {"w1": on(backend, dtype, [[0.5, 0.3]])}
    grads = {"w1": on(backend, dtype, [[0.1, 0.0]])}
    state = {"step": 0, "m": {"w1": on(backend, dtype, [[0.01, 1.05 * t]])},
             "v": {"w1": on(backend, dtype, [[0.001, 1.0005 * t]])}}
    adam = optim.Adam(lr=1e-3)
    new_params, new_state = adam.update(params, grads, state, backend.xp)
    m, v, w = host(new_state["m"]["w1"]), host(new_state["v"]["w1"]), host(new_params["w1"])
    assert m.dtype == np.dtype(dtype) and w.dtype == np.dtype(dtype)
    assert m[0, 1] == 0.0 and v[0, 1] == 0.0  # without the rule: 0.945 t and 0.9995 t
    assert w[0, 1] == np.asarray(0.3, dtype=dtype)
    m0, v0 = 0.9 * 0.01 + 0.1 * 0.1, 0.999 * 0.001 + 0.001 * 0.01
    expected = 0.5 - 1e-3 * (m0 / 0.1) / (np.sqrt(v0 / 0.001) + 1e-8)
    np.testing.assert_allclose(w[0, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(m[0, 0], m0, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_momentum_parameters_and_l2_gradients_that_underflow_are_flushed(backend, dtype):
    """SGD with momentum: a buffer that decays below the smallest normal number and a
    weight stepped into the subnormal range become 0; the L2 gradient (mlp.add_l2_gradient)
    of a weight just above it (alpha / n times it) becomes 0."""
    t = tiny(dtype)
    xp = backend.xp
    params = {"w1": on(backend, dtype, [[0.5, 1.5 * t]])}
    grads = {"w1": on(backend, dtype, [[0.0, 1.2 * t / 0.01]])}
    state = {"step": 0, "velocity": {"w1": on(backend, dtype, [[1.05 * t, 0.0]])}}
    sgd = optim.SGD(lr=0.01, momentum=0.9)
    new_params, new_state = sgd.update(params, grads, state, xp)
    buf, w = host(new_state["velocity"]["w1"]), host(new_params["w1"])
    assert buf[0, 0] == 0.0  # 0.9 * 1.05 t, subnormal without the rule
    assert w[0, 0] == np.asarray(0.5, dtype=dtype)
    assert w[0, 1] == 0.0  # 1.5 t - 0.01 * (1.2 t / 0.01) = 0.3 t: subnormal

    weights = {"w1": on(backend, dtype, [[2.0 * t, 1.0]]), "b1": on(backend, dtype, [0.0])}
    l2_grads = {"w1": on(backend, dtype, [[0.0, 0.0]]), "b1": on(backend, dtype, [0.0])}
    mlp.add_l2_gradient(l2_grads, weights, 0.1 / 1.0, xp)
    g = host(l2_grads["w1"])
    assert g[0, 0] == 0.0 and g[0, 1] == np.asarray(0.1, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_parameters_below_the_weight_floor_are_flushed(backend, dtype, solver):
    """A weight of 1e-25 (float32) is normal, but its products with activations and
    gradients in the next GEMM are subnormal (BLAS runs them 25x slower): after its update
    a parameter below sqrt(smallest normal) is 0; one just above the floor is kept."""
    floor = numerics.weight_floor(np.dtype(dtype), np)
    assert floor ** 2 == tiny(dtype)
    params = {"w1": on(backend, dtype, [[0.5, 0.9 * floor, 1.1 * floor, -0.9 * floor]])}
    grads = {"w1": on(backend, dtype, [[0.1, 0.0, 0.0, 0.0]])}
    optimizer = optim.make_optimizer(solver, 1e-3, momentum=0.9)
    state = optimizer.init_state(params, backend.xp)
    new_params, _ = optimizer.update(params, grads, state, backend.xp)
    w = host(new_params["w1"])
    assert w[0, 1] == 0.0 and w[0, 3] == 0.0
    assert w[0, 2] == np.asarray(1.1 * floor, dtype=dtype)
    assert 0.49 < w[0, 0] < 0.5


def _near_tiny_problem(dtype, seed=0):
    """Parameters, gradients and Adam/momentum state where a third of the entries sit at
    the edge of the normal range: the update's results land on both sides of it."""
    rng = np.random.default_rng(seed)
    t = tiny(dtype)
    shapes = {"w1": (6, 5), "b1": (5,), "w2": (5, 3), "b2": (3,)}

    def draw(shape, scale, edge_at=t):
        values = rng.normal(0.0, scale, shape)
        edge = rng.random(shape) < 0.35
        values[edge] = edge_at * rng.uniform(0.5, 1.3, edge.sum()) * rng.choice([-1, 1],
                                                                                edge.sum())
        return values.astype(dtype)

    floor = numerics.weight_floor(np.dtype(dtype), np)
    params = {name: draw(shape, 0.3, floor) for name, shape in shapes.items()}
    grads = {name: np.where(rng.random(shape) < 0.4, 0.0, draw(shape, 0.05)).astype(dtype)
             for name, shape in shapes.items()}
    slots = {slot: {name: np.abs(draw(shape, 0.01)) if slot == "v" else draw(shape, 0.01)
                    for name, shape in shapes.items()} for slot in ("m", "v", "velocity")}
    return params, grads, slots


def _copy(arrays):
    return {name: np.array(value, copy=True) for name, value in arrays.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("fused_update", [True, False], ids=["numba-update", "numpy-update"])
def test_the_numpy_kernel_flushes_bit_for_bit_as_the_reference(monkeypatch, dtype, solver,
                                                               fused_update):
    """The L2 term's gradient and the update on values at the edge of the normal range (parameters at the edge
    of the weight floor): the kernel (numba's one pass, or NumPy in place) gives the
    reference's bits, flushed entries included."""
    if fused_update and not fused.ready():
        pytest.skip("numba is not installed (pip install 'xpnn[fast]')")
    if not fused_update:
        monkeypatch.setattr(fused, "available", lambda: False)
    optimizer = optim.make_optimizer(solver, 1e-3, momentum=0.9, weight_decay=1e-2)
    params, grads, slots = _near_tiny_problem(dtype)
    state = {"step": 3, **{slot: slots[slot] for slot in optimizer.state_slots}}
    spec = MLPSpec("relu", "softmax", 1e-4)
    results = []
    for step_class in (NumpyStep, ReferenceStep):
        stages = step_class(spec, optimizer, numpy_backend().xp)
        p, g = _copy(params), _copy(grads)
        s = {"step": 3, **{slot: _copy(state[slot]) for slot in optimizer.state_slots}}
        p, s = stages.update(p, g, s, 1.0, l2=1e-4 / 2e-3)
        results.append({**p, **state_arrays(s)})
    kernel, reference = results
    assert_params_equal(kernel, reference)
    for name, value in reference.items():  # the very bits: a flushed value's signed zero too
        assert np.array_equal(np.signbit(kernel[name]), np.signbit(value)), name
    flushed = [np.sum(value == 0) for value in reference.values()]
    assert sum(flushed) > 0
    for value in reference.values():  # nothing subnormal is left
        assert not np.any((value != 0) & (np.abs(value) < np.finfo(dtype).tiny))
    floor = numerics.weight_floor(np.dtype(dtype), np)
    for name in params:  # nor a parameter below the weight floor
        assert not np.any((reference[name] != 0) & (np.abs(reference[name]) < floor))


def _subnormal_arithmetic_works() -> bool:
    """What a process with flush-to-zero (or denormals-are-zero) computes differently."""
    t = np.finfo(np.float32).tiny
    smallest = np.finfo(np.float32).smallest_subnormal
    made = np.float32(t) / np.float32(4.0)  # FTZ: 0
    read = np.float32(smallest) * np.float32(3.0)  # DAZ: 0
    return bool(made > 0) and bool(read > 0) and bool(np.float64(5e-324) * 2 > 0)


@pytest.mark.parametrize("namespace", ["numpy", "torch", "jax"])
def test_fit_leaves_the_cpu_float_mode_as_it_was(namespace, digits_data):
    """The rule lives in the arithmetic, not in the CPU's FTZ/DAZ flags: a user's own NumPy
    code computes the same subnormal numbers before and after a fit on any namespace."""
    X, y = digits_data
    X = X.astype(np.float32)
    if namespace == "torch":
        torch = pytest.importorskip("torch")
        X, y = torch.asarray(X), torch.asarray(y)
    elif namespace == "jax":
        jnp = pytest.importorskip("jax.numpy")
        X, y = jnp.asarray(X), jnp.asarray(y)
    assert _subnormal_arithmetic_works()
    xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(X, y)
    assert _subnormal_arithmetic_works()

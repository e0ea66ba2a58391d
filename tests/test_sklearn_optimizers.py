"""xpnn's updates are scikit-learn's, checked against scikit-learn's own optimizers.

The same gradients go to ``sklearn.neural_network._stochastic_optimizers`` (AdamOptimizer,
SGDOptimizer) and to xpnn's optimizer on every namespace (the reference, ``optim.py``), to
the NumPy kernel's update (numba's fused pass and NumPy in place) and to the update as the
JAX step traces it; float64, rtol 1e-12. The learning rate changes between steps, as
invscaling and adaptive change scikit-learn's, so the momentum's velocity must carry the
rates of its past steps.
"""
import numpy as np
import pytest
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer

from xpnn.core import optim
from xpnn.backend.devices import as_host_array, numpy_backend
from xpnn.kernels.numpy_step import NumpyStep
from xpnn.core.mlp import MLPSpec

SHAPES = {"w1": (5, 4), "b1": (4,), "w2": (4, 3), "b2": (3,)}
RATES = [0.1, 0.1, 0.05, 0.05, 0.2, 0.01]  # the scheduled rate of each step
LR_INIT = 0.1

# name -> (xpnn optimizer, scikit-learn's optimizer for a list of parameters)
OPTIMIZERS = {
    "adam": (optim.Adam(lr=LR_INIT, beta1=0.8, beta2=0.99, eps=1e-3),
             lambda params: AdamOptimizer(params, LR_INIT, beta_1=0.8, beta_2=0.99,
                                          epsilon=1e-3)),
    "momentum": (optim.SGD(lr=LR_INIT, momentum=0.9, nesterov=False),
                 lambda params: SGDOptimizer(params, LR_INIT, momentum=0.9, nesterov=False)),
    "nesterov": (optim.SGD(lr=LR_INIT, momentum=0.7, nesterov=True),
                 lambda params: SGDOptimizer(params, LR_INIT, momentum=0.7, nesterov=True)),
    "sgd": (optim.SGD(lr=LR_INIT), lambda params: SGDOptimizer(params, LR_INIT, momentum=0.0)),
}


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {name: rng.normal(size=shape) for name, shape in SHAPES.items()}
    grads = [{name: rng.normal(size=shape) for name, shape in SHAPES.items()}
             for _ in RATES]
    return params, grads


def _sklearn_run(name):
    """scikit-learn's parameters after each step (its rate set as its schedules set it)."""
    params, grads = _problem()
    coefs = [np.array(params[key]) for key in SHAPES]
    sk = OPTIMIZERS[name][1](coefs)
    after = []
    for rate, grad in zip(RATES, grads):
        if name != "adam":  # adam takes learning_rate_init and its own step size
            sk.learning_rate = rate
        sk.update_params(coefs, [grad[key] for key in SHAPES])
        after.append({key: coef.copy() for key, coef in zip(SHAPES, coefs)})
    return after


def _scale(name, rate):
    return 1.0 if name == "adam" else rate / LR_INIT


def _assert_same(xpnn_params, sklearn_params, step):
    for key in SHAPES:
        np.testing.assert_allclose(as_host_array(xpnn_params[key]), sklearn_params[key],
                                   rtol=1e-12, atol=1e-15, err_msg=f"{key} after step {step}")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_reference_update_is_scikit_learns_on_every_namespace(backend, name):
    optimizer = OPTIMIZERS[name][0]
    host_params, grads = _problem()
    params = {key: backend.asarray(value, dtype="float64") for key, value in host_params.items()}
    state = optimizer.init_state(params, backend.xp)
    for step, (rate, grad, expected) in enumerate(zip(RATES, grads, _sklearn_run(name)), 1):
        device_grads = {key: backend.asarray(value, dtype="float64")
                        for key, value in grad.items()}
        params, state = optimizer.update(params, device_grads, state, backend.xp,
                                         _scale(name, rate))
        _assert_same(params, expected, step)


@pytest.mark.parametrize("fused_pass", [True, False], ids=["numba", "numpy-in-place"])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_numpy_kernels_update_is_scikit_learns(monkeypatch, name, fused_pass):
    from xpnn.kernels import fused

    if fused_pass and not fused.ready():
        pytest.skip("numba is not installed (pip install 'xpnn[fast]')")
    if not fused_pass:
        monkeypatch.setattr(fused, "available", lambda: False)
    optimizer = OPTIMIZERS[name][0]
    kernel = NumpyStep(MLPSpec("relu", "softmax", 0.0), optimizer, numpy_backend().xp)
    params, grads = _problem()
    state = optimizer.init_state(params, np)
    for step, (rate, grad, expected) in enumerate(zip(RATES, grads, _sklearn_run(name)), 1):
        params, state = kernel.update(params, grad, state, _scale(name, rate))
        _assert_same(params, expected, step)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_jax_steps_traced_update_is_scikit_learns(name):
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from array_api_compat import array_namespace

    optimizer = OPTIMIZERS[name][0]
    xp = array_namespace(jnp.zeros(1))
    # as kernels/jax_step.py traces it: the state and the step's host numbers as arguments
    update = jax.jit(lambda params, grads, state, numbers: optimizer.update(
        params, grads, state, xp, numbers=numbers))
    host_params, grads = _problem()
    params = {key: jnp.asarray(value) for key, value in host_params.items()}
    state = optimizer.init_state(params, xp)
    for step, (rate, grad, expected) in enumerate(zip(RATES, grads, _sklearn_run(name)), 1):
        params, state = update(params, {key: jnp.asarray(value) for key, value in grad.items()},
                               state, optimizer.step_numbers(step, _scale(name, rate)))
        state = {**state, "step": step}  # the host's count
        _assert_same(params, expected, step)

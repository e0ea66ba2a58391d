"""The same seeded run on every backend gives the same parameters and losses.

Tolerances: float64 rtol 1e-10 (only summation order differs), float32 rtol 1e-4. Every
activation and every output head (softmax and logistic cross-entropy, squared error, Poisson
deviance), with the L2 term and row weights, run through the same comparison.
"""
import numpy as np
import pytest

from xpnn.core import mlp
from xpnn.core.activations import ACTIVATIONS
from xpnn.backend.devices import as_host_array, numpy_backend
from xpnn.core.optim import make_optimizer, state_arrays
from assertions import assert_curve_close, assert_params_close, assert_params_equal
from conftest import backend_params, make_backend

STEPS = 6
OPTIMIZERS = {  # name -> (solver, options, learning rate)
    "sgd": ("sgd", {"momentum": 0.0}, 0.1),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}, 1e-2),
    "adamw": ("adamw", {"weight_decay": 1e-3}, 1e-2),
}


# each head's targets, derived from the digit and its pixels: class indices, three 0/1
# labels, three real values, three counts
TARGETS = {
    "softmax": lambda X, y: y,
    "logistic": lambda X, y: np.stack([y > 4, y % 2 == 0, X[:, 20] > 0.5], axis=1) * 1.0,
    "identity": lambda X, y: np.stack([y / 9.0, X[:, 20], X[:, 43]], axis=1),
    "exp": lambda X, y: np.stack([y, np.round(4 * X[:, 20]), np.round(4 * X[:, 43])], axis=1),
}


def _run(backend, dtype, optimizer_name, data, spec=mlp.MLPSpec(), weighted=False):
    """STEPS minibatch steps from seed 0; host copies of params, optimizer state, losses."""
    X_host, y_host = data
    xp = backend.xp
    rng = np.random.default_rng(0)
    y_device = TARGETS[spec.head](X_host, y_host)
    n_outputs = 10 if spec.head == "softmax" else y_device.shape[1]
    params = mlp.init_params(mlp.layer_sizes(64, (32, 16), n_outputs), rng, dtype, backend,
                             spec.activation_name)
    solver, options, lr = OPTIMIZERS[optimizer_name]
    optimizer = make_optimizer(solver, lr, **options)
    state = optimizer.init_state(params, xp)
    X = backend.asarray(X_host, dtype=dtype)
    y = backend.asarray(y_device) if spec.head == "softmax" else backend.asarray(y_device,
                                                                                  dtype=dtype)
    w = backend.asarray(rng.uniform(0.2, 2.0, X_host.shape[0]), dtype=dtype) if weighted else None
    order = backend.asarray(rng.permutation(X_host.shape[0]))
    losses = []
    for step in range(STEPS):
        idx = order[step * 50:(step + 1) * 50]
        loss, grads, _ = mlp.loss_and_grads(params, xp.take(X, idx, axis=0),
                                            xp.take(y, idx, axis=0), xp, spec,
                                            None if w is None else xp.take(w, idx, axis=0))
        params, state = optimizer.update(params, grads, state, xp)
        losses.append(float(as_host_array(loss)))
    arrays = {**params, **state_arrays(state)}
    return {name: as_host_array(value).copy() for name, value in arrays.items()}, losses


@pytest.mark.parametrize("other", backend_params(("array_api_strict", "torch", "jax", "cupy")))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer_name", ["sgd", "nesterov", "adamw"])
def test_training_steps_agree_with_numpy(other, dtype, optimizer_name, digits_data):
    reference, ref_losses = _run(numpy_backend(), dtype, optimizer_name, digits_data)
    result, losses = _run(make_backend(other), dtype, optimizer_name, digits_data)
    assert_curve_close(losses, ref_losses, dtype=dtype, what="loss")
    assert_params_close(result, reference, dtype=dtype)  # Adam moments on their own scale


# every activation under the softmax head, and every head under tanh (each activation's and
# each head's code is independent of the other's: the 36 pairs would add nothing but time)
PAIRS = sorted({*((activation, "softmax") for activation in ACTIVATIONS),
                *(("tanh", head) for head in TARGETS)})


@pytest.mark.parametrize("other", backend_params(("array_api_strict", "torch", "jax", "cupy")))
@pytest.mark.parametrize("activation, head", PAIRS)
def test_every_activation_and_head_agree_with_numpy(other, activation, head, digits_data):
    """float64, Nesterov SGD, L2 term, row weights: the same steps on every backend."""
    spec = mlp.MLPSpec(activation, head, alpha=1e-2)
    reference, ref_losses = _run(numpy_backend(), "float64", "nesterov", digits_data, spec, True)
    result, losses = _run(make_backend(other), "float64", "nesterov", digits_data, spec, True)
    assert_curve_close(losses, ref_losses, dtype="float64", what="loss")
    assert_params_close(result, reference, dtype="float64")


def test_initial_weights_are_bit_identical_across_backends(backend):
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    sizes = mlp.layer_sizes(10, (8,), 3)
    reference = mlp.init_params(sizes, rng_a, "float32", numpy_backend())
    other = mlp.init_params(sizes, rng_b, "float32", backend)
    assert_params_equal(other, reference)

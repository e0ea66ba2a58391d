"""Each op against finite differences (float64) and against its definition; stability."""
import numpy as np
import pytest

from xpnn.core import ops
from xpnn.core.activations import ACTIVATIONS, OUTPUT, PRE_ACTIVATION
from xpnn.backend.devices import as_host_array
from xpnn.training.gradient_check import numeric_gradient, relative_error

GRAD_TOL = 1e-6


def _logits(backend, rng, shape=(5, 4), scale=3.0, dtype="float64"):
    return backend.asarray(rng.normal(0, scale, shape), dtype=dtype)


def test_relu_gradient_matches_finite_differences(backend):
    xp, rng = backend.xp, np.random.default_rng(0)
    z_host = rng.normal(size=(4, 6))
    z_host[np.abs(z_host) < 0.05] = 0.5  # keep away from the kink
    z = backend.asarray(z_host, dtype="float64")
    weights = backend.asarray(rng.normal(size=(4, 6)), dtype="float64")
    # L = sum(weights * relu(z)) so dL/drelu = weights
    analytic = ops.relu_backward(weights, ops.relu(z, xp), xp)
    numeric = numeric_gradient(lambda v: xp.sum(weights * ops.relu(v, xp)), z, xp)
    assert relative_error(as_host_array(analytic), numeric) < GRAD_TOL


@pytest.mark.parametrize("fn", ["log_softmax", "softmax"])
def test_softmax_family_gradient_matches_finite_differences(backend, fn):
    """Vector-Jacobian products derived by hand vs finite differences of sum(w * f(z))."""
    xp, rng = backend.xp, np.random.default_rng(1)
    z = _logits(backend, rng)
    w = backend.asarray(rng.normal(size=(5, 4)), dtype="float64")
    p = ops.softmax(z, xp)
    if fn == "log_softmax":  # d/dz_k sum_j w_j (z_j - lse) = w_k - p_k sum_j w_j
        analytic = w - p * xp.sum(w, axis=1, keepdims=True)
    else:  # d/dz_k sum_j w_j p_j = p_k (w_k - sum_j w_j p_j)
        analytic = p * (w - xp.sum(w * p, axis=1, keepdims=True))
    func = getattr(ops, fn)
    numeric = numeric_gradient(lambda v: xp.sum(w * func(v, xp)), z, xp)
    assert relative_error(as_host_array(analytic), numeric) < GRAD_TOL


def test_fused_cross_entropy_gradient_matches_finite_differences(backend):
    xp, rng = backend.xp, np.random.default_rng(2)
    z = _logits(backend, rng, shape=(6, 5))
    labels = backend.asarray(rng.integers(0, 5, 6))
    loss, grad = ops.cross_entropy_with_grad(z, labels, xp)
    numeric = numeric_gradient(lambda v: ops.cross_entropy(v, labels, xp), z, xp)
    assert relative_error(as_host_array(grad), numeric) < GRAD_TOL
    assert float(as_host_array(loss)) == pytest.approx(
        float(as_host_array(ops.cross_entropy(z, labels, xp))), rel=1e-12)


def test_softmax_normalises_over_the_class_axis_not_the_batch(backend):
    """The original bug summed exp over the batch axis: rows must sum to 1, columns need not."""
    xp = backend.xp
    z = backend.asarray(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), dtype="float64")
    probs = as_host_array(ops.softmax(z, xp))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(probs[1], [1 / 3] * 3, rtol=1e-12)
    expected = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    np.testing.assert_allclose(probs[0], expected, rtol=1e-12)


@pytest.mark.parametrize("magnitude", [1e4, -1e4, 1e30])
def test_extreme_logits_stay_finite_in_float32(backend, magnitude):
    xp = backend.xp
    host = np.array([[magnitude, 0.0, -magnitude], [magnitude, magnitude, 0.0]], np.float32)
    z = backend.asarray(host, dtype="float32")
    labels = backend.asarray(np.array([2, 0]))
    loss, grad = ops.cross_entropy_with_grad(z, labels, xp)
    for value in (loss, grad, ops.softmax(z, xp), ops.log_softmax(z, xp)):
        assert value.dtype == xp.float32
        assert np.all(np.isfinite(as_host_array(value)))
    assert float(as_host_array(loss)) > 0


def test_cross_entropy_matches_the_definition(backend):
    xp, rng = backend.xp, np.random.default_rng(3)
    z_host = rng.normal(size=(7, 3))
    labels_host = rng.integers(0, 3, 7)
    loss = ops.cross_entropy(backend.asarray(z_host, "float64"), backend.asarray(labels_host), xp)
    probs = np.exp(z_host) / np.exp(z_host).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(probs[np.arange(7), labels_host]))
    assert float(as_host_array(loss)) == pytest.approx(expected, rel=1e-12)


def test_one_hot_and_correct_count(backend):
    xp = backend.xp
    labels = backend.asarray(np.array([2, 0, 1]))
    onehot = as_host_array(ops.one_hot(labels, 4, xp.float32, xp))
    np.testing.assert_array_equal(onehot, np.eye(4, dtype=np.float32)[[2, 0, 1]])
    logits = backend.asarray(np.array([[0, 0, 1.0], [1.0, 0, 0], [1.0, 0, 0]]), "float32")
    assert int(as_host_array(ops.correct_count(logits, labels, xp))) == 2


# -- the activations' table: every entry against finite differences, torch and its gain ----

def _activation_inputs(backend, rng, dtype="float64"):
    """(4, 6) pre-activations over [-6, 6], none within 0.05 of a kink at 0."""
    z_host = rng.uniform(-6.0, 6.0, size=(4, 6))
    z_host[np.abs(z_host) < 0.05] = 0.5
    return backend.asarray(z_host, dtype=dtype)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_gradient_matches_finite_differences(backend, name):
    """backward, given what its entry takes (the output a, or the pre-activation z), against
    central differences of L = sum(weights * f(z))."""
    xp, rng = backend.xp, np.random.default_rng(5)
    entry = ACTIVATIONS[name]
    z = _activation_inputs(backend, rng)
    weights = backend.asarray(rng.normal(size=(4, 6)), dtype="float64")
    kept = {OUTPUT: entry.forward(z, xp), PRE_ACTIVATION: z}[entry.takes]
    analytic = entry.backward(weights, kept, xp)
    numeric = numeric_gradient(lambda v: xp.sum(weights * entry.forward(v, xp)), z, xp)
    assert relative_error(as_host_array(analytic), numeric) < GRAD_TOL


# xpnn's name -> torch's function (values and autograd)
TORCH_ACTIVATIONS = {
    "leaky_relu": lambda t, F: F.leaky_relu(t, negative_slope=0.01),
    "elu": lambda t, F: F.elu(t, alpha=1.0),
    "gelu": lambda t, F: F.gelu(t, approximate="tanh"),
    "silu": lambda t, F: F.silu(t),
    # threshold 40, not torch's 20 past which it returns z itself (off by log1p(exp(-z)),
    # up to 2e-9): the exact value over the tested range
    "softplus": lambda t, F: F.softplus(t, threshold=40.0),
}


@pytest.mark.parametrize("name", list(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_new_activations_match_torch_values_and_gradients(name, dtype):
    """Values and d sum(w f(z)) / dz against torch.nn.functional (autograd), z over
    [-30, 30]."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    from xpnn.backend.devices import numpy_backend

    xp, rng = np, np.random.default_rng(6)
    entry = ACTIVATIONS[name]
    z_host = np.concatenate([rng.uniform(-30, 30, 200), rng.normal(0, 1, 200),
                             [0.0, 1e-8, -1e-8]]).astype(dtype)
    weights_host = rng.normal(size=z_host.shape).astype(dtype)
    z_torch = torch.tensor(z_host, requires_grad=True)
    expected = TORCH_ACTIVATIONS[name](z_torch, torch.nn.functional)
    (expected * torch.tensor(weights_host)).sum().backward()
    z = numpy_backend().asarray(z_host, dtype=dtype)
    values = entry.forward(z, xp)
    grads = entry.backward(weights_host, {OUTPUT: values, PRE_ACTIVATION: z}[entry.takes], xp)
    rtol = {"float64": 1e-12, "float32": 2e-6}[dtype]
    atol = {"float64": 1e-14, "float32": 1e-6}[dtype]
    assert values.dtype == grads.dtype == np.dtype(dtype)
    np.testing.assert_allclose(values, expected.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(grads, z_torch.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("magnitude", [1e4, -1e4, 3e19, -3e19])  # (gelu: z^3 overflows)
def test_every_activation_stays_finite_and_float32_at_extremes(backend, name, magnitude):
    xp = backend.xp
    entry = ACTIVATIONS[name]
    z = backend.asarray(np.array([[magnitude, 0.5, -0.5]], np.float32), dtype="float32")
    a = entry.forward(z, xp)
    grad = entry.backward(xp.ones_like(z), {OUTPUT: a, PRE_ACTIVATION: z}[entry.takes], xp)
    for value in (a, grad):
        assert value.dtype == xp.float32
        assert np.all(np.isfinite(as_host_array(value)))


def test_init_gains_are_torchs_or_hes_rule():
    """torch.nn.init.calculate_gain's values where it has one; for the others (elu, gelu,
    silu, softplus) 1 / sqrt(E[f(z)^2]) over z ~ N(0, 1), the rule behind its relu and
    leaky_relu gains, recomputed here by quadrature."""
    import math

    from scipy import integrate

    torch_gains = {"relu": math.sqrt(2.0), "tanh": 5.0 / 3.0, "logistic": 1.0,
                   "identity": 1.0, "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01 ** 2))}
    for name, gain in torch_gains.items():
        assert ACTIVATIONS[name].init_gain == pytest.approx(gain, rel=1e-15), name
    for name in ("leaky_relu", "elu", "gelu", "silu", "softplus"):
        forward = ACTIVATIONS[name].forward

        def density(z, forward=forward):
            a = float(forward(np.array([z]), np)[0])
            return a * a * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

        second_moment = integrate.quad(density, -np.inf, np.inf, epsabs=1e-14)[0]
        assert ACTIVATIONS[name].init_gain == pytest.approx(1.0 / math.sqrt(second_moment),
                                                            rel=1e-9), name

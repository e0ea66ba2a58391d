"""Each op against finite differences (float64) and against its definition; stability."""
import numpy as np
import pytest

from xpnn import ops
from xpnn.backend import as_host_array
from xpnn.gradient_check import numeric_gradient, relative_error

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

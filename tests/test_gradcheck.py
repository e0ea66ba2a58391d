"""The whole MLP's hand-derived backward pass against central finite differences (float64)."""
import pytest

import xpnn
from xpnn.core.activations import ACTIVATIONS

GRAD_TOL = 1e-6


@pytest.mark.parametrize("hidden", [(7,), (6, 5), (6, 5, 4)], ids=["1-hidden", "2-hidden", "3-hidden"])
def test_mlp_gradients_match_finite_differences(backend, hidden):
    errors = xpnn.gradcheck_report(hidden=hidden, n_features=5, n_classes=4, n_samples=9,
                                   seed=3, backend=backend)
    assert set(errors) == {f"{k}{i}" for i in range(1, len(hidden) + 2) for k in "wb"}
    assert max(errors.values()) < GRAD_TOL, errors


HEADS = ["softmax", "logistic", "identity", "exp"]
# on the other backends: every activation under softmax and every head under tanh (the
# backends' agreement on every pair's steps is tests/test_backends.py's)
PAIRS = sorted({*((activation, "softmax") for activation in ACTIVATIONS),
                *(("tanh", head) for head in HEADS)})


def _check_with_l2_and_weights(backend, activation, head):
    errors = xpnn.gradcheck_report(hidden=(6, 5), n_features=5, n_classes=3, n_samples=9,
                                   seed=4, backend=backend, activation=activation, head=head,
                                   alpha=0.3, weighted=True)
    assert max(errors.values()) < GRAD_TOL, errors


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("head", HEADS)
def test_every_activation_and_loss_with_l2_and_weights(activation, head):
    """Each activation's derivative (from its output or its input), each head's loss, the
    L2 term and row weights, all against finite differences, on NumPy."""
    from xpnn.backend.devices import resolve_device

    _check_with_l2_and_weights(resolve_device("cpu"), activation, head)


@pytest.mark.parametrize("activation, head", PAIRS)
def test_activations_and_losses_on_every_backend(backend, activation, head):
    _check_with_l2_and_weights(backend, activation, head)


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    """The check must be able to fail: break dL/db and it must report a large error."""
    from xpnn.core import mlp

    original = mlp.backward

    def broken(params, trace, grad_logits, xp, spec):
        grads = original(params, trace, grad_logits, xp, spec)
        grads["b1"] = grads["b1"] * 1.01
        return grads

    monkeypatch.setattr(mlp, "backward", broken)
    errors = xpnn.gradcheck_report(hidden=(5,))
    assert errors["b1"] > 1e-3
    assert errors["w1"] < GRAD_TOL

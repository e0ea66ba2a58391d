"""The JAX step compiled whole (``xpnn/kernels/jax_step.py``) against the reference stages.

One seeded start, several steps both ways: the compiled step, and the reference's stages in
``FitRun.step``'s order (forward, the head's loss and gradient, backward, the L2 term, the
update), for every activation and head in their tables, SGD with Nesterov momentum and
AdamW, row weights and the L2 term, a changing learning-rate scale, float64 (rtol 1e-10) and
float32 (rtol 1e-5); then the training loop around it: fits with the kernel equal fits
without it, a fit compiles once per batch shape, the divergence guard names the same step,
and a resumed fit equals an uninterrupted one. (The compiled step cannot read the host: a
trace holds no values, so a read in it fails to compile; the loop's one read per epoch is
``tests/test_training.py``'s.)
"""
import numpy as np
import pytest

import xpnn
from xpnn import kernels
from xpnn.core import mlp
from xpnn.core.activations import ACTIVATIONS
from xpnn.backend.devices import as_host_array
from xpnn.core.heads import HEADS
from xpnn.core.optim import make_optimizer, state_arrays
from assertions import assert_curve_close, assert_params_close, assert_params_equal
from conftest import make_backend

jax = pytest.importorskip("jax", reason="JAX is not installed")
from xpnn.kernels import jax_step  # noqa: E402  (imports jax)

RTOL = {"float64": 1e-10, "float32": 1e-5}
OPTIMIZERS = {  # name -> (solver, options, learning rate)
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}, 0.05),
    "adamw": ("adamw", {"weight_decay": 1e-2}, 1e-2),
}
CASES = [("adamw", "float64"), ("nesterov", "float32"), ("adamw", "float32"),
         ("nesterov", "float64")]
SCALES = (1.0, 0.5, 0.25, 1.0, 0.0)  # the learning-rate scale of each step; 0: nothing moves


def _pairs() -> list:
    """Every activation, each with one head and one (optimizer, dtype) of CASES, the heads
    and cases taken in turn so that every head meets several activations and cases (one
    compilation per pair, a few seconds each: every pair of the two tables would be 36)."""
    heads = list(HEADS)
    pairs = []
    for i, activation in enumerate(ACTIVATIONS):
        head, case = heads[i % len(heads)], CASES[(i + i // len(heads)) % len(CASES)]
        pairs.append(pytest.param(activation, head, *case,
                                  id=f"{activation}-{head}-{'-'.join(case)}"))
    return pairs


def _targets(head, rng, rows, outputs):
    targets = HEADS[head].random_targets(rng, rows, outputs)
    return targets if head == "softmax" else targets.astype(np.float64)


def _steps(backend, stages, spec, optimizer, batches, dtype, compiled):
    """len(SCALES) steps from seed 0; host copies of params and state, losses, outputs and
    the training metric's sums (the kernel's compiled one, or the head's)."""
    xp = backend.xp
    metric_sum = kernels.compiled(stages, HEADS[spec.head].metric_sum, (2,))
    params = mlp.init_params([6, 5, 4, 3], np.random.default_rng(0), dtype, backend,
                             spec.activation_name)
    state = optimizer.init_state(params, xp)
    values, outputs = [], []  # each step: its loss, then its metric sum (if any)
    for scale, (inputs, targets, weights) in zip(SCALES, batches):
        if compiled:
            params, state, loss, out = stages.whole_step(params, state, inputs, targets,
                                                         weights, scale)
        else:  # FitRun.step's stages, one process
            out, activations = stages.forward(params, inputs)
            loss, grad_outputs = stages.loss_with_grad(out, targets, weights)
            grads = stages.backward(params, activations, grad_outputs)
            loss = loss + mlp.l2_term(params, spec.alpha, xp.sum(weights), xp)
            params, state = stages.update(params, grads, state, scale,
                                          l2=spec.alpha / xp.sum(weights))
        values.append(float(as_host_array(loss)))
        outputs.append(as_host_array(out).copy())
        if metric_sum is not None:
            values.append(float(as_host_array(metric_sum(out, targets, xp, weights))))
    arrays = {**params, **state_arrays(state)}
    return ({k: as_host_array(v).copy() for k, v in arrays.items()}, state["step"], values,
            outputs)


@pytest.mark.parametrize("activation, head, optimizer_name, dtype", _pairs())
def test_the_compiled_step_is_the_reference_step(activation, head, optimizer_name, dtype):
    backend = make_backend("jax")
    spec = mlp.MLPSpec(activation, head, alpha=1e-2)
    solver, options, lr = OPTIMIZERS[optimizer_name]
    optimizer = make_optimizer(solver, lr, **options)
    rng = np.random.default_rng(1)
    batches = [  # (inputs, targets, row weights) of 9 rows each; the fits below end smaller
        (backend.asarray(rng.normal(size=(9, 6)), dtype=dtype),
         backend.asarray(_targets(head, rng, 9, 3), dtype=None if head == "softmax" else dtype),
         backend.asarray(rng.uniform(0.2, 2.0, 9), dtype=dtype)) for _ in SCALES]
    fast = kernels.select(backend, spec, optimizer)
    assert isinstance(fast, jax_step.JaxStep)
    reference = kernels.ReferenceStep(spec, optimizer, backend.xp)
    got, got_step, got_values, got_outputs = _steps(backend, fast, spec, optimizer, batches,
                                                    dtype, compiled=True)
    want, want_step, want_values, want_outputs = _steps(backend, reference, spec, optimizer,
                                                        batches, dtype, compiled=False)
    assert got_step == want_step == len(SCALES)  # the counter: a host int, advanced alike
    assert_curve_close(got_values, want_values, rtol=RTOL[dtype], what="loss and metric")
    assert_params_close(got, want, rtol=RTOL[dtype])
    for got_out, want_out in zip(got_outputs, want_outputs):
        assert_params_close({"outputs": got_out}, {"outputs": want_out}, rtol=RTOL[dtype])


def _digits_on_jax(digits_data, rows=500, dtype="float64"):
    backend = make_backend("jax")
    X, y = digits_data
    return backend, backend.asarray(X[:rows], dtype=dtype), backend.asarray(y[:rows])


def _fit(monkeypatch, use_kernel, X, y, weights=None, **options):
    """A seeded fit with the compiled step, or with the reference stages alone."""
    clf = xpnn.MLPClassifier(**{**dict(hidden_layer_sizes=(12,), max_iter=3, batch_size=64,
                                       random_state=0, alpha=1e-3, n_iter_no_change=np.inf),
                                **options})
    with monkeypatch.context() as patch:
        if not use_kernel:
            patch.delitem(kernels.KERNELS, "jax")
        return clf.fit(X, y, sample_weight=weights)


def test_a_fit_with_the_compiled_step_is_the_reference_fit(monkeypatch, digits_data):
    """500 rows in batches of 64 (seven and one of 52), row weights, the L2 term, Adam with
    the cosine schedule (a new rate every step), three epochs, float64: the same losses,
    accuracies (the compiled metric) and state; the step is compiled once per batch shape."""
    backend, X, y = _digits_on_jax(digits_data)
    weights = backend.asarray(np.random.default_rng(2).uniform(0.2, 3.0, 500))
    traces = []
    real = jax_step.mlp.loss_and_grads

    def counting(*args, **kwargs):  # runs only while jax traces the step
        traces.append(args[1].shape)
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(jax_step.mlp, "loss_and_grads", counting)
        jax_step._step.clear_cache()
        fast = _fit(monkeypatch, True, X, y, weights, learning_rate="cosine")
    assert sorted(traces) == [(52, 64), (64, 64)]  # 24 steps, two compilations
    reference = _fit(monkeypatch, False, X, y, weights, learning_rate="cosine")
    assert_curve_close(fast.loss_curve_, reference.loss_curve_, dtype="float64", what="loss")
    assert_curve_close([row["accuracy"] for row in fast.history_],  # the compiled metric
                       [row["accuracy"] for row in reference.history_], dtype="float64",
                       what="accuracy")
    assert_params_close(fast.params_, reference.params_, dtype="float64")
    assert_params_close(state_arrays(fast.state_.opt_state),
                        state_arrays(reference.state_.opt_state), dtype="float64")


def test_dropout_on_jax_runs_the_masks_as_without_the_kernel(monkeypatch, digits_data):
    """The compiled whole step takes no masks: with dropout the loop keeps the stages, so
    a JAX fit with dropout is the reference's, and not the fit without dropout."""
    backend, X, y = _digits_on_jax(digits_data)
    fast = _fit(monkeypatch, True, X, y, dropout=0.3)
    reference = _fit(monkeypatch, False, X, y, dropout=0.3)
    assert_params_close(fast.params_, reference.params_, dtype="float64")
    plain = _fit(monkeypatch, True, X, y)
    assert not np.allclose(np.asarray(fast.params_["w1"]), np.asarray(plain.params_["w1"]))


def test_divergence_is_found_and_named_as_without_the_kernel(monkeypatch, digits_data):
    backend, X, y = _digits_on_jax(digits_data, rows=1797)
    errors = []
    for use_kernel in (True, False):
        with pytest.raises(xpnn.DivergenceError) as info:
            _fit(monkeypatch, use_kernel, X, y, hidden_layer_sizes=(32,), max_iter=2,
                 solver="sgd", momentum=0.0, learning_rate_init=1e10, check_every=2)
        errors.append((info.value.epoch, info.value.step, info.value.layer))
    assert errors[0] == errors[1] and errors[0][1] >= 3


def test_a_resumed_fit_equals_an_uninterrupted_one(digits_data, tmp_path):
    """Bit for bit: 2 epochs, then resume_fit up to 5, against 5 epochs in one fit (float32,
    Adam, the compiled step); the model file of the 2-epoch fit holds its exact state."""
    from xpnn.saving.checkpoint import load_model, save_model

    backend, X, y = _digits_on_jax(digits_data, rows=700, dtype="float32")
    options = dict(hidden_layer_sizes=(16,), batch_size=64, random_state=0, alpha=1e-4,
                   n_iter_no_change=np.inf)
    full = xpnn.MLPClassifier(max_iter=5, **options).fit(X, y)
    part = xpnn.MLPClassifier(max_iter=2, **options).fit(X, y)
    save_model(tmp_path / "part.safetensors", part)
    loaded = load_model(tmp_path / "part.safetensors")[0]
    assert_params_equal(loaded.state_.params, part.state_.params)
    assert_params_equal(state_arrays(loaded.state_.opt_state),
                        state_arrays(part.state_.opt_state))
    assert loaded.state_.opt_state["step"] == part.state_.opt_state["step"] == 22
    part.set_params(max_iter=5)
    part.resume_fit(X, y)
    assert part.loss_curve_ == full.loss_curve_
    assert_params_equal(part.params_, full.params_)
    assert_params_equal(state_arrays(part.state_.opt_state),
                        state_arrays(full.state_.opt_state))
    assert part.state_.opt_state["step"] == full.state_.opt_state["step"] == 55

"""Dropout (issue 19): inverted dropout on the hidden layers' outputs while training.

Masks come from each backend's own generator on the device (``xpnn/backend/device_random.py``), a
pure function of (seed, position): reproducible on each backend, drawn again by the
divergence replay, continued exactly by a resumed or rolled-back run. Backends draw
different masks from one seed, so across backends the math is compared through one fixed
mask. The NumPy kernel's bit-for-bit case is in test_kernels.py, the data-parallel one in
mpi_jobs.py, the model-file ones in test_model_file.py.
"""
import warnings

import numpy as np
import pytest
from array_api_compat import device as device_of

import xpnn
from xpnn.training import dropout
from xpnn.core import mlp
from xpnn.backend.devices import as_host_array, numpy_backend
from xpnn.backend.device_random import bernoulli, jax_bernoulli, key_words, random_source
from xpnn.training.train import FitRun
from assertions import (assert_array_equal, assert_curve_close, assert_params_close,
                        assert_params_equal)
from clirun import xpnn as xpnn_cli
from clirun import xpnn_json
from conftest import backend_params, make_backend

RATES = (0.3, 0.2)
FIT = dict(hidden_layer_sizes=(16, 8), max_iter=3, batch_size=50, random_state=0,
           n_iter_no_change=np.inf)


def _fit(X, y, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few epochs on purpose
        return xpnn.MLPClassifier(**{**FIT, **options}).fit(X, y)


def _host(params):
    return {name: as_host_array(value).copy() for name, value in params.items()}


def _no_draws(monkeypatch):
    def refuse(*args):
        raise AssertionError("a mask was drawn")

    monkeypatch.setattr(dropout, "bernoulli", refuse)
    monkeypatch.setattr(dropout, "random_source", refuse)


# -- the random source ---------------------------------------------------------------------

def test_a_seed_and_position_give_the_same_bits_on_each_backend(backend):
    first, again = random_source(backend, 7), random_source(backend, 7)
    draws = [((40, 30), 0.5), ((40, 20), 0.5)]
    kept, second = bernoulli(first, (300, 2), draws)
    assert kept.dtype == backend.xp.bool and device_of(kept) == backend.device
    assert second.shape == (40, 20)
    host = as_host_array(kept)
    np.testing.assert_array_equal(host, as_host_array(bernoulli(again, (300, 2), draws)[0]))
    for other in (second[:, :20], bernoulli(first, (300, 3), draws)[0],
                  bernoulli(first, (350, 2), draws)[0],
                  bernoulli(random_source(backend, 8), (300, 2), draws)[0]):
        assert 0.35 < np.mean(as_host_array(other) != host[:, :other.shape[1]]) < 0.65


def test_the_jax_draw_is_a_pure_function_that_traces_under_jit():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    words = key_words(7, (2**40 + 3, 5))  # samples seen past 2**32: two words
    draws = (((60, 40), 0.7), ((60, 10), 0.5))
    eager = jax_bernoulli(words, draws)
    traced = jax.jit(jax_bernoulli, static_argnums=1)(
        jax.numpy.asarray(words, jax.numpy.uint32), draws)
    for a, b in zip(eager, traced):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert 0.6 < np.mean(np.asarray(eager[0])) < 0.8


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masks_keep_one_minus_p_of_the_units_scaled_by_its_inverse(backend, dtype):
    masks = dropout.Dropout((0.25, 0.0, 0.5), (300, 10, 200), 1, backend).masks(
        0, 1, 0, 400, backend.dtype(dtype))
    assert masks[1] is None  # a rate of 0 draws nothing for its layer
    for mask, rate in ((masks[0], 0.25), (masks[2], 0.5)):
        assert mask.dtype == backend.dtype(dtype)
        host = as_host_array(mask).astype(np.float64)
        scale = np.asarray(1.0 / (1.0 - rate), dtype=dtype)
        assert set(np.unique(host)) == {0.0, float(scale)}
        assert abs(np.mean(host > 0) - (1.0 - rate)) < 0.01  # 80 000 units: sd 0.002
        assert abs(np.mean(host) - 1.0) < 0.02  # inverted: the expected output is kept


def test_each_rank_keeps_its_own_rows_of_the_global_batchs_masks():
    backend = numpy_backend()
    whole = dropout.Dropout(RATES, (12, 8), 3, backend).masks(40, 2, 100, 107, np.float64)
    shares = [dropout.Dropout(RATES, (12, 8), 3, backend, rank, 3).masks(
        40, 2, 100, 107, np.float64) for rank in range(3)]
    for layer in range(2):
        np.testing.assert_array_equal(np.concatenate([s[layer] for s in shares]),
                                      whole[layer])


# -- training --------------------------------------------------------------------------

@pytest.mark.parametrize("off", [0.0, (0.0, 0.0)], ids=["0", "(0, 0)"])
def test_no_dropout_draws_nothing_and_trains_as_before(digits_data, monkeypatch, off):
    X, y = digits_data
    _no_draws(monkeypatch)
    reference = xpnn.MLPClassifier(**FIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X[:600], y[:600])
    model = _fit(X[:600], y[:600], dropout=off)
    assert model.loss_curve_ == reference.loss_curve_
    assert_params_equal(model.params_, reference.params_)


@pytest.mark.parametrize("name", backend_params())
def test_training_with_dropout_is_reproducible_on_each_backend(digits_data, name):
    backend = make_backend(name)
    X, y = backend.asarray(digits_data[0][:400]), backend.asarray(digits_data[1][:400])
    first, again = _fit(X, y, dropout=RATES), _fit(X, y, dropout=RATES)
    assert first.loss_curve_ == again.loss_curve_
    assert_params_equal(first.params_, again.params_)
    plain = _fit(X, y)
    assert plain.loss_curve_ != first.loss_curve_


def test_prediction_draws_no_masks_and_is_the_plain_forward_pass(digits_data, monkeypatch):
    X, y = digits_data
    model = _fit(X[:600], y[:600], dropout=0.5)
    _no_draws(monkeypatch)
    probs = model.predict_proba(X)
    np.testing.assert_array_equal(probs, model.predict_proba(X))
    logits = mlp.predict_outputs(model.params_, X.astype(model.dtype_), numpy_backend().xp)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(axis=1, keepdims=True),
                               rtol=1e-12)
    model.evaluate(X, y)
    model.score(X, y)


@pytest.mark.parametrize("other", backend_params(("array_api_strict", "torch", "jax", "cupy")))
@pytest.mark.parametrize("activation", ["relu", "tanh", "silu"])
def test_one_fixed_mask_gives_the_same_gradients_on_every_backend(other, activation,
                                                                  digits_data):
    X, y = digits_data[0][:60], digits_data[1][:60]
    spec = mlp.MLPSpec(activation, "softmax", alpha=1e-2)
    rng = np.random.default_rng(0)
    sizes = mlp.layer_sizes(64, (24, 12), 10)
    host_masks = [(rng.random((60, width)) >= 0.3) / 0.7 for width in (24, 12)]
    results = {}
    for name in ("numpy", other):
        backend = make_backend(name)
        params = mlp.init_params(sizes, np.random.default_rng(1), "float64", backend,
                                 activation)
        masks = [backend.asarray(mask, dtype="float64") for mask in host_masks]
        loss, grads, _ = mlp.loss_and_grads(params, backend.asarray(X, dtype="float64"),
                                            backend.asarray(y), backend.xp, spec, None, masks)
        results[name] = (float(as_host_array(loss)), _host(grads))
    assert_curve_close([results[other][0]], [results["numpy"][0]], dtype="float64")
    assert_params_close(results[other][1], results["numpy"][1], dtype="float64")
    no_mask = mlp.loss_and_grads(mlp.init_params(sizes, np.random.default_rng(1), "float64",
                                                 numpy_backend(), activation), X, y,
                                 numpy_backend().xp, spec)[0]
    assert float(no_mask) != results["numpy"][0]  # the mask did drop units


@pytest.mark.parametrize("activation", ["relu", "tanh", "silu", "gelu"])
def test_gradients_through_a_fixed_mask_match_finite_differences(backend, activation):
    errors = xpnn.gradcheck_report(hidden=(6, 5), n_features=5, n_classes=3, n_samples=9,
                                   seed=4, backend=backend, activation=activation, alpha=0.3,
                                   weighted=True, dropout=0.4)
    assert max(errors.values()) < 1e-6, errors


def test_the_divergence_replay_draws_the_masks_of_the_step_it_replays(digits_data,
                                                                      monkeypatch):
    X, y = digits_data
    drawn = {}
    original = FitRun.masks

    def recording(self, step, start, stop):
        masks = original(self, step, start, stop)
        drawn.setdefault((self.state.samples_seen, step), []).append(
            [np.array(mask, copy=True) for mask in masks])
        return masks

    monkeypatch.setattr(FitRun, "masks", recording)
    with pytest.raises(xpnn.DivergenceError) as info:
        _fit(X, y, hidden_layer_sizes=(32,), batch_size=64, learning_rate_init=1e10,
             solver="sgd", momentum=0.0, dropout=0.2, check_every=2)
    replayed = [key for key, draws in drawn.items() if len(draws) > 1]
    assert replayed and (0, info.value.step) in replayed
    for key in replayed:
        for again in drawn[key][1:]:
            np.testing.assert_array_equal(again[0], drawn[key][0][0])


def test_a_resumed_model_file_continues_as_an_uninterrupted_run(digits_data, tmp_path):
    from xpnn.saving.checkpoint import load_model, save_model

    X, y = digits_data
    full = _fit(X, y, dropout=RATES, max_iter=4)
    part = _fit(X, y, dropout=RATES, max_iter=2)
    save_model(tmp_path / "m.safetensors", part)
    resumed = load_model(tmp_path / "m.safetensors")[0]
    assert resumed.dropout == list(RATES)
    resumed.set_params(max_iter=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed.resume_fit(X, y)
    assert resumed.loss_curve_ == full.loss_curve_
    assert_params_equal(resumed.params_, full.params_)
    resumed.set_params(dropout=0.1)
    with pytest.raises(ValueError, match="dropout changed since it was fitted"):
        resumed.resume_fit(X, y)


def test_an_interrupt_mid_epoch_rolls_back_and_resumes_to_the_same_end(digits_data):
    from xpnn.training.train import TrainingInterrupted

    X, y = digits_data
    calls = {"steps": 0}

    def interrupt_in_epoch_3(step, steps_in_epoch):
        calls["steps"] += 1
        if calls["steps"] == 2 * steps_in_epoch + 4:
            raise KeyboardInterrupt

    model = xpnn.MLPClassifier(**{**FIT, "max_iter": 4, "dropout": RATES})
    with pytest.raises(TrainingInterrupted):
        model.fit(X, y, on_step=interrupt_in_epoch_3, on_interrupt="raise")
    assert model.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.resume_fit(X, y)
    assert_params_equal(model.params_, _fit(X, y, dropout=RATES, max_iter=4).params_)


def test_every_epoch_of_partial_fit_draws_new_masks(digits_data, monkeypatch):
    X, y = digits_data
    seen = []
    original = FitRun.masks

    def recording(self, step, start, stop):
        seen.append(self.state.samples_seen)
        return original(self, step, start, stop)

    monkeypatch.setattr(FitRun, "masks", recording)
    model = xpnn.MLPClassifier(**{**FIT, "dropout": 0.2})
    for _ in range(3):
        model.partial_fit(X[:200], y[:200], classes=np.arange(10))
    assert sorted(set(seen)) == [0, 200, 400]


def test_the_regressor_takes_dropout_too(digits_data):
    X, y = digits_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = xpnn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=20, random_state=0,
                                  dropout=0.1).fit(X, y / 9.0)
    assert model.score(X, y / 9.0) > 0.5
    assert_array_equal(model.predict(X), model.predict(X))


@pytest.mark.parametrize("options, message", [
    (dict(dropout=1.0), "'dropout' parameter"),
    (dict(dropout=-0.1), "'dropout' parameter"),
    (dict(dropout="0.2"), "'dropout' parameter"),
    (dict(dropout=(0.2,)), "one such rate per hidden layer (2)"),
    (dict(dropout=(0.2, 1.0)), "one such rate per hidden layer"),
    (dict(dropout=0.2, solver="lbfgs"), "solver='lbfgs'"),
])
def test_bad_dropout_settings_are_refused(digits_data, options, message):
    X, y = digits_data
    model = xpnn.MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=1, **options)
    with pytest.raises(ValueError) as info:
        model.fit(X[:50], y[:50])
    assert message in str(info.value)
    assert not hasattr(model, "state_")


# -- the command line --------------------------------------------------------------------

@pytest.mark.parametrize("flags, needle", [
    (["--dropout", "1"], "expected a rate in [0, 1)"),
    (["--dropout", "abc"], "expected a rate in [0, 1)"),
    (["--dropout", "0.2,,0.1"], "expected a rate in [0, 1)"),
    (["--dropout", "-0.1"], "expected a rate in [0, 1)"),
    (["--dropout", "0.2,0.1,0.1", "--hidden", "8,8"], "--hidden 8,8 has 2"),
    (["--dropout", "0.2,0.1", "--hidden", "8"], "--hidden 8 has 1"),
])
def test_bad_dropout_flags_are_one_line_errors(flags, needle):
    result = xpnn_cli("train", "--epochs", "1", *flags)
    assert result.returncode == 2
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_dropout_flag_trains_saves_and_is_fixed_on_resume(tmp_path):
    from xpnn.saving.checkpoint import load_model

    path = tmp_path / "m.safetensors"
    summary = xpnn_json("train", "--epochs", "1", "--hidden", "8,8", "--dropout", "0.2,0.1",
                        "--save", path)
    assert summary["epochs"] == 1
    assert load_model(path)[0].dropout == [0.2, 0.1]
    again = xpnn_json("train", "--resume", path, "--epochs", "2", "--dropout", "0.2,0.1")
    assert again["epochs"] == 2
    result = xpnn_cli("train", "--resume", path, "--epochs", "2", "--dropout", "0.3")
    assert result.returncode == 2 and "--dropout cannot change on --resume" in result.stderr


def test_the_gradcheck_command_checks_through_a_fixed_mask():
    result = xpnn_cli("gradcheck", "--dropout", "0.3")
    assert result.returncode == 0 and "gradcheck passed" in result.stdout
    bad = xpnn_cli("gradcheck", "--dropout", "1")
    assert bad.returncode == 2 and "expected a rate in [0, 1)" in bad.stderr

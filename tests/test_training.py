"""Training behaviour: learning, stability, divergence, early stopping, float32 end to end."""
import warnings

import numpy as np
import pytest

import xpnn
from xpnn.core import mlp
from xpnn.backend.devices import as_host_array
from xpnn.data.split import stratified_split
from xpnn.core.optim import state_arrays
from assertions import assert_params_equal


def _split(X, y, seed=0):
    train_idx, test_idx = stratified_split(y, 0.25, np.random.default_rng(seed))
    return X[train_idx], y[train_idx], X[test_idx], y[test_idx]


def test_original_full_batch_gradient_descent_no_longer_diverges(digits_data):
    """The learner's setting: one hidden layer of 20, full batch, 500+ plain GD steps."""
    X, y = digits_data
    X_train, y_train, X_test, y_test = _split(X, y)
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(20,), max_iter=600, batch_size="full",
                             learning_rate_init=0.5, solver="sgd", momentum=0.0, alpha=0.0,
                             n_iter_no_change=np.inf, random_state=0).fit(X_train, y_train)
    losses = [row["loss"] for row in clf.history_]
    assert len(losses) == 600 and np.all(np.isfinite(losses))
    assert losses[-1] < 0.1 * losses[0]
    # it learned every digit, not one: the original collapsed to a single prediction
    predicted = clf.predict(X_test)
    assert len(np.unique(predicted)) == 10
    assert clf.score(X_test, y_test) > 0.93


def test_absurd_learning_rate_raises_divergence_within_the_first_epoch(digits_data):
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, batch_size=64,
                             learning_rate_init=1e10, solver="sgd", momentum=0.0, random_state=0)
    with pytest.raises(xpnn.DivergenceError) as info:
        clf.fit(X, y)
    error = info.value
    assert error.epoch == 1 and error.step >= 1 and error.layer >= 1
    message = str(error)
    assert f"epoch 1, step {error.step}" in message
    assert "lower learning rate" in message and "layer" in message
    # the weights kept are those of the last finite step
    for name, value in clf.params_.items():
        assert np.all(np.isfinite(as_host_array(value))), name
    assert clf.history_ == []


def test_divergence_is_a_value_error_as_scikit_learns_failed_fit(digits_data):
    """Code written for scikit-learn (``except ValueError``) catches a diverging fit; the
    error is still an ArithmeticError, as before."""
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, batch_size=64,
                             learning_rate_init=1e10, solver="sgd", momentum=0.0, random_state=0)
    caught = None
    try:
        clf.fit(X, y)
    except ValueError as exc:
        caught = exc
    assert isinstance(caught, xpnn.DivergenceError) and isinstance(caught, ArithmeticError)
    from xpnn.cli.parser import exit_status  # an XpnnError as every error for a person; the
    assert isinstance(caught, xpnn.XpnnError) and exit_status(caught) == 3  # CLI exits 3, not 2


def test_divergence_is_pinned_to_the_same_step_with_frequent_checks(digits_data):
    """Replays from the epoch start (0, 3) and from mid-epoch checkpoints (1, 2) agree."""
    X, y = digits_data
    errors = []
    for check_every in (0, 1, 2, 3):
        clf = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=2, batch_size=64,
                                 learning_rate_init=1e10, solver="sgd", momentum=0.0,
                                 check_every=check_every, random_state=0)
        with pytest.raises(xpnn.DivergenceError) as info:
            clf.fit(X, y)
        errors.append((info.value.epoch, info.value.step, info.value.layer))
        for name, value in clf.params_.items():
            assert np.all(np.isfinite(as_host_array(value))), (check_every, name)
    assert errors[0][1] >= 3  # so that check_every 1 and 2 replay from a mid-epoch checkpoint
    assert errors == [errors[0]] * 4


def test_float32_stays_float32_everywhere(digits_data):
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=2, solver="adamw",
                             weight_decay=1e-2, dtype="float32").fit(X, y)  # X is float64: cast once at the entry
    for name, value in {**clf.params_, **state_arrays(clf.state_.opt_state)}.items():
        assert value.dtype == np.float32, name
    assert clf.predict_proba(X).dtype == np.float32
    loss, _ = clf.evaluate(X, y)
    assert isinstance(loss, float)


def test_float64_on_request(digits_data):
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, dtype="float64").fit(X, y)
    assert all(value.dtype == np.float64 for value in clf.params_.values())
    assert clf.predict_proba(X).dtype == np.float64


SOLVERS = {  # the CLI's --optimizer names, as estimator parameters
    "sgd": {"solver": "sgd", "momentum": 0.0, "learning_rate_init": 0.1},
    "momentum": {"solver": "sgd", "nesterovs_momentum": False, "learning_rate_init": 0.05},
    "nesterov": {"solver": "sgd", "learning_rate_init": 0.05},
    "adam": {"solver": "adam", "learning_rate_init": 3e-3},
    "adamw": {"solver": "adamw", "weight_decay": 1e-4, "learning_rate_init": 3e-3},
    "lbfgs": {"solver": "lbfgs", "max_iter": 200},
}


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_every_solver_learns_digits(digits_data, solver):
    X, y = digits_data
    X_train, y_train, X_test, y_test = _split(X, y)
    options = {"max_iter": 15, **SOLVERS[solver]}
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(64,), batch_size=32, random_state=0,
                             **options).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.93


def test_early_stopping_restores_the_best_weights(digits_data):
    """scikit-learn's rule: stop once the validation accuracy has not improved by tol for
    more than n_iter_no_change epochs; the weights of the best epoch come back."""
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, batch_size=16,
                             learning_rate_init=1e-2, validation_fraction=0.3,
                             early_stopping=True, n_iter_no_change=3, random_state=1).fit(X, y)
    history = clf.history_
    assert clf.state_.converged and len(history) < 60
    scores = clf.validation_scores_
    assert scores == [row["val_accuracy"] for row in history]
    assert clf.best_validation_score_ == max(scores) and clf.best_loss_ is None
    best = int(np.argmax(scores))  # the first epoch reaching the best score
    assert clf.state_.best_epoch == best + 1
    assert len(history) >= best + 1 + 4  # stopped after more than 3 epochs without progress
    assert set(history[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds",
                               "learning_rate"}
    # the restored weights reproduce the best epoch's validation accuracy and loss
    _, val_idx = stratified_split(y, 0.3, np.random.default_rng([1, 1]))  # the split's stream
    loss, accuracy = clf.evaluate(X[val_idx], y[val_idx])
    assert accuracy == pytest.approx(scores[best], abs=1e-12)
    assert loss == pytest.approx(history[best]["val_loss"], rel=1e-5)


def test_a_binary_class_of_one_member_refuses_early_stopping_as_scikit_learn():
    """scikit-learn stratifies the held-out split of a binary y (train_test_split with
    stratify=y), which refuses a class of one member; xpnn names the class. A multiclass y
    scikit-learn splits unstratified, and both fit: xpnn's stratified split keeps the lone
    member in the training part."""
    from sklearn.neural_network import MLPClassifier

    X = np.random.default_rng(0).normal(size=(21, 3))
    message = ("The least populated classes in y have only 1 member, which is too few. The "
               "minimum number of groups for any class cannot be less than 2. Classes with "
               "too few members are: ")
    for y, names in ((np.array([0] * 20 + [1]), "[1]"),
                     (np.array(["a"] * 20 + ["b"]), "['b']")):
        with pytest.raises(ValueError) as theirs:
            MLPClassifier(early_stopping=True, max_iter=2).fit(X, y)
        assert str(theirs.value).startswith(message)
        with pytest.raises(ValueError) as ours:
            xpnn.MLPClassifier(early_stopping=True, max_iter=2).fit(X, y)
        assert str(ours.value) == message + names
    y = np.array([0] * 10 + [1] * 10 + [2])
    MLPClassifier(early_stopping=True, max_iter=2).fit(X, y)
    assert 2 in xpnn.MLPClassifier(early_stopping=True, max_iter=2).fit(X, y).classes_


def test_training_loss_plateau_stops_and_max_iter_warns(digits_data):
    """Without early stopping: stop when the training loss has not improved by tol for more
    than n_iter_no_change epochs; reaching max_iter first warns ConvergenceWarning."""
    from sklearn.exceptions import ConvergenceWarning

    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, tol=0.05,
                             n_iter_no_change=2, random_state=0).fit(X, y)
    losses = clf.loss_curve_
    assert clf.state_.converged and clf.n_iter_ == len(losses) < 500
    assert all(losses[-i] > clf.best_loss_ - 0.05 for i in (1, 2, 3))
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)


def test_adaptive_learning_rate_divides_by_five_on_plateaus(digits_data):
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), solver="sgd", learning_rate="adaptive",
                             learning_rate_init=0.1, tol=10.0, n_iter_no_change=1,
                             max_iter=100, random_state=0).fit(X, y)
    # every second epoch ends a plateau (tol 10 is never met): the rate is divided by 5
    # while it is above 1e-6 (0.1 * 0.2^7 = 1.28e-6 -> 2.56e-7), then training stops
    assert clf.state_.converged
    assert clf.state_.lr_factor == pytest.approx(0.2 ** 8)
    # the first epoch improves on an infinite best loss; then 8 divisions and the stop,
    # each after 2 epochs without improvement
    assert clf.n_iter_ == 1 + 2 * 9


def test_same_seed_same_history_different_seed_different(digits_data):
    X, y = digits_data
    runs = [xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=s).fit(X, y).history_
            for s in (4, 4, 5)]
    strip = [[{k: v for k, v in row.items() if k != "seconds"} for row in h] for h in runs]
    assert strip[0] == strip[1] and strip[0] != strip[2]


def test_interrupt_mid_epoch_rolls_back_to_the_last_completed_epoch(digits_data):
    from xpnn.training.train import TrainingInterrupted

    X, y = digits_data
    calls = {"steps": 0}

    def interrupt_in_epoch_3(step, steps_in_epoch):
        assert steps_in_epoch == 15  # 1797 rows at batch 128
        calls["steps"] += 1
        if calls["steps"] == 2 * 15 + 4:
            raise KeyboardInterrupt

    kwargs = dict(hidden_layer_sizes=(16,), batch_size=128, random_state=2)
    clf = xpnn.MLPClassifier(max_iter=5, **kwargs)
    with pytest.raises(TrainingInterrupted) as info:
        clf.fit(X, y, on_step=interrupt_in_epoch_3, on_interrupt="raise")
    assert info.value.state.epoch == 2 and len(clf.history_) == 2
    assert_params_equal(clf.params_, xpnn.MLPClassifier(max_iter=2, **kwargs).fit(X, y).params_)
    clf.resume_fit(X, y)  # and it resumes to the same end as an uninterrupted run
    assert_params_equal(clf.params_, xpnn.MLPClassifier(max_iter=5, **kwargs).fit(X, y).params_)


@pytest.mark.parametrize("where", ["after_epoch", "_completed_epoch"])
def test_interrupt_between_two_epochs_keeps_the_last_completed_one(monkeypatch, digits_data,
                                                                   where):
    """A lone process takes Ctrl-C wherever it is: after an epoch's row (the plateau rule)
    or before the next epoch's start (its snapshot) it is the training's interrupt too, with
    the last completed epoch: what the CLI saves as a resumable checkpoint."""
    from xpnn.training.train import FitRun, TrainingInterrupted

    X, y = digits_data
    original = getattr(FitRun, where)
    epochs = {"seen": 0}

    def interrupted_at_the_third(self, *args):
        epochs["seen"] += 1
        if epochs["seen"] == 3:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(FitRun, where, interrupted_at_the_third)
    kwargs = dict(hidden_layer_sizes=(16,), batch_size=128, random_state=2)
    clf = xpnn.MLPClassifier(max_iter=5, **kwargs)
    with pytest.raises(TrainingInterrupted) as info:
        clf.fit(X, y, on_interrupt="raise")
    done = 3 if where == "after_epoch" else 2  # the 3rd epoch's row, or 2 before the 3rd
    assert info.value.state.epoch == done and len(clf.history_) == done
    monkeypatch.undo()
    assert_params_equal(clf.params_,
                        xpnn.MLPClassifier(max_iter=done, **kwargs).fit(X, y).params_)


def test_no_float64_anywhere_in_a_float32_step(backend, digits_data):
    """Forward activations, logits, loss, every gradient and the updated state: float32."""
    from xpnn.core import mlp
    from xpnn.core.optim import make_optimizer

    X, y = digits_data
    xp = backend.xp
    params = mlp.init_params(mlp.layer_sizes(64, (16, 8), 10), np.random.default_rng(0),
                             "float32", backend)
    inputs, labels = backend.asarray(X[:32], "float32"), backend.asarray(y[:32])
    logits, trace = mlp.forward(params, inputs, xp)
    loss, grads, _ = mlp.loss_and_grads(params, inputs, labels, xp)
    arrays = [logits, loss, *trace.layer_inputs, *trace.derivative_inputs, *grads.values()]
    for name in ("adam", "adamw", "sgd"):
        optimizer = make_optimizer(name, 1e-3, weight_decay=1e-2)
        state = optimizer.init_state(params, xp)
        fresh = {k: v + 0.0 for k, v in grads.items()}
        new_params, state = optimizer.update(dict(params), fresh, state, xp, rate_factor=0.5)
        arrays += [*new_params.values(), *state_arrays(state).values()]
    assert all(a.dtype == xp.float32 for a in arrays), [a.dtype for a in arrays]


def _count_host_reads(monkeypatch):
    """Count every way an array-api-strict array reaches the host."""
    from array_api_strict._array_object import Array

    reads = {"count": 0}
    for method in ("__dlpack__", "__float__", "__int__", "__bool__", "__index__", "__array__",
                   "tolist", "item"):
        real = getattr(Array, method, None)
        if real is None:
            continue

        def counting(self, *args, _real=real, **kwargs):
            reads["count"] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Array, method, counting)
    return reads


def test_no_host_reads_inside_an_epoch(digits_data, monkeypatch):
    """The count of host reads per fit does not grow with the number of steps (no per-step
    sync, which would stall a GPU)."""
    import array_api_strict
    from conftest import make_backend

    backend = make_backend("array_api_strict")
    X, y = digits_data
    reads = _count_host_reads(monkeypatch)
    counts = {}
    for batch_size in (512, 16):  # 4 vs 113 steps per epoch
        clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, batch_size=batch_size)
        X_dev, y_dev = backend.asarray(X, "float32"), backend.asarray(y)
        reads["count"] = 0
        clf.fit(X_dev, y_dev)
        counts[batch_size] = reads["count"]
    assert counts[16] == counts[512], counts
    assert 0 < counts[16] <= 8, counts  # labels/finiteness at the start, then 1 per epoch
    assert isinstance(X_dev, array_api_strict._array_object.Array)


@pytest.mark.parametrize("val_fraction", [0.0, 0.2])
def test_one_host_read_per_epoch(digits_data, monkeypatch, val_fraction):
    """Finite flag, loss sum, correct count (and the validation sums) come back in ONE read
    per epoch: each extra epoch costs exactly one more read."""
    from conftest import make_backend

    backend = make_backend("array_api_strict")
    X, y = digits_data
    X_dev, y_dev = backend.asarray(X, "float32"), backend.asarray(y)
    reads = _count_host_reads(monkeypatch)
    counts = {}
    for epochs in (2, 5):
        reads["count"] = 0
        clf = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=epochs, batch_size=256,
                                 early_stopping=bool(val_fraction), n_iter_no_change=np.inf,
                                 validation_fraction=val_fraction or 0.1)
        clf.fit(X_dev, y_dev)
        counts[epochs] = reads["count"]
        assert clf.history_[-1]["loss"] > 0
        assert (clf.history_[-1]["val_loss"] is not None) == bool(val_fraction)
    assert counts[5] - counts[2] == 3, counts


def test_string_class_labels_with_a_namespace_that_has_no_string_dtype(digits_data):
    """Class names stay on the host: array-api-strict X (like CuPy) with string labels."""
    from conftest import make_backend

    backend = make_backend("array_api_strict")
    X, y = digits_data
    names = np.asarray(["zero", "one", "two", "three", "four", "five", "six", "seven",
                        "eight", "nine"])[y]
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=15, batch_size=32)
    clf.fit(backend.asarray(X, "float32"), names)
    assert clf.classes_.dtype.kind == "U" and set(clf.classes_) == set(names)
    predicted = clf.predict(backend.asarray(X, "float32"))
    assert isinstance(predicted, np.ndarray) and predicted.dtype.kind == "U"
    assert np.mean(predicted == names) > 0.9
    assert clf.score(backend.asarray(X, "float32"), names) > 0.9


def test_resuming_an_early_stopped_model_trains_on_and_keeps_best_weights_apart(digits_data):
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, batch_size=16,
                             learning_rate_init=1e-2, validation_fraction=0.3,
                             early_stopping=True, n_iter_no_change=2, random_state=1).fit(X, y)
    stopped_at = clf.state_.epoch
    assert clf.state_.converged and stopped_at < 200
    best = {k: np.array(v, copy=True) for k, v in clf.state_.best_params.items()}
    assert_params_equal(clf.params_, best)  # predicting: the best epoch's weights
    for name, value in clf.params_.items():  # training goes on from the last epoch's
        assert value is not clf.state_.params[name], name
    clf.n_iter_no_change = 6
    clf.max_iter = stopped_at + 40
    clf.resume_fit(X, y)
    assert clf.state_.epoch > stopped_at + 1  # not stopped at once by a stale counter
    if clf.state_.best_epoch <= stopped_at:  # no new best: the old best weights come back
        assert_params_equal(clf.params_, best)
    else:  # a new best: its own weights, kept apart from the last epoch's
        assert clf.best_validation_score_ == max(clf.validation_scores_)
        assert_params_equal(clf.params_, clf.state_.best_params)
        assert not np.array_equal(clf.params_["w1"], best["w1"])
    assert clf.validation_scores_[clf.state_.best_epoch - 1] == clf.best_validation_score_


def test_warm_start_and_partial_fit_continue_from_the_fitted_weights(digits_data):
    X, y = digits_data
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, warm_start=True,
                             random_state=0, n_iter_no_change=np.inf).fit(X, y)
    first = clf.loss_curve_[:]
    clf.fit(X, y)  # warm start: 3 more epochs from these weights (scikit-learn's semantics)
    assert clf.n_iter_ == 3 and clf.loss_curve_[:3] == first and len(clf.loss_curve_) == 6
    assert clf.loss_curve_[3] < first[0]
    online = xpnn.MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=1e-2,
                                batch_size=50, random_state=0)
    for start in list(range(0, 1500, 300)) * 2:  # five chunks twice, one epoch each call
        online.partial_fit(X[start:start + 300], y[start:start + 300], classes=np.arange(10))
    assert online.n_iter_ == 1 and online.t_ == 3000 and len(online.loss_curve_) == 10
    assert online.score(X[1500:], y[1500:]) > 0.85
    with pytest.raises(ValueError, match="classes must be passed"):
        xpnn.MLPClassifier().partial_fit(X[:10], y[:10])


def test_resuming_with_early_stopping_equals_an_uninterrupted_run(digits_data):
    """The last epoch's weights go on training; the best epoch's are the ones predicting."""
    X, y = digits_data
    kwargs = dict(hidden_layer_sizes=(16,), random_state=0, dtype="float64",
                  learning_rate_init=0.3, early_stopping=True, n_iter_no_change=100)
    full = xpnn.MLPClassifier(max_iter=12, **kwargs).fit(X, y)
    part = xpnn.MLPClassifier(max_iter=6, **kwargs).fit(X, y)
    part.set_params(max_iter=12)
    part.resume_fit(X, y)
    assert part.validation_scores_ == full.validation_scores_
    assert_params_equal(part.state_.params, full.state_.params)
    best = int(np.argmax(full.validation_scores_))
    assert full.best_validation_score_ == full.validation_scores_[best]
    np.testing.assert_array_equal(full.predict_proba(X), part.predict_proba(X))


def test_warm_start_keeps_the_best_weights_of_the_earlier_fit(digits_data):
    X, y = digits_data
    model = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0,
                               early_stopping=True, warm_start=True, n_iter_no_change=3)
    model.fit(X, y)
    best, best_score = {k: v.copy() for k, v in model.params_.items()}, model.best_validation_score_
    model.set_params(learning_rate_init=0.5, max_iter=3).fit(X, y)  # a worse second fit
    assert max(model.validation_scores_[-3:]) < best_score  # its 3 epochs: all worse
    assert model.best_validation_score_ == best_score  # so the old best weights stay
    assert_params_equal(model.params_, best)


def test_a_failed_first_partial_fit_leaves_nothing_behind(digits_data):
    X, y = digits_data
    bad = X[:50].copy()
    bad[0, 0] = np.nan
    model = xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        model.partial_fit(bad, y[:50], classes=[0, 1])
    model.fit(X, y)  # learns all ten classes, not the two the failed call named
    assert list(model.classes_) == list(range(10))


def test_cosine_has_no_horizon_in_partial_fit_and_a_zero_rate_moves_nothing(digits_data):
    X, y = digits_data
    with pytest.raises(ValueError, match="cosine"):
        xpnn.MLPClassifier(learning_rate="cosine").partial_fit(X, y, classes=range(10))
    model = xpnn.MLPClassifier(hidden_layer_sizes=(8,), learning_rate="cosine", max_iter=2,
                               batch_size=50, random_state=0).fit(X, y)
    before = {k: v.copy() for k, v in model.state_.params.items()}
    model.set_params(max_iter=3)
    model.resume_fit(X[:100], y[:100])  # past the planned horizon: a rate of 0, no update
    assert_params_equal(model.state_.params, before)


def test_batches_whose_rows_all_weigh_zero_are_skipped(digits_data):
    X, y = digits_data
    weights = np.ones(len(y))
    weights[:300] = 0.0  # the first three batches, without shuffling
    model = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, batch_size=100,
                               learning_rate_init=1e-2, shuffle=False, random_state=0)
    model.fit(X, y, sample_weight=weights)
    assert np.all(np.isfinite(model.loss_curve_)) and model.score(X[300:], y[300:]) > 0.8
    steps_per_epoch = int(np.ceil(len(y) / 100)) - 3
    assert model.state_.opt_state["step"] == 20 * steps_per_epoch  # 3 a epoch skipped
    # the same steps as training on the weighted rows alone (same batches, same start)
    alone = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, batch_size=100,
                               learning_rate_init=1e-2, shuffle=False, random_state=0)
    alone.fit(X[300:], y[300:])
    for name, value in alone.params_.items():  # a weighted mean of weights 1: to rounding
        np.testing.assert_allclose(model.params_[name], value, rtol=1e-9, atol=1e-12)


def test_scikit_learns_schedules_apply_to_sgd_only(digits_data):
    X, y = digits_data
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    constant = xpnn.MLPClassifier(**kwargs).fit(X, y)
    for schedule in ("invscaling", "adaptive"):
        adam = xpnn.MLPClassifier(learning_rate=schedule, **kwargs).fit(X, y)
        assert adam.loss_curve_ == constant.loss_curve_  # as scikit-learn: ignored by adam
    sgd = [xpnn.MLPClassifier(solver="sgd", learning_rate=s, **kwargs).fit(X, y).loss_curve_
           for s in ("constant", "invscaling")]
    assert sgd[0] != sgd[1]


def test_lbfgs_resume_runs_up_to_max_iter_in_all(digits_data):
    X, y = digits_data
    model = xpnn.MLPClassifier(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=5,
                               random_state=0).fit(X, y)
    assert model.n_iter_ == 5
    model.resume_fit(X, y)
    assert model.n_iter_ == 5
    model.set_params(max_iter=8)
    model.resume_fit(X, y)
    assert model.n_iter_ == 8


def test_weighted_steps_with_l2_are_the_reference_math_bit_for_bit(digits_data):
    """An epoch of fit (float32, row weights, alpha, batches in order) is, batch by batch,
    mlp.loss_and_grads, whose L2 term divides by the batch's weights summed on the device,
    and SGD's update: the same bits."""
    from xpnn.backend.devices import numpy_backend

    X, y = digits_data[0][:257].astype(np.float32), digits_data[1][:257]
    weights = (np.random.default_rng(5).exponential(size=257) * 3.7).astype(np.float32)
    clf = xpnn.MLPClassifier((12,), solver="sgd", momentum=0.0, alpha=0.3, batch_size=16,
                             shuffle=False, learning_rate_init=0.1, max_iter=1, random_state=0)
    clf.fit(X, y, sample_weight=weights)
    expected = {name: np.array(value, copy=True) for name, value in clf.state_.params.items()}
    clf.set_params(max_iter=2).resume_fit(X, y, sample_weight=weights)  # one epoch more
    for start in range(0, 257, 16):
        rows = slice(start, start + 16)
        _, grads, _ = mlp.loss_and_grads(expected, X[rows], y[rows], numpy_backend().xp,
                                         clf._spec(), weights[rows])
        expected = {name: expected[name] - 0.1 * grads[name] for name in expected}
    assert_params_equal(clf.state_.params, expected)


def test_an_interrupted_cosine_run_resumed_to_its_planned_epochs_is_the_uninterrupted_run(
        digits_data):
    """README: the cosine schedule decays over the planned max_iter epochs; a run stopped by
    Ctrl-C in epoch 3 and resumed to them equals the run that was never stopped."""
    from xpnn.training.train_state import TrainingInterrupted

    X, y = digits_data
    kwargs = dict(hidden_layer_sizes=(16,), learning_rate="cosine", learning_rate_init=0.01,
                  batch_size=128, max_iter=5, random_state=0)
    steps = {"n": 0}

    def ctrl_c_in_epoch_3(step, steps_in_epoch):
        steps["n"] += 1
        if steps["n"] == 2 * steps_in_epoch + 5:
            raise KeyboardInterrupt

    stopped = xpnn.MLPClassifier(**kwargs)
    with pytest.raises(TrainingInterrupted):
        stopped.fit(X, y, on_step=ctrl_c_in_epoch_3, on_interrupt="raise")
    assert stopped.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stopped.resume_fit(X, y)
        whole = xpnn.MLPClassifier(**kwargs).fit(X, y)
    assert stopped.n_iter_ == 5
    assert [row["learning_rate"] for row in stopped.history_] == [
        row["learning_rate"] for row in whole.history_]
    assert_params_equal(stopped.params_, whole.params_)

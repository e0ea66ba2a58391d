"""Behaviour scikit-learn's MLP has and no contract check names: Ctrl-C during fit, n_iter_
after partial_fit, the validation of every parameter. Each compared with scikit-learn's own
MLPClassifier where it has the behaviour (the optimizers' updates: test_sklearn_optimizers)."""
import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.utils._param_validation import InvalidParameterError

import xpnn
from assertions import assert_params_equal

FIT = dict(hidden_layer_sizes=(16,), batch_size=128, random_state=2)


def _interrupt_at(step_number):
    calls = {"steps": 0}

    def on_step(step, steps_in_epoch):
        calls["steps"] += 1
        if calls["steps"] == step_number:
            raise KeyboardInterrupt

    return on_step


def test_ctrl_c_in_fit_warns_and_keeps_the_model_as_fitted_so_far(digits_data):
    """scikit-learn's MLP: "Training interrupted by user." and fit returns the model; xpnn's
    keeps the last completed epoch (the interrupted one is rolled back)."""
    X, y = digits_data
    model = xpnn.MLPClassifier(max_iter=5, **FIT)
    with pytest.warns(UserWarning, match="^Training interrupted by user.$"):
        returned = model.fit(X, y, on_step=_interrupt_at(2 * 15 + 4))  # in epoch 3
    assert returned is model and model.n_iter_ == 2 and len(model.loss_curve_) == 2
    assert_params_equal(model.params_, xpnn.MLPClassifier(max_iter=2, **FIT).fit(X, y).params_)
    assert model.score(X, y) > 0.2  # it predicts: better than chance (0.1) after 2 epochs
    with pytest.raises(ValueError, match="on_interrupt must be one of"):
        model.fit(X, y, on_interrupt="ignore")


def test_an_interrupted_fit_warns_nothing_else(digits_data):
    X, y = digits_data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xpnn.MLPClassifier(max_iter=5, **FIT).fit(X, y, on_step=_interrupt_at(20))
    assert [str(w.message) for w in caught] == ["Training interrupted by user."]


def test_n_iter_after_partial_fit_is_per_call_as_scikit_learns(digits_data):
    X, y = digits_data
    ours = xpnn.MLPClassifier(hidden_layer_sizes=(16,), random_state=0)
    theirs = SklearnMLP(hidden_layer_sizes=(16,), random_state=0)
    for start in (0, 600, 1200):
        for model in (ours, theirs):
            model.partial_fit(X[start:start + 600], y[start:start + 600], classes=np.arange(10))
        assert ours.n_iter_ == theirs.n_iter_ == 1
        assert ours.t_ == theirs.t_ == min(start + 600, len(y))  # samples seen in all
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in (ours, theirs):  # fit after partial_fit counts its own epochs
            model.set_params(max_iter=2).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 2


@pytest.mark.parametrize("estimator", [xpnn.MLPClassifier, xpnn.MLPRegressor])
@pytest.mark.parametrize("name, value, expected", [
    ("device", "gpu", "'device' parameter .* must be None or a device string: 'cpu', "
                      "'cuda' or 'cuda:N'"),
    ("device", 0, "'device' parameter"),
    ("comm", object(), "'comm' parameter .* must be None or an object implementing "
                       "'Get_rank', 'Get_size' and 'Allreduce'"),
])
def test_device_and_comm_are_validated_with_the_other_parameters(digits_data, estimator,
                                                                   name, value, expected):
    X, y = digits_data
    with pytest.raises(InvalidParameterError, match=expected) as info:
        estimator(**{name: value}).fit(X[:50], y[:50])
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("device", ["cpu", "CPU", "cuda", "cuda:1", None])
def test_device_strings_that_validate(device):
    xpnn.MLPClassifier(device=device)._validate_params()


def test_ctrl_c_in_a_warm_start_fit_keeps_the_earlier_fits_history(digits_data):
    X, y = digits_data
    model = xpnn.MLPClassifier(max_iter=3, warm_start=True, **FIT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    first = list(model.loss_curve_)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        model.fit(X, y, on_step=_interrupt_at(15 + 4))  # the warm fit's epoch 2
    assert model.n_iter_ == 1 and model.loss_curve_[:3] == first
    assert len(model.loss_curve_) == 4


def test_ctrl_c_in_an_lbfgs_fit_warns_and_keeps_the_last_iteration(digits_data, monkeypatch):
    from xpnn.training import lbfgs

    X, y = digits_data
    full_batch, calls = lbfgs._full_batch, {"n": 0}

    def interrupted_on_call_8(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return full_batch(*args, **kwargs)

    monkeypatch.setattr(lbfgs, "_full_batch", interrupted_on_call_8)
    model = xpnn.MLPClassifier(solver="lbfgs", max_iter=50, **FIT)
    with pytest.warns(UserWarning, match="^Training interrupted by user.$"):
        model.fit(X, y)
    assert 1 <= model.n_iter_ < 8 and model.score(X, y) > 0.1  # fitted, predicts
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = xpnn.MLPClassifier(solver="lbfgs", max_iter=model.n_iter_, **FIT).fit(X, y)
    assert_params_equal(model.params_, again.params_)  # the last completed iteration's

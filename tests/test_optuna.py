"""Hyperparameter search with Optuna: OptunaSearchCV prunes xpnn trials through
partial_fit, and the example docs/examples/optuna_pruning.py prunes trials in the middle of
a fit through a scikit-learn callback."""
import runpy
import warnings
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="optuna is not installed")
pytest.importorskip("optuna_integration", reason="optuna-integration is not installed")

import xpnn  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "optuna_pruning.py"


def test_optuna_search_cv_prunes_xpnn_trials(digits_data):
    from optuna.distributions import FloatDistribution
    from optuna_integration import OptunaSearchCV

    X, y = digits_data
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))
    with warnings.catch_warnings():  # optuna-integration's own: experimental, deprecated
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        search = OptunaSearchCV(
            xpnn.MLPClassifier(hidden_layer_sizes=(16,), random_state=0),
            {"learning_rate_init": FloatDistribution(1e-5, 1e-1, log=True)},
            cv=2, enable_pruning=True, max_iter=8, n_trials=10, study=study, random_state=0)
        search.fit(X[:600], y[:600])
    states = [trial.state for trial in study.trials]
    pruned = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.PRUNED]
    assert pruned and optuna.trial.TrialState.COMPLETE in states
    # a pruned trial stopped reporting before its 8 partial_fit epochs
    assert all(max(trial.intermediate_values) < 7 for trial in pruned)
    assert isinstance(search.best_estimator_, xpnn.MLPClassifier)
    assert search.best_estimator_.score(X[600:], y[600:]) > 0.8


def test_the_example_prunes_trials_in_the_middle_of_a_fit():
    study = runpy.run_path(str(EXAMPLE))["main"](n_trials=10, max_iter=10)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert pruned and complete
    for trial in pruned:  # stopped by the callback after the epoch it last reported
        epochs = trial.user_attrs["epochs"]
        assert 3 <= epochs < 10 and max(trial.intermediate_values) == epochs
    assert all(t.user_attrs["epochs"] == 10 for t in complete)
    assert study.best_value > 0.9
    assert np.isfinite(study.best_value)

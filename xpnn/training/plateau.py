"""scikit-learn's plateau rule, after each epoch: improve by ``tol`` at least once every
``n_iter_no_change`` epochs, or stop (with ``learning_rate="adaptive"``: divide the rate by 5
until it falls below 1e-6).

Without early stopping the training loss is watched; with it, the validation score, and the
best epoch's weights are kept. ``after_epoch`` updates the training state's counters and says
what it did; the training loop (``train.FitRun``) acts on that.
"""
from __future__ import annotations

from ..backend.devices import copy_array

MIN_ADAPTIVE_LR = 1e-6  # scikit-learn's: "adaptive" stops once the rate is this small
STOPS = ("stop", "stop_lr_too_small")  # the outcomes of after_epoch that end training


def after_epoch(state, config, record: dict, score_name: str, backend) -> str | None:
    """None, or what the rule did: "lr_reduced" ("adaptive": the rate divided by 5), "stop",
    or "stop_lr_too_small" ("adaptive" at its floor). ``state``: train_state.TrainState,
    updated in place; ``config``: train.TrainConfig; ``record``: the epoch's history row."""
    if config.early_stopping:
        score = record[f"val_{score_name}"]
        state.no_improvement = (state.no_improvement + 1
                                if score < state.best_score + config.tol else 0)
        if score > state.best_score:
            state.best_score, state.best_epoch = score, record["epoch"]
            state.best_params = {k: copy_array(v, backend) for k, v in state.params.items()}
    else:
        loss = record["loss"]
        state.no_improvement = (state.no_improvement + 1
                                if loss > state.best_loss - config.tol else 0)
        if loss < state.best_loss:
            state.best_loss, state.best_epoch = loss, record["epoch"]
    if state.no_improvement <= config.n_iter_no_change:
        return None
    if config.learning_rate != "adaptive":
        return "stop"
    if config.learning_rate_init * state.lr_factor <= MIN_ADAPTIVE_LR:
        return "stop_lr_too_small"
    state.lr_factor /= 5.0
    state.no_improvement = 0
    return "lr_reduced"

"""What ``verbose=True`` prints: scikit-learn's MLP lines, at its moments, on stdout.

scikit-learn prints, after each epoch, ``Iteration N, loss = ...`` (``_fit_stochastic``),
then with early stopping ``Validation score: ...`` (``_update_no_improvement_count``),
then, when the plateau rule acts, its message and what the optimizer did about it
(``trigger_stopping``). The training loop says what it did (``FitRun.after_epoch``); the
words are here, so the loop itself never prints.
"""
from __future__ import annotations

from ..core.heads import HEADS
from ..training.train_config import TrainConfig
from ..training.train_state import TrainState

# scikit-learn's optimizers' trigger_stopping: what follows the plateau message
ACTIONS = {"stop": "Stopping.",
           "stop_lr_too_small": "Learning rate too small. Stopping.",
           "lr_reduced": "Setting learning rate to {rate:f}"}


class VerboseReport:
    """``epoch(record)`` and ``plateau(outcome)`` callbacks for ``train``, printing
    scikit-learn's lines for one fit."""

    def __init__(self, config: TrainConfig, state: TrainState):
        self.config, self.state = config, state
        self.score_key = f"val_{HEADS[config.spec.head].score_name}"

    def epoch(self, record):
        print("Iteration %d, loss = %.8f" % (record["epoch"], record["loss"]))
        if self.config.early_stopping:
            print("Validation score: %f" % record[self.score_key])

    def plateau(self, outcome):
        config = self.config
        watched = "Validation score" if config.early_stopping else "Training loss"
        rate = config.learning_rate_init * self.state.lr_factor  # after the plateau's cut
        print(f"{watched} did not improve more than tol={config.tol:f} for "
              f"{int(config.n_iter_no_change)} consecutive epochs. "
              + ACTIONS[outcome].format(rate=rate))


def callbacks(report: VerboseReport | None, on_epoch=None):
    """(on_epoch, on_plateau) for ``train``: the report's lines (when there is one, i.e.
    verbose on rank 0), then the caller's own ``on_epoch``."""
    if report is None:
        return on_epoch, None

    def epoch(record):
        report.epoch(record)
        if on_epoch is not None:
            on_epoch(record)
    return epoch, report.plateau

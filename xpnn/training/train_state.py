"""What changes while a model trains, and enough of it to resume exactly."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..backend.devices import Backend, copy_array
from ..core.optim import state_arrays, state_from_arrays


@dataclass
class TrainState:
    """Everything that changes while training; enough to resume exactly."""

    params: dict
    opt_state: dict
    epoch: int = 0  # completed epochs (scikit-learn's n_iter_)
    history: list = field(default_factory=list)
    samples_seen: int = 0  # scikit-learn's t_
    best_loss: float = math.inf
    best_score: float = -math.inf
    no_improvement: int = 0  # epochs in a row without an improvement of tol
    lr_factor: float = 1.0  # "adaptive" divides it by 5 on each plateau
    best_epoch: int | None = None
    best_params: dict | None = None  # copies kept for early stopping's restore
    converged: bool = False  # the last run stopped on its plateau rule, not at max_iter
    stopped: bool = False  # the last run stopped where a callback asked (not saved)

    # the scalar fields, for checkpoints
    SCALARS = ("epoch", "samples_seen", "best_loss", "best_score", "no_improvement",
               "lr_factor", "best_epoch", "converged")


def snapshot(params, opt_state, backend: Backend) -> tuple[dict, dict]:
    """Fresh device copies of parameters and optimizer state (updates work in place)."""
    params = {name: copy_array(value, backend) for name, value in params.items()}
    opt_arrays = {key: copy_array(value, backend)
                  for key, value in state_arrays(opt_state).items()}
    return params, state_from_arrays(opt_state["step"], opt_arrays)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, raised by ``fit(..., on_interrupt="raise")``.

    Public as ``xpnn.TrainingInterrupted``. It is a ``KeyboardInterrupt``, so code that does
    not catch it ends as Ctrl-C always did; the estimator keeps the model as of the last
    completed epoch, and ``resume_fit`` continues it.

    Parameters
    ----------
    state : TrainState
        The training state rolled back to the last completed epoch (internal: read the
        estimator's fitted attributes instead).
    agreed : bool, default=False
        Whether every rank of a data-parallel run stopped at the same epoch.
    """

    def __init__(self, state, agreed=False):
        super().__init__("training interrupted")
        self.state, self.agreed = state, agreed

"""The training loop's settings (``train.train``'s ``config``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.mlp import MLPSpec


@dataclass(frozen=True)
class TrainConfig:
    """The training loop's settings, fixed for one fit.

    Parameters
    ----------
    max_iter : int
        Epochs in all.
    batch_size : int
        Rows per step; 0: the full training set every step.
    shuffle : bool
        Shuffle the rows each epoch.
    tol : float
        The plateau rule's tolerance (``plateau.py``).
    n_iter_no_change : int or float
        Epochs without improvement before the plateau rule acts; ``math.inf`` never stops
        early.
    early_stopping : bool
        Monitor the validation score and keep the best weights.
    learning_rate : str
        The schedule, a key of ``optim.SCHEDULES``.
    learning_rate_init : float
        The initial learning rate.
    power_t : float
        invscaling's exponent.
    check_every : int
        Steps between divergence checks; 0: once per epoch.
    spec : MLPSpec
        What the network computes.
    dropout : tuple of float, default=()
        One rate per hidden layer (all 0, or none: no dropout).
    seed : int, default=0
        The fit's seed, which dropout's masks are drawn from (``dropout.py``).
    """

    max_iter: int
    batch_size: int
    shuffle: bool
    tol: float
    n_iter_no_change: float
    early_stopping: bool
    learning_rate: str
    learning_rate_init: float
    power_t: float
    check_every: int
    spec: MLPSpec
    dropout: tuple = ()
    seed: int = 0

    def planned_steps(self, epochs_done: int, rows: int, params: dict) -> tuple:
        """The steps of the epochs left and the model's size (a kernel decides by them
        whether loading a compiled update pays off: ``kernels.select``).

        Parameters
        ----------
        epochs_done : int
            Epochs already completed.
        rows : int
            Training rows.
        params : dict
            The model's parameters.

        Returns
        -------
        tuple
            (steps, parameters).
        """
        steps = math.ceil(rows / (self.batch_size or max(rows, 1)))
        parameters = sum(math.prod(array.shape) for array in params.values())
        return max(self.max_iter - epochs_done, 0) * steps, parameters

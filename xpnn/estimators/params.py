"""The estimators' hyperparameters: the one table of what each may be, and what a resumed fit
may change.

``PARAMETER_CONSTRAINTS`` is validated in ``fit`` by scikit-learn's own machinery; the
defaults are ``BaseMLP.__init__``'s. Checkpoints and the CLI read the same table, and the
parameters' documentation is written once, in ``docstrings.py``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, Options, StrOptions

from ..backend.devices import DTYPES, is_device_spec
from ..core.activations import ACTIVATIONS
from ..core.optim import OPTIMIZERS, SCHEDULES

SOLVERS = (*OPTIMIZERS, "lbfgs")
# MLPRegressor's loss -> its output head (scikit-learn's out_activation_)
REGRESSION_HEADS = {"squared_error": "identity", "poisson": "exp"}


class DeviceStrings(StrOptions):
    """The constraint on ``device``: a string ``backend.resolve_device`` reads (cpu, cuda,
    cuda:N); scikit-learn's validation names it in its InvalidParameterError."""

    def __init__(self):
        super().__init__({"cpu", "cuda"})

    def is_satisfied_by(self, val):
        return is_device_spec(val)

    def __str__(self):
        return "a device string: 'cpu', 'cuda' or 'cuda:N' (N a GPU index)"


PARAMETER_CONSTRAINTS: dict = {
    "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
    "activation": [StrOptions(ACTIVATIONS.keys())],  # a live view: entries added later count
    "solver": [StrOptions(set(SOLVERS))],
    "alpha": [Interval(numbers.Real, 0, None, closed="left")],
    "batch_size": [StrOptions({"auto", "full"}),
                   Interval(numbers.Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions(set(SCHEDULES))],
    "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
    "power_t": [Interval(numbers.Real, 0, None, closed="left")],
    "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "tol": [Interval(numbers.Real, 0, None, closed="left")],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
    "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
    "nesterovs_momentum": ["boolean"],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
    "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
    "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
    "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
    "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"),
                         Options(numbers.Real, {np.inf})],
    "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
    # xpnn's own
    "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
    "dropout": [Interval(numbers.Real, 0, 1, closed="left"), "array-like"],  # per layer
    "dtype": [None, StrOptions(set(DTYPES))],
    "device": [None, DeviceStrings()],
    "check_every": [Interval(numbers.Integral, 0, None, closed="left")],
    # an mpi4py communicator (duck-typed: mpi4py stays optional)
    "comm": [None, HasMethods(["Get_rank", "Get_size", "Allreduce"])],
}

#: The parameters a resumed run (``resume_fit``, ``xpnn train --resume``) may change; every
#: other hyperparameter is the saved model's, and a change to one is refused with a
#: ``ValueError`` naming it. Public as ``xpnn.CHANGEABLE_ON_RESUME``.
CHANGEABLE_ON_RESUME = frozenset({"max_iter", "early_stopping", "n_iter_no_change", "tol",
                                  "verbose", "check_every", "device", "comm"})


def same_param(a, b) -> bool:
    """Whether two values of a parameter are the same setting: sequences element by element
    (tuples, lists; None as empty; a sequence is never the same as a number), floats to
    1e-12 (a flag's text parsed again), else == (or, for objects that cannot say, the very
    same object)."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if isinstance(a, numbers.Number) or isinstance(b, numbers.Number):
            return False  # dropout=0.2 against (0.2, 0.2): different settings, as written
        return list(a or []) == list(b or [])
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, numbers.Real) and isinstance(b, numbers.Real)
                and math.isclose(float(a), float(b), rel_tol=1e-12))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


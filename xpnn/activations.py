"""Hidden-layer activations: one table, each entry its forward, its derivative, its init gain.

As in scikit-learn's ``neural_network/_base.py``, each derivative takes the activation's
OUTPUT a = f(z) (what the forward pass keeps), so backward never needs z. The gain scales
the initial weights: std = gain / sqrt(fan_in) (torch.nn.init.calculate_gain's values).
A new activation is one entry here; the MLP, the estimators, the CLI and checkpoints read
the names from this table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from . import ops


@dataclass(frozen=True)
class Activation:
    forward: Callable  # (z, xp) -> a
    grad_from_output: Callable  # (grad_a, a, xp) -> grad_z
    init_gain: float


ACTIVATIONS = {
    "relu": Activation(ops.relu, ops.relu_backward, math.sqrt(2.0)),
    "tanh": Activation(ops.tanh, ops.tanh_backward, 5.0 / 3.0),
    "logistic": Activation(ops.logistic, ops.logistic_backward, 1.0),
    "identity": Activation(ops.identity, ops.identity_backward, 1.0),
}

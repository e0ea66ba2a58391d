"""Hidden-layer activations: one table, each entry its forward, its derivative, its init gain.

As in scikit-learn's ``neural_network/_base.py``, a derivative takes the activation's
OUTPUT a = f(z) where a decides f'(z): the forward pass keeps a anyway (the next layer's
input), so backward needs nothing more. Where a does not decide it (an activation that is
not monotonic: two z give one a), the entry says ``takes=PRE_ACTIVATION`` and the forward
pass keeps z too: one more (batch, width) array per hidden layer, paid by those entries alone.

The gain scales the initial weights: std = gain / sqrt(fan_in) (torch.nn.init.calculate_gain's
values). A new activation is one entry here; the MLP, the estimators, the CLI and checkpoints
read the names from this table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from . import ops

# what an entry's backward reads, beside the gradient: the output a or the pre-activation z
OUTPUT, PRE_ACTIVATION = "output", "pre_activation"


@dataclass(frozen=True)
class Activation:
    forward: Callable  # (z, xp) -> a
    backward: Callable  # (grad_a, a or z as ``takes`` says, xp) -> grad_z
    init_gain: float
    takes: str = OUTPUT  # OUTPUT or PRE_ACTIVATION


ACTIVATIONS = {
    "relu": Activation(ops.relu, ops.relu_backward, math.sqrt(2.0)),
    "tanh": Activation(ops.tanh, ops.tanh_backward, 5.0 / 3.0),
    "logistic": Activation(ops.logistic, ops.logistic_backward, 1.0),
    "identity": Activation(ops.identity, ops.identity_backward, 1.0),
}

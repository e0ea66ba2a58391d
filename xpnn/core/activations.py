"""Hidden-layer activations: one table, each entry its forward, its derivative, its init gain.

As in scikit-learn's ``neural_network/_base.py``, a derivative takes the activation's
OUTPUT a = f(z) where a decides f'(z): the forward pass keeps a anyway (the next layer's
input), so backward needs nothing more. Where a does not decide it (SiLU and GELU are not
monotonic: two z give one a), the entry says ``takes=PRE_ACTIVATION`` and the forward pass
keeps z too: one more (batch, width) array per hidden layer, paid by those entries alone.

The gain scales the initial weights: std = gain / sqrt(fan_in). torch.nn.init.calculate_gain's
values where it has one (relu, leaky_relu, tanh, sigmoid, linear); for elu, gelu, silu and
softplus, which it lacks, He et al.'s rule behind its relu and leaky_relu gains:
1 / sqrt(E[f(z)^2]) for z ~ N(0, 1), so a layer's outputs keep its inputs' second moment
(the integrals evaluated numerically; tests/test_ops.py recomputes them).
A new activation is one entry here; the MLP, the estimators, the CLI and checkpoints read
the names from this table.
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
    """One hidden-layer activation: its forward, its derivative, its initial-weight gain."""

    forward: Callable  # (z, xp) -> a
    backward: Callable  # (grad_a, a or z as ``takes`` says, xp) -> grad_z
    init_gain: float  # the initial weights' std is gain / sqrt(fan_in)
    takes: str = OUTPUT  # OUTPUT or PRE_ACTIVATION


ACTIVATIONS = {
    "relu": Activation(ops.relu, ops.relu_backward, math.sqrt(2.0)),
    "tanh": Activation(ops.tanh, ops.tanh_backward, 5.0 / 3.0),
    "logistic": Activation(ops.logistic, ops.logistic_backward, 1.0),
    "identity": Activation(ops.identity, ops.identity_backward, 1.0),
    "leaky_relu": Activation(ops.leaky_relu, ops.leaky_relu_backward,
                             math.sqrt(2.0 / (1.0 + ops.LEAKY_RELU_SLOPE ** 2))),
    "elu": Activation(ops.elu, ops.elu_backward, 1.2451983007007064),  # E[elu^2] = 0.64495
    "softplus": Activation(ops.softplus, ops.softplus_backward,
                           1.0418668355353016),  # E[softplus^2] = 0.92125
    "silu": Activation(ops.silu, ops.silu_backward, 1.6765324703310913,  # E[silu^2] = 0.35578
                       takes=PRE_ACTIVATION),
    "gelu": Activation(ops.gelu, ops.gelu_backward, 1.533580521666147,  # E[gelu^2] = 0.42519
                       takes=PRE_ACTIVATION),
}

"""Optimizers as the papers write them: state in, state out, no hidden globals.

The state is ``{"step": t, slot: {name: array}}``: the count of steps taken, a host int, and
per slot (an optimizer's ``state_slots``) one array like each parameter, on its device.
``update(params, grads, state, xp, rate_factor=1.0)`` returns new ``(params, state)`` and
leaves its inputs alone; ``rate_factor`` is the learning-rate schedule's factor for this step
(``schedule_factor``), a host float. Hyperparameters are Python floats, so float32 state
stays float32.

An update's first lines take the step's host numbers (``step_numbers``: the scheduled rate,
Adam's step size); the rest is array math that reads nothing back to the host and branches
on no array. So ``kernels/jax_step.py`` traces ``update`` once per fit with those numbers as
arguments (``numbers=``), and the kernels' in-place and numba forms take the same numbers;
tests/test_kernels.py holds them to these, tests/test_sklearn_optimizers.py these to
scikit-learn's. Each moment and velocity is flushed after its update, each parameter after
its step (``numerics.py``: what decays would otherwise pass through the subnormal range).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend.devices import device_context, device_of
from .numerics import flush_subnormal, flush_tiny_weight


def init_state(slots, params, xp) -> dict:
    """Step 0 and, per slot, zeros like each parameter on its device (made current for CuPy)."""
    def zeros_like(value):
        with device_context(value):
            return xp.zeros_like(value, device=device_of(value))
    return {"step": 0, **{slot: {name: zeros_like(value) for name, value in params.items()}
                          for slot in slots}}


@dataclass(frozen=True)
class SGD:
    """Gradient descent, with momentum in scikit-learn's form (Sutskever et al. 2013), where
    the velocity carries the rate, so a schedule's new rate changes the new steps only."""

    lr: float = 0.01
    momentum: float = 0.0  # 0: plain gradient descent, no velocity kept
    nesterov: bool = False  # Nesterov's momentum rather than the heavy ball

    kind = "sgd"  # the key of this update's fast forms (xpnn/kernels/)

    @property
    def state_slots(self) -> tuple:
        return ("velocity",) if self.momentum else ()

    def init_state(self, params, xp):
        return init_state(self.state_slots, params, xp)

    def step_numbers(self, t, rate_factor):
        """Step t's host numbers: the scheduled rate."""
        return (float(self.lr) * rate_factor,)

    def update(self, params, grads, state, xp, rate_factor=1.0, numbers=None):
        t = state["step"] + 1
        (lr,) = self.step_numbers(t, rate_factor) if numbers is None else numbers
        mu = float(self.momentum)
        new_params, velocities = {}, {}
        for name, p in params.items():
            g = grads[name]
            if not mu:
                p = p - lr * g
            else:
                velocity = mu * state["velocity"][name] - lr * g
                velocity = velocities[name] = flush_subnormal(velocity, xp)
                if self.nesterov:
                    p = p + (mu * velocity - lr * g)
                else:  # the heavy ball
                    p = p + velocity
            new_params[name] = flush_tiny_weight(p, xp)
        return new_params, {"step": t, **({"velocity": velocities} if mu else {})}


@dataclass(frozen=True)
class Adam:
    """Adam in Kingma & Ba's efficient form (their section 2), which is scikit-learn's; with
    a ``weight_decay``, AdamW's decoupled decay, which first shrinks p by lr weight_decay.
    (PyTorch adds eps to sqrt(v / (1 - b2^t)) instead: the same update but for eps.)"""

    lr: float = 1e-3
    beta1: float = 0.9  # the first moment's decay rate
    beta2: float = 0.999  # the second moment's
    eps: float = 1e-8  # added to sqrt(v)
    weight_decay: float = 0.0  # AdamW's decoupled decay; 0: Adam

    kind = "adam"
    state_slots = ("m", "v")  # first and second moments, one of each per parameter

    def init_state(self, params, xp):
        return init_state(self.state_slots, params, xp)

    def step_numbers(self, t, rate_factor):
        """Step t's host numbers: the scheduled rate lr_t and the step size alpha_t."""
        lr = float(self.lr) * rate_factor
        return lr, lr * math.sqrt(1.0 - float(self.beta2)**t) / (1.0 - float(self.beta1)**t)

    def update(self, params, grads, state, xp, rate_factor=1.0, numbers=None):
        t = state["step"] + 1
        lr, alpha_t = self.step_numbers(t, rate_factor) if numbers is None else numbers
        b1, b2, eps = float(self.beta1), float(self.beta2), float(self.eps)
        new_params, first, second = {}, {}, {}
        for name, p in params.items():
            g = grads[name]
            if self.weight_decay:  # AdamW: the decay apart from g
                p = p * (1.0 - lr * float(self.weight_decay))
            m = b1 * state["m"][name] + (1.0 - b1) * g
            m = first[name] = flush_subnormal(m, xp)
            v = b2 * state["v"][name] + (1.0 - b2) * (g * g)
            v = second[name] = flush_subnormal(v, xp)
            p = p - alpha_t * m / (xp.sqrt(v) + eps)
            new_params[name] = flush_tiny_weight(p, xp)
        return new_params, {"step": t, "m": first, "v": second}


def _constant(step, total_steps, samples_seen, power_t):
    return 1.0


def _invscaling(step, total_steps, samples_seen, power_t):
    """scikit-learn's: lr_init / (t + 1)^power_t, t the samples seen before this epoch."""
    return 1.0 / (samples_seen + 1) ** power_t


def _cosine(step, total_steps, samples_seen, power_t):
    """0.5 (1 + cos(pi step / total)), from 1 down towards 0 at the last step."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


# the learning rate's factor at 0-based optimizer ``step`` of ``total_steps``, a host float.
# "adaptive" is constant here; the training loop divides the rate by 5 on each plateau.
SCHEDULES = {"constant": _constant, "invscaling": _invscaling, "adaptive": _constant,
             "cosine": _cosine}


def schedule_factor(schedule: str, step: int, total_steps: int, samples_seen: int = 0,
                    power_t: float = 0.5) -> float:
    try:
        factor = SCHEDULES[schedule]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of "
                         f"{', '.join(SCHEDULES)}") from None
    return factor(step, total_steps, samples_seen, power_t)


def make_optimizer(solver: str, lr: float, *, momentum=0.9, nesterov=True, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.0):
    """An optimizer by scikit-learn's solver name (sgd, adam) or xpnn's adamw, taking the
    settings its solver reads: sgd's momentum (0: plain gradient descent) and Nesterov,
    adam's betas and eps, and adamw's weight_decay too. The L2 penalty (alpha) is the loss's."""
    if solver not in OPTIMIZERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[solver](lr=lr, momentum=momentum, nesterov=nesterov, beta1=beta1,
                              beta2=beta2, eps=eps, weight_decay=weight_decay)


OPTIMIZERS = {
    "sgd": lambda lr, momentum, nesterov, **_: SGD(lr=lr, momentum=momentum,
                                                   nesterov=nesterov and bool(momentum)),
    "adam": lambda lr, beta1, beta2, eps, **_: Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps),
    "adamw": lambda lr, beta1, beta2, eps, weight_decay, **_: Adam(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay),
}


def velocity_from_buffer(buffers: dict, learning_rate_init, lr_factor) -> dict:
    """SGD state saved before scikit-learn's form (buffer b = mu b + g, p -= lr b) as today's
    velocity -lr b, lr the rate as it was left (learning_rate_init times 'adaptive''s
    factor): the same steps at a constant rate, the old form's next step at any rate."""
    rate = -float(learning_rate_init) * float(lr_factor)
    return {name: buffer * rate for name, buffer in buffers.items()}


def state_arrays(state) -> dict:
    """The optimizer state's arrays, flattened to {"m/w1": array, ...} (for snapshots, files)."""
    return {f"{slot}/{name}": value
            for slot, per_param in state.items() if isinstance(per_param, dict)
            for name, value in per_param.items()}


def state_from_arrays(step: int, arrays: dict) -> dict:
    """Inverse of ``state_arrays``: rebuild {"step": step, slot: {name: array}}."""
    state = {"step": int(step)}
    for key, value in arrays.items():
        slot, name = key.split("/", 1)
        state.setdefault(slot, {})[name] = value
    return state

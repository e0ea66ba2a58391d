"""Optimizers as the papers write them: state in, state out, no hidden globals.

``init_state(params, xp)`` builds the state on the parameters' namespace and device;
``update(params, grads, state, xp, lr_scale)`` returns new ``(params, state)`` and leaves
its inputs alone; ``lr_scale`` is the learning-rate schedule's factor for this step, a host
float. Each update is the textbook formula on ``xp`` arrays, one line per line of the paper;
hyperparameters are Python floats, so float32 state stays float32. The forms written for
speed (in place, fused into one pass) live in ``xpnn/kernels/`` and are held to these
(``tests/test_kernels.py``, ``tests/test_sklearn_optimizers.py``: both equal scikit-learn's).

``update`` is two halves, as Kingma and Ba's algorithm is: ``scalars(step, lr_scale)``, the
step's numbers on the host (the scheduled rate, Adam's step size alpha_t), and
``apply(params, grads, slots, xp, scalars)``, the array math. ``apply`` reads nothing back to
the host and branches on no array, so ``jax.jit`` traces it with the scalars as arguments
(the step counter stays a host int, outside: ``kernels/jax_step.py``).

What decays step after step is flushed where it is made (``ops.flush_subnormal``): each
moment and velocity after its update (the weight decay's gradient too, as
``mlp.add_l2``'s). A moment of a weight whose gradient is 0 would otherwise shrink by beta
each step down through the subnormal range, where x86 arithmetic is about 100 times slower.
Each parameter, after its update, is flushed below a higher floor (``ops.weight_floor``,
sqrt of the smallest normal number): a weight of 1e-32 is normal, but its products in the
next GEMM are not. The kernels apply the same rules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend.devices import device_context, device_of
from .ops import flush_subnormal, flush_tiny_weight


def zeros_like_params(params, xp):
    """Zeros shaped like each parameter, on its device (made current for CuPy)."""
    zeros = {}
    for name, value in params.items():
        with device_context(value):
            zeros[name] = xp.zeros_like(value, device=device_of(value))
    return zeros


def init_state(slots, params, xp) -> dict:
    """A fresh optimizer state: step 0 and, per declared slot, zeros like each parameter.

    Parameters
    ----------
    slots : sequence of str
        The per-parameter slots (an optimizer's ``state_slots``).
    params : dict
        The parameters, ``{name: array}``.
    xp : namespace
        The array namespace of the parameters.

    Returns
    -------
    dict
        ``{"step": 0, slot: {name: zeros}, ...}``, each zeros array on its parameter's device.
    """
    return {"step": 0, **{slot: zeros_like_params(params, xp) for slot in slots}}


def step_with(optimizer, params, grads, state, xp, lr_scale):
    """One ``update``: the host scalars of the next step, the array math on the slots, and
    the step counter (a host int) advanced."""
    step = state["step"] + 1
    slots = {slot: state[slot] for slot in optimizer.state_slots}
    params, slots = optimizer.apply(params, grads, slots, xp,
                                    optimizer.scalars(step, lr_scale))
    return params, {"step": step, **slots}


@dataclass(frozen=True)
class SGD:
    """Plain gradient descent, optionally with momentum (heavy ball or Nesterov).

    In scikit-learn's form (Sutskever et al. 2013), where the velocity carries the rate::

        velocity = momentum * velocity - lr * g;  p += velocity (heavy ball), or
        p += momentum * velocity - lr * g (Nesterov).

    A schedule that changes lr (invscaling, adaptive, cosine) changes the new steps only; the
    velocity keeps the rates its past steps were taken with.

    Parameters
    ----------
    lr : float, default=0.01
        The learning rate.
    momentum : float, default=0.0
        The momentum; 0 keeps no velocity.
    nesterov : bool, default=False
        Nesterov's momentum rather than the heavy ball.
    weight_decay : float, default=0.0
        Adds the L2 term weight_decay * p to g.
    """

    lr: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    kind = "sgd"  # the key of this update's fast variants (xpnn/kernels/)

    @property
    def state_slots(self) -> tuple:
        """The per-parameter state it keeps: a velocity, or none."""
        return ("velocity",) if self.momentum else ()

    def init_state(self, params, xp):
        """A fresh optimizer state for ``params``: step 0 and its slots' zeros.

        Parameters
        ----------
        params : dict
            The parameters, ``{name: array}``.
        xp : namespace
            The array namespace of the parameters.

        Returns
        -------
        dict
            ``{"step": 0, slot: {name: zeros like the parameter}, ...}``.
        """
        return init_state(self.state_slots, params, xp)

    def update(self, params, grads, state, xp, lr_scale=1.0):
        """One step: the host scalars of the next step, the array math, the step counter advanced.

        Returns new ``(params, state)`` and leaves its inputs alone.

        Parameters
        ----------
        params : dict
            The parameters, ``{name: array}``.
        grads : dict
            Their gradients, the same names.
        state : dict
            The optimizer state, as ``init_state`` made it or ``update`` returned it.
        xp : namespace
            The array namespace of the parameters.
        lr_scale : float, default=1.0
            The learning-rate schedule's factor for this step, a host float.

        Returns
        -------
        params : dict
            The updated parameters.
        state : dict
            The updated state, its ``"step"`` advanced by 1.
        """
        return step_with(self, params, grads, state, xp, lr_scale)

    def scalars(self, step: int, lr_scale: float = 1.0) -> dict:
        """The host numbers ``apply`` needs for 1-based ``step``: the scheduled rate.

        Parameters
        ----------
        step : int
            The step, from 1.
        lr_scale : float, default=1.0
            The schedule's factor.

        Returns
        -------
        dict
            ``{"lr": lr * lr_scale}``.
        """
        return {"lr": float(self.lr) * lr_scale}

    def apply(self, params, grads, slots, xp, scalars):
        """The update's array math, as the formulas above.

        It reads nothing back to the host and branches on no array (``jax.jit`` traces it).

        Parameters
        ----------
        params : dict
            The parameters, ``{name: array}``.
        grads : dict
            Their gradients, the same names.
        slots : dict
            The state's slots, ``{slot: {name: array}}``, without the step.
        xp : namespace
            The array namespace of the parameters.
        scalars : dict
            The step's host numbers, from ``scalars``.

        Returns
        -------
        params : dict
            The updated parameters.
        slots : dict
            The updated slots.
        """
        lr, mu, decay = scalars["lr"], float(self.momentum), float(self.weight_decay)
        new_params, velocities = {}, {}
        for name, param in params.items():
            grad = grads[name]
            if decay:
                grad = flush_subnormal(grad + decay * param, xp)
            if mu:
                velocity = flush_subnormal(mu * slots["velocity"][name] - lr * grad, xp)
                velocities[name] = velocity
                if self.nesterov:
                    param = param + (mu * velocity - lr * grad)
                else:
                    param = param + velocity
            else:
                param = param - lr * grad
            new_params[name] = flush_tiny_weight(param, xp)
        return new_params, {"velocity": velocities} if mu else {}


@dataclass(frozen=True)
class Adam:
    """Adam in Kingma & Ba's efficient form (their section 2), which is scikit-learn's.

    With AdamW's decoupled weight decay when ``decoupled``::

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  the step size
        alpha_t = lr sqrt(1 - b2^t) / (1 - b1^t);  p -= alpha_t m / (sqrt(v) + eps).

    (PyTorch adds eps to sqrt(v / (1 - b2^t)) instead: the same update but for eps.)
    AdamW first shrinks p by (1 - lr * weight_decay); plain Adam adds weight_decay * p to g.

    Parameters
    ----------
    lr : float, default=1e-3
        The learning rate.
    beta1, beta2 : float, default=0.9, 0.999
        The decay rates of the first and second moments.
    eps : float, default=1e-8
        Added to sqrt(v).
    weight_decay : float, default=0.0
        The weight decay, an L2 term in g or (``decoupled``) AdamW's shrink.
    decoupled : bool, default=False
        AdamW's decoupled weight decay.
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    decoupled: bool = False

    kind = "adam"
    state_slots = ("m", "v")  # first and second moments, one of each per parameter

    def init_state(self, params, xp):
        """A fresh optimizer state for ``params``: step 0 and its slots' zeros.

        Parameters
        ----------
        params : dict
            The parameters, ``{name: array}``.
        xp : namespace
            The array namespace of the parameters.

        Returns
        -------
        dict
            ``{"step": 0, slot: {name: zeros like the parameter}, ...}``.
        """
        return init_state(self.state_slots, params, xp)

    def update(self, params, grads, state, xp, lr_scale=1.0):
        """One step: the host scalars of the next step, the array math, the step counter advanced.

        Returns new ``(params, state)`` and leaves its inputs alone.

        Parameters
        ----------
        params : dict
            The parameters, ``{name: array}``.
        grads : dict
            Their gradients, the same names.
        state : dict
            The optimizer state, as ``init_state`` made it or ``update`` returned it.
        xp : namespace
            The array namespace of the parameters.
        lr_scale : float, default=1.0
            The learning-rate schedule's factor for this step, a host float.

        Returns
        -------
        params : dict
            The updated parameters.
        state : dict
            The updated state, its ``"step"`` advanced by 1.
        """
        return step_with(self, params, grads, state, xp, lr_scale)

    def scalars(self, step: int, lr_scale: float = 1.0) -> dict:
        """The host numbers of 1-based ``step`` t.

        The step size alpha_t = lr sqrt(1 - b2^t) / (1 - b1^t), and AdamW's shrink
        1 - lr weight_decay.

        Parameters
        ----------
        step : int
            The step t, from 1.
        lr_scale : float, default=1.0
            The schedule's factor, applied to lr.

        Returns
        -------
        dict
            ``{"step_size": alpha_t, "shrink": 1 - lr weight_decay}``.
        """
        lr, b1, b2 = float(self.lr) * lr_scale, float(self.beta1), float(self.beta2)
        return {"step_size": lr * math.sqrt(1.0 - b2**step) / (1.0 - b1**step),
                "shrink": 1.0 - lr * float(self.weight_decay)}

    def apply(self, params, grads, slots, xp, scalars):
        """The update's array math, as the formulas above.

        It reads nothing back to the host and branches on no array (``jax.jit`` traces it).

        Parameters
        ----------
        params : dict
            The parameters, ``{name: array}``.
        grads : dict
            Their gradients, the same names.
        slots : dict
            The state's slots, ``{slot: {name: array}}``, without the step.
        xp : namespace
            The array namespace of the parameters.
        scalars : dict
            The step's host numbers, from ``scalars``.

        Returns
        -------
        params : dict
            The updated parameters.
        slots : dict
            The updated slots.
        """
        b1, b2, eps = float(self.beta1), float(self.beta2), float(self.eps)
        decay, step_size = float(self.weight_decay), scalars["step_size"]
        new_params, first, second = {}, {}, {}
        for name, param in params.items():
            grad = grads[name]
            if decay and self.decoupled:
                param = param * scalars["shrink"]
            elif decay:
                grad = flush_subnormal(grad + decay * param, xp)
            m = first[name] = flush_subnormal(b1 * slots["m"][name] + (1.0 - b1) * grad, xp)
            v = second[name] = flush_subnormal(b2 * slots["v"][name]
                                               + (1.0 - b2) * (grad * grad), xp)
            param = param - step_size * m / (xp.sqrt(v) + eps)
            new_params[name] = flush_tiny_weight(param, xp)
        return new_params, {"m": first, "v": second}


def _constant(step, total_steps, samples_seen, power_t):
    return 1.0


def _invscaling(step, total_steps, samples_seen, power_t):
    """scikit-learn's: lr_init / (t + 1)^power_t, t the samples seen before this epoch."""
    return 1.0 / (samples_seen + 1) ** power_t


def _cosine(step, total_steps, samples_seen, power_t):
    """0.5 (1 + cos(pi step / total)), from 1 down towards 0 at the last step."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


# learning-rate factor for 0-based optimizer ``step`` of ``total_steps``, a host float.
# "adaptive" is constant here; the training loop divides the rate by 5 on each plateau.
SCHEDULES = {"constant": _constant, "invscaling": _invscaling, "adaptive": _constant,
             "cosine": _cosine}


def lr_scale(schedule: str, step: int, total_steps: int, samples_seen: int = 0,
             power_t: float = 0.5) -> float:
    try:
        factor = SCHEDULES[schedule]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of "
                         f"{', '.join(SCHEDULES)}") from None
    return factor(step, total_steps, samples_seen, power_t)


def make_optimizer(solver: str, lr: float, *, momentum=0.9, nesterov=True, beta1=0.9,
                   beta2=0.999, eps=1e-8, weight_decay=0.0):
    """An optimizer by scikit-learn's solver name (sgd, adam) or xpnn's adamw.

    The L2 penalty (alpha) is part of the loss, not here.

    Parameters
    ----------
    solver : {"sgd", "adam", "adamw"}
        The optimizer.
    lr : float
        The learning rate.
    momentum : float, default=0.9
        sgd's momentum (0 for plain gradient descent).
    nesterov : bool, default=True
        sgd's Nesterov momentum (where the momentum is not 0).
    beta1, beta2, eps : float, default=0.9, 0.999, 1e-8
        adam's and adamw's.
    weight_decay : float, default=0.0
        adamw's decoupled weight decay.

    Returns
    -------
    SGD or Adam
        The optimizer.

    Raises
    ------
    ValueError
        For an unknown ``solver``.
    """
    if solver not in OPTIMIZERS:
        raise ValueError(f"unknown solver {solver!r}; expected one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[solver](lr=lr, momentum=momentum, nesterov=nesterov, beta1=beta1,
                              beta2=beta2, eps=eps, weight_decay=weight_decay)


OPTIMIZERS = {
    "sgd": lambda lr, momentum, nesterov, **_: SGD(lr=lr, momentum=momentum,
                                                   nesterov=nesterov and bool(momentum)),
    "adam": lambda lr, beta1, beta2, eps, **_: Adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps),
    "adamw": lambda lr, beta1, beta2, eps, weight_decay, **_: Adam(
        lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, decoupled=True),
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

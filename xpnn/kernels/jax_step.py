"""The training step on JAX arrays, compiled whole: the reference's own code, traced once.

JAX runs array-API code op by op, each op a dispatch from Python; ``jax.jit`` traces a
function once per argument structure and shape and runs it as one compiled program. The
step of a group of one (``whole_step``) is ``mlp.loss_and_grads`` (forward, the head's loss
and gradient, backward, the L2 term) and the optimizer's ``update``, the very functions the
reference runs, traced on JAX's arrays: there is no second implementation of the math. What
changes from step to step enters as arguments, never as constants of the trace: the
parameters, the optimizer's state, the batch, and the update's host numbers
(``optimizer.step_numbers``: the scheduled rate, Adam's step size alpha_t), so a fit compiles
once per batch shape (the last, smaller batch of an epoch once more) and the compiled program
is shared by every later fit with the same spec and optimizer in the process. The step
counter stays a host int, counted outside the trace, as in the reference's state.

The stages are the reference's (``ReferenceStep``): data-parallel steps (the Allreduce sits
between backward and the update, outside any trace) and the divergence replay run them. The
loop's other small functions are compiled too (``compile``): the head's batch metric (one
call a step where eager JAX makes four) and the finite flag (one program where eager JAX
compiles two per parameter shape, seconds of a fresh process's first epoch).
``tests/test_jax_step.py`` holds the compiled step to the reference.
"""
from __future__ import annotations

import functools

import jax

from ..core import mlp
from . import ReferenceStep


def build(spec: mlp.MLPSpec, optimizer, xp, plan: tuple = (0, 0)):
    """The JAX step: every activation, head and optimizer (the trace runs their own code;
    ``plan`` is not needed: JAX compiles whatever the fit's size)."""
    return JaxStep(spec, optimizer, xp)


class JaxStep(ReferenceStep):
    """The reference's stages, and the whole step of a group of one, compiled."""

    @staticmethod
    def compile(function, static_argnums):
        """``function`` under ``jax.jit``, one wrapper per function in the process (so its
        compiled programs outlive the fit)."""
        return _jitted(function, static_argnums)

    def whole_step(self, params, opt_state, inputs, targets, weights, rate_factor):
        """As ``FitRun.step`` for one process: (params, opt_state, loss, outputs)."""
        step = opt_state["step"] + 1
        numbers = self.optimizer.step_numbers(step, rate_factor)
        params, opt_state, loss, outputs = _step(
            self.spec, self.optimizer, self.xp, params, opt_state, inputs, targets, weights,
            numbers)
        return params, {**opt_state, "step": step}, loss, outputs  # the host's count


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _step(spec, optimizer, xp, params, opt_state, inputs, targets, weights, numbers):
    """One step, traced: the loss with the L2 term, its gradients, the update."""
    loss, grads, outputs = mlp.loss_and_grads(params, inputs, targets, xp, spec, weights)
    params, opt_state = optimizer.update(params, grads, opt_state, xp, numbers=numbers)
    return params, opt_state, loss, outputs


@functools.lru_cache(maxsize=None)
def _jitted(function, static_argnums):
    return jax.jit(function, static_argnums=static_argnums)

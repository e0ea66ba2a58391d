"""Fast paths for the training step behind one small interface; imports core, backend, config.

A step is five stages; ``train.FitRun.step`` runs them in order, with the L2 term added to
the loss (``mlp.l2_term``) and the gradient sum over the group (data parallel) between
``backward`` and ``update``:

- ``take(array, batch_idx, slot, dtype, scaling)``: the rows ``batch_idx`` of ``array``
  (a batch gather), cast to ``dtype`` (None: the array's own) and scaled as
  ``rows.reference_take`` does;
- ``forward(params, inputs, masks=None)`` -> (outputs, trace), as ``mlp.forward`` (a
  ``ForwardTrace``; ``masks``: dropout's, one per hidden layer, or None);
- ``loss_with_grad(outputs, targets, weights)`` -> (loss, d loss / d outputs), as the head's;
- ``backward(params, trace, grad_outputs)`` -> grads, as ``mlp.backward``;
- ``update(params, grads, opt_state, rate_factor, l2=None)`` -> (params, opt_state): the L2
  term's gradient ``l2`` w (l2 = alpha / n, or None: ``mlp.add_l2_gradient``) added to the
  summed gradients, then the optimizer's update with the learning rate times
  ``rate_factor`` (a kernel may fuse the two; ``tests/test_kernels.py`` holds it to them).

A kernel may also offer ``whole_step(params, opt_state, inputs, targets, weights,
rate_factor)`` -> (params, opt_state, loss, outputs): what the stages give one process, as one
call (a compiled program). The loop uses it in a group of one without dropout (data
parallel runs the stages, the Allreduce between them) and never in the divergence replay
(``FitRun.__init__`` chooses). And it may offer
``compile(function, static_argnums)``: the small pure array functions the loop calls each
step or epoch besides the step (the head's batch metric, the finite flag), compiled.

``ReferenceStep`` implements the stages with the array-API code (``mlp``, ``heads``,
``optim``): the only implementation on every other namespace and the one the divergence
replay runs. ``select`` is how the training loop picks (``xpnn.config_context(kernels=
"reference")``: the reference, always): the kernel of the backend's
namespace (``KERNELS``) when it has entries for the activation and the head, else the
reference; a kernel's fused update runs where its table has an entry for the optimizer that
takes these settings, else the optimizer's own update. The kernels:

- ``numpy_step.py``: the stages in reused buffers, a numba update (loaded, the fit
  waiting, once the process's fits plan enough steps to repay the load: ``fused.py``); held to the
  reference bit for bit (``tests/test_kernels.py``);
- ``jax_step.py``: the reference's stages, and its step traced whole by ``jax.jit`` (every
  activation, head and optimizer); held to the reference within rounding, float64 rtol
  1e-10 and float32 1e-5 (``tests/test_jax_step.py``): XLA fuses and reorders.
"""
from __future__ import annotations

import importlib

from ..config import get_config
from ..core import mlp
from ..core.heads import HEADS
from ..core.rows import reference_take

# namespace name -> module whose ``build(spec, optimizer, xp, plan)`` returns its step or None
KERNELS = {"numpy": "xpnn.kernels.numpy_step", "jax": "xpnn.kernels.jax_step"}


class ReferenceStep:
    """The stages of a training step in array-API code, on any namespace."""

    def __init__(self, spec: mlp.MLPSpec, optimizer, xp):
        self.spec, self.optimizer, self.xp = spec, optimizer, xp
        self.head = HEADS[spec.head]

    def take(self, array, batch_idx, slot, dtype=None, scaling=None):
        return reference_take(self.xp)(array, batch_idx, slot, dtype, scaling)

    def forward(self, params, inputs, masks=None):
        return mlp.forward(params, inputs, self.xp, self.spec, masks)

    def loss_with_grad(self, outputs, targets, weights):
        return self.head.loss_with_grad(outputs, targets, self.xp, weights)

    def backward(self, params, trace, grad_outputs):
        return mlp.backward(params, trace, grad_outputs, self.xp, self.spec)

    def update(self, params, grads, opt_state, rate_factor, l2=None):
        mlp.add_l2_gradient(grads, params, l2, self.xp)
        return self.optimizer.update(params, grads, opt_state, self.xp, rate_factor)


def select(backend, spec: mlp.MLPSpec, optimizer, plan: tuple = (0, 0)):
    """The step for ``backend``: its namespace's kernel where that reproduces the reference
    for ``spec`` and ``optimizer``, else a ``ReferenceStep``; always the reference under
    ``xpnn.config_context(kernels="reference")`` (``config.py``). ``plan``: (steps,
    parameters) of the fit (``TrainConfig.planned_steps``), by which a kernel decides whether
    loading its compiled parts pays off."""
    if get_config()["kernels"] == "reference":
        return ReferenceStep(spec, optimizer, backend.xp)
    module = KERNELS.get(backend.name)
    kernel = None
    if module is not None:
        kernel = importlib.import_module(module).build(spec, optimizer, backend.xp, plan)
    return kernel or ReferenceStep(spec, optimizer, backend.xp)


def whole_step(stages):
    """The step's compiled whole as the loop calls a step, ``step(params, opt_state, batch,
    rate_factor, masks=None)`` -> (params, opt_state, loss, outputs), or None: a kernel's
    ``whole_step(params, opt_state, inputs, targets, weights, rate_factor)``, what the stages
    give one process (``FitRun.step``), as one call."""
    compiled = getattr(stages, "whole_step", None)
    if compiled is None:
        return None

    def step(params, opt_state, batch, rate_factor, masks=None):
        return compiled(params, opt_state, batch.inputs, batch.targets, batch.weights,
                        rate_factor)
    return step


def compiled(stages, function, static_argnums):
    """``function``, a pure function of arrays (``static_argnums``: its other arguments, such
    as ``xp``), as the kernel compiles it where it offers that, else itself; None stays
    None."""
    compile_function = getattr(stages, "compile", None)
    if function is None or compile_function is None:
        return function
    return compile_function(function, tuple(static_argnums))

"""Backend-specific fast paths for the training step, behind one small interface.

A kernel has two methods, both drop-in replacements for what ``train.FitRun`` does with
the array-API reference code:

- ``take(array, batch_idx, slot)``: the rows ``batch_idx`` of ``array`` (a batch gather);
- ``step(params, opt_state, inputs, targets, weights, lr_scale)``: forward, loss, backward
  and the optimizer update: ``(params, opt_state, loss, outputs)``, exactly as
  ``FitRun.step`` returns them.

The reference (``mlp``, ``heads``, ``optim``) stays the only code on every other namespace
and the one the divergence replay runs; ``tests/test_kernels.py`` holds each kernel to it,
bit for bit. ``Backend.step_kernel`` chooses one: today NumPy's (``numpy_step.py``), which
does the same arithmetic in buffers it allocates once, so a steady-state step allocates
nothing large.
"""

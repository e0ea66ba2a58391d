"""A batch as the network reads it: rows gathered, cast, scaled (array API; the kernels
reuse buffers for the same, held to this)."""
from __future__ import annotations


def scaled(inputs, scaling):
    """(inputs - shift) * factor for ``scaling`` = (shift or None, factor); None: inputs."""
    if scaling is None:
        return inputs
    shift, factor = scaling
    return (inputs if shift is None else inputs - shift) * factor


def reference_take(xp):
    """The array-API gather: rows ``batch_idx`` of ``array``, cast to ``dtype`` (None: its
    own) as they are gathered, then ``scaled`` (``slot`` names the array for kernels that
    reuse buffers)."""
    def take(array, batch_idx, slot, dtype=None, scaling=None):
        rows = xp.take(array, batch_idx, axis=0)
        return scaled(rows if dtype is None else xp.astype(rows, dtype, copy=False), scaling)
    return take

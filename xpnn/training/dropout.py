"""Dropout while training: which units of each hidden layer a step keeps.

Inverted dropout: a hidden layer's output a becomes a * m, with m = 1/(1-p) for a kept unit
(probability 1 - p) and 0 for a dropped one, so E[a * m] = a and prediction, which draws no
masks, needs no rescaling; backward multiplies the gradient by the same m (``mlp.backward``).

A step's masks are a pure function of (seed, samples seen before its epoch, step), drawn on
the device one layer after the other (``device_random``, at position (``STREAM``, samples
seen, step): a stream of the seed's apart from the others drawn from it): the divergence
replay draws the very masks of the step it replays; a resumed run (its seed and counters are
in the model file) and one rolled back after Ctrl-C continue the same sequence; the samples
seen (scikit-learn's ``t_``) grow across fit, partial_fit, warm starts and resumes, so no
two epochs of a model share masks.
In a data-parallel group every rank draws the masks of the whole global batch and keeps its
own rows (``shard_bounds``, as ``Batches.local``), so N ranks train the model one process
trains. With every rate 0 nothing is drawn.
"""
from __future__ import annotations

from ..backend.device_random import bernoulli, random_source
from ..backend.devices import Backend
from .batches import shard_bounds

STREAM = 0x64726F70  # "drop": the first word of every position (the estimator's validation
                     # split draws from SeedSequence([seed, 1]))


def scaled_mask(kept, rate: float, dtype, xp):
    """The inverted-dropout mask of a bool array ``kept`` (each True with probability
    1 - rate): 1/(1-rate) where a unit is kept, 0 where it is dropped, in ``dtype``."""
    return xp.astype(kept, dtype) * (1.0 / (1.0 - rate))


class Dropout:
    """The masks of one fit: ``rates`` (one per hidden layer, of ``widths``) for this member
    (``rank`` of ``size``) of the group."""

    def __init__(self, rates, widths, seed: int, backend: Backend, rank: int = 0,
                 size: int = 1):
        self.rates, self.widths = tuple(float(rate) for rate in rates), tuple(widths)
        self.rank, self.size, self.xp = rank, size, backend.xp
        self.active = any(self.rates)
        self.source = random_source(backend, seed) if self.active else None

    def masks(self, samples_seen: int, step: int, start: int, stop: int, dtype):
        """This member's masks (rows, width) for the global batch start:stop of ``step``
        in the epoch that starts after ``samples_seen`` samples: one per hidden layer (None
        for a rate of 0), or None without dropout."""
        if not self.active:
            return None
        lo, hi = shard_bounds(start, stop, self.rank, self.size)
        draws = [((stop - start, width), 1.0 - rate)
                 for rate, width in zip(self.rates, self.widths) if rate]
        drawn = iter(bernoulli(self.source, (STREAM, samples_seen, step), draws))
        masks = []
        for rate in self.rates:
            kept = next(drawn) if rate else None
            if kept is not None and (lo, hi) != (start, stop):  # this member's rows
                kept = kept[lo - start:hi - start, ...]
            masks.append(None if kept is None else scaled_mask(kept, rate, dtype, self.xp))
        return masks

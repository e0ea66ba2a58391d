"""The backend's random source on the device: the random bits drawn every step (dropout's
kept units), by each namespace's own generator, seeded from the fit's seed, where the arrays
live.

Initial weights and batch order come from one host NumPy Generator, the same on every
backend (``mlp.init_params``, ``batches``); what is drawn every step never crosses the host.
A step's draws are a pure function of (seed, position, draws), ``position`` being
non-negative ints (the place in the fit: a stream tag and the samples seen before the
epoch, then the step) and
``draws`` the (shape, probability) of each array, drawn in order from one generator set for
that position; nothing carries from one position to the next. So a replayed step draws its
masks again, a resumed or rolled-back run needs nothing beyond its counters, every rank of
a data-parallel group draws the same, and JAX's draw is a pure function of its key words,
usable under ``jax.jit``.

One entry per namespace (``SOURCES``, keyed like ``Backend.name``):

- numpy: PCG64, one stream per position but its last word (an epoch), seeded from
  SeedSequence(seed, those words); the last word (the step) jumps ``STRIDE`` raw outputs
  on per unit (``PCG64.advance``, O(log) time), so a step costs no hashing. The raw 64-bit
  outputs are read as two 32-bit numbers each, compared with probability * 2**32 (the
  probability kept to 2**-32);
- cupy: one cuRAND Philox4_32_10 generator (``cupy.random.RandomState``) seeded at each
  position with NumPy's SeedSequence hash of (seed, position), uniform numbers;
- torch: one ``torch.Generator`` on the tensors' device, seeded likewise, uniform numbers;
- jax: a key folded with each 32-bit word of (seed, position), then with the draw's index,
  ``jax.random.bernoulli``;
- array_api_strict, and any namespace without an entry: NumPy's draw on the host, moved.
  array-api-strict has no generator; it is a CPU test namespace, so nothing crosses a bus.

Backends draw different bits from the same seed; each one's are reproducible.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .devices import Backend, require_cuda_libraries


@dataclass(frozen=True)
class RandomSource:
    """A fit's random source on ``backend``: its seed and the namespace's generator object
    (set anew at every position, so its output depends on the position alone; None where
    the entry needs none)."""

    backend: Backend
    seed: int
    generator: Any = None


@dataclass(frozen=True)
class Entry:
    make: Callable  # (backend) -> the namespace's generator object, or None
    bernoulli: Callable  # (source, position, draws) -> bool arrays on the device


STRIDE = 2**48  # raw outputs between two steps of a NumPy stream: far more than any step draws


def random_source(backend: Backend, seed: int) -> RandomSource:
    return RandomSource(backend, int(seed), _entry(backend).make(backend))


def bernoulli(source: RandomSource, position, draws) -> list:
    """For each (shape, probability) of ``draws``, in order, a bool array of that shape on
    the source's device whose entries are True with that probability (in (0, 1)): a pure
    function of (seed, position, draws)."""
    position = tuple(int(word) for word in position)
    if not position or min(position) < 0:
        raise ValueError(f"a position is one or more non-negative ints, got {position}")
    draws = [(tuple(shape), float(probability)) for shape, probability in draws]
    if not all(0.0 < probability < 1.0 for _, probability in draws):
        raise ValueError(f"probabilities in (0, 1) are needed, got {draws}")
    return _entry(source.backend).bernoulli(source, position, draws)


def _entry(backend: Backend) -> Entry:
    return SOURCES.get(backend.name, SOURCES["array_api_strict"])


def seed_word(seed: int, position) -> np.uint64:
    """A 64-bit seed from (seed, position): NumPy's SeedSequence hash."""
    return np.random.SeedSequence([seed, *position]).generate_state(1, np.uint64)[0]


def key_words(seed: int, position) -> tuple:
    """(seed, position) as 32-bit words, low half first: what the JAX key is folded with."""
    return tuple(half for word in (seed, *position)
                 for half in (word & 0xFFFFFFFF, (word >> 32) & 0xFFFFFFFF))


# -- the entries -------------------------------------------------------------------------

class HostStreams:
    """NumPy's generator for a fit: one PCG64, set at each position to its stream's start
    (kept for the last stream) and advanced to the position's last word."""

    def __init__(self, backend=None):
        self.bits = np.random.PCG64(0)
        self.starts = {}  # (seed, *stream) -> the PCG64 state at the stream's start

    def at(self, seed, position) -> np.random.PCG64:
        *stream, index = position
        key = (seed, *stream)
        if key not in self.starts:
            self.starts = {key: np.random.PCG64(np.random.SeedSequence(list(key))).state}
        self.bits.state = self.starts[key]
        self.bits.advance(index * STRIDE)
        return self.bits


def host_bernoulli(streams: HostStreams, seed, position, draws) -> list:
    """NumPy's draws: 32-bit numbers below probability * 2**32, two from each raw 64-bit
    output of the position's generator."""
    bits = streams.at(seed, position)
    kept = []
    for shape, probability in draws:
        n = math.prod(shape)
        numbers = bits.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(shape)
        kept.append(numbers < np.uint32(int(probability * 2.0**32)))
    return kept


def _numpy_bernoulli(source, position, draws):
    return host_bernoulli(source.generator, source.seed, position, draws)


def _moved_bernoulli(source, position, draws):
    return [source.backend.asarray(kept)
            for kept in host_bernoulli(source.generator, source.seed, position, draws)]


def _torch_make(backend):
    import torch

    return torch.Generator(device=backend.device)


def _torch_bernoulli(source, position, draws):
    import torch

    source.generator.manual_seed(int(seed_word(source.seed, position)))
    return [torch.rand(shape, generator=source.generator, dtype=torch.float32,
                       device=source.backend.device) < probability
            for shape, probability in draws]


def _cupy_make(backend):
    require_cuda_libraries(backend.label, "curand")  # a missing cuRAND: one line, not an import
    import cupy
    from cupy.cuda import curand

    with backend.device:
        return cupy.random.RandomState(np.uint64(0),
                                       method=curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)


def _cupy_bernoulli(source, position, draws):
    with source.backend.device:  # the generator and its output live on this GPU
        source.generator.seed(seed_word(source.seed, position))
        return [source.generator.random_sample(shape, dtype=np.float32) < probability
                for shape, probability in draws]


def jax_bernoulli(words, draws) -> list:
    """JAX's draws from the key folded with ``words`` (uint32 each), then with each draw's
    index: pure, so it traces under jax.jit with the words as an argument (``draws``
    static)."""
    import jax

    key = jax.random.key(0)
    for word in words:
        key = jax.random.fold_in(key, word)
    return [jax.random.bernoulli(jax.random.fold_in(key, index), probability, shape)
            for index, (shape, probability) in enumerate(draws)]


def _jax_bernoulli(source, position, draws):
    import jax

    return [jax.device_put(kept, source.backend.device)
            for kept in jax_bernoulli(key_words(source.seed, position), draws)]


SOURCES = {
    "numpy": Entry(HostStreams, _numpy_bernoulli),
    "cupy": Entry(_cupy_make, _cupy_bernoulli),
    "torch": Entry(_torch_make, _torch_bernoulli),
    "jax": Entry(lambda backend: None, _jax_bernoulli),
    # no generator in the namespace (a CPU test namespace): NumPy's bits, moved
    "array_api_strict": Entry(HostStreams, _moved_bernoulli),
}

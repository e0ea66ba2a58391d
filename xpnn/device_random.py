"""The backend's random source on the device: uniform numbers drawn every step (dropout
masks) by each namespace's own generator, seeded from the fit's seed, where the arrays live.

Initial weights and batch order come from one host NumPy Generator, the same on every
backend (``mlp.init_params``, ``batches``); numbers drawn every step never cross the host.
Every draw is counter-based: the numbers at ``position`` (up to three non-negative ints, the
place in the fit: samples seen before the epoch, step, layer) are a pure function of
(seed, position, shape), and nothing carries from one draw to the next. So a replayed step
draws its numbers again, a resumed or rolled-back run needs nothing beyond its counters,
every rank of a data-parallel group draws the same numbers, and JAX's draw is a pure
function of its key words, usable under ``jax.jit``.

One entry per namespace (``SOURCES``, keyed like ``Backend.name``):

- numpy: a Generator over Philox, a counter-based bit generator: key = the seed, the
  position in the counter's three high words (the low word counts the numbers drawn);
- cupy: one cuRAND Philox4_32_10 generator (``cupy.random.RandomState``), seeded per draw
  with a 64-bit hash of (seed, position);
- torch: one ``torch.Generator`` on the tensors' device, seeded per draw likewise;
- jax: a key folded with each 32-bit word of (seed, position) (``jax.random.fold_in``);
- array_api_strict, and any namespace without an entry: NumPy's draw on the host, moved.
  array-api-strict has no generator; it is a CPU test namespace, so nothing crosses a bus.

Backends draw different numbers from the same seed; each one's are reproducible.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import Backend

POSITION_WORDS = 3  # Philox's counter has four 64-bit words; the lowest counts the draws


@dataclass(frozen=True)
class RandomSource:
    """A fit's random source on ``backend``: its seed and the namespace's generator object
    (re-seeded at every draw; None where the entry needs none)."""

    backend: Backend
    seed: int
    generator: Any = None


@dataclass(frozen=True)
class Entry:
    make: Callable  # (backend) -> the namespace's generator object, or None
    uniform: Callable  # (source, position, shape) -> float32 array in [0, 1) on the device


def random_source(backend: Backend, seed: int) -> RandomSource:
    return RandomSource(backend, int(seed), _entry(backend).make(backend))


def uniform(source: RandomSource, position, shape):
    """float32 numbers in [0, 1), of ``shape``, on the source's device: a pure function of
    (seed, position, shape)."""
    position = tuple(int(word) for word in position)
    if len(position) > POSITION_WORDS or min(position, default=0) < 0:
        raise ValueError(f"a position is up to {POSITION_WORDS} non-negative ints, got "
                         f"{position}")
    return _entry(source.backend).uniform(source, position, tuple(shape))


def _entry(backend: Backend) -> Entry:
    return SOURCES.get(backend.name, SOURCES["array_api_strict"])


def seed64(seed: int, position) -> int:
    """A 64-bit seed from (seed, position) (NumPy's SeedSequence hash), for generators that
    take a seed but no counter."""
    return int(np.random.SeedSequence([seed, *position]).generate_state(1, np.uint64)[0])


def key_words(seed: int, position) -> tuple:
    """(seed, position) as 32-bit words, low half first: what the JAX key is folded with."""
    return tuple(half for word in (seed, *position)
                 for half in (word & 0xFFFFFFFF, (word >> 32) & 0xFFFFFFFF))


# -- the entries -------------------------------------------------------------------------

def _host_uniform(seed, position, shape) -> np.ndarray:
    counter = [0, *position, *[0] * (POSITION_WORDS - len(position))]
    bits = np.random.Philox(key=seed, counter=counter)
    return np.random.Generator(bits).random(shape, dtype=np.float32)


def _numpy_uniform(source, position, shape):
    return _host_uniform(source.seed, position, shape)


def _moved_uniform(source, position, shape):
    return source.backend.asarray(_host_uniform(source.seed, position, shape))


def _torch_make(backend):
    import torch

    return torch.Generator(device=backend.device)


def _torch_uniform(source, position, shape):
    import torch

    source.generator.manual_seed(seed64(source.seed, position))
    return torch.rand(shape, generator=source.generator, dtype=torch.float32,
                      device=source.backend.device)


def _cupy_make(backend):
    import cupy
    from cupy.cuda import curand

    with backend.device:
        return cupy.random.RandomState(np.uint64(0),
                                       method=curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)


def _cupy_uniform(source, position, shape):
    with source.backend.device:  # the generator and its output live on this GPU
        source.generator.seed(np.uint64(seed64(source.seed, position)))
        return source.generator.random_sample(shape, dtype=np.float32)


def jax_uniform(words, shape):
    """float32 numbers in [0, 1) from the key folded with ``words`` (uint32 each): pure,
    so it traces under jax.jit with the words as arguments."""
    import jax

    key = jax.random.key(0)
    for word in words:
        key = jax.random.fold_in(key, word)
    return jax.random.uniform(key, shape, dtype=jax.numpy.float32)


def _jax_uniform(source, position, shape):
    import jax

    return jax.device_put(jax_uniform(key_words(source.seed, position), shape),
                          source.backend.device)


SOURCES = {
    "numpy": Entry(lambda backend: None, _numpy_uniform),
    "cupy": Entry(_cupy_make, _cupy_uniform),
    "torch": Entry(_torch_make, _torch_uniform),
    "jax": Entry(lambda backend: None, _jax_uniform),
    # no generator in the namespace (a CPU test namespace): NumPy's numbers, moved
    "array_api_strict": Entry(lambda backend: None, _moved_uniform),
}

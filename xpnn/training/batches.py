"""Rows on the device: the splits of a fit, their batches, and each rank's share of them.

All data of a fit lives on one device, once, in the dtype it came in (uint8 images stay
uint8: a quarter of float32's bytes); each batch is cast to the training dtype as it is
gathered, which gives the bits a cast of the whole set would. A ``DeviceSplit`` is that
one copy and, for a split of it (early stopping's training and validation rows), the
indices of its rows: splits never copy the features. The host draws one permutation per
epoch (moved to the device once); batches are gathered on the device (sparse host
matrices: gathered on the host by CSR row indexing and moved as sparse matrices, never
densified: ``rows_on_device``). A fit runs in a group of processes (``distributed.py``;
one process is a group of one): every member draws the same permutation and takes its
contiguous share of each global batch.
"""
from __future__ import annotations

import math

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ..backend.devices import Backend, as_host_array, is_sparse
from ..core.mlp import loss_denominator
from ..core.rows import reference_take, scaled


@dataclass(frozen=True)
class DeviceSplit:
    """Features (N, d) in their own dtype, targets (class indices (N,) or values (N, k)),
    optional row weights (N,), on one device; ``index``: the rows of them that make this
    split (a host int64 array, and ``device_index`` the same on the device), or None for
    all. ``X`` may instead be a host scipy.sparse CSR matrix: its batches are moved to the
    device one at a time, still sparse. ``dtype``: the training dtype's name (float32 or
    float64), what every batch of X is cast to; ``scaling``: None, or (shift or None,
    factor) on the device, what each cast batch becomes (x - shift) * factor (``xpnn
    train``'s saved preprocessing, ``scale_rows``)."""

    X: object
    y: object
    w: object = None
    dtype: str = "float64"
    index: np.ndarray | None = None
    device_index: object = None
    scaling: tuple | None = None

    def __len__(self):
        return self.X.shape[0] if self.index is None else self.index.shape[0]

    @property
    def sparse(self) -> bool:
        return is_sparse(self.X)

    def dtype_on(self, backend: Backend):
        """The training dtype on ``backend``."""
        return backend.dtype(self.dtype)

    def rows(self, start: int, stop: int) -> DeviceSplit:
        """Rows start:stop of this split (no copy of the features); the split itself for all."""
        if start == 0 and stop == len(self):
            return self
        if self.index is None:
            return replace(self, X=self.X[start:stop, ...], y=self.y[start:stop, ...],
                           w=None if self.w is None else self.w[start:stop])
        return replace(self, index=self.index[start:stop],
                       device_index=self.device_index[start:stop])

    def take(self, host_idx, backend: Backend) -> DeviceSplit:
        """The rows ``host_idx`` (a host index array of this split's rows) as a split of the
        same arrays: indices, not copies."""
        host_idx = np.asarray(host_idx, dtype=np.int64)
        index = host_idx if self.index is None else self.index[host_idx]
        return replace(self, index=index, device_index=backend.asarray(index))

    def chunk(self, start: int, stop: int, backend: Backend):
        """(inputs in the training dtype, targets, weights) of rows start:stop of this split,
        on the device (evaluation and L-BFGS go through the rows in such chunks)."""
        if self.index is None:
            return self.slice(start, stop, backend)
        return self.gather(self.device_index[start:stop], self.index[start:stop], backend)

    def slice(self, start: int, stop: int, backend: Backend):
        """(inputs in the training dtype, targets, weights) of rows start:stop of the whole
        arrays."""
        self._check_room(stop - start, backend)
        inputs = rows_on_device(self.X, start, stop, backend, self.dtype_on(backend))
        return (scaled(inputs, self.scaling), self.y[start:stop, ...],
                None if self.w is None else self.w[start:stop])

    def gather(self, batch_idx, host_idx, backend: Backend, take=None):
        """(inputs in the training dtype, targets, weights) of the rows ``batch_idx`` of the
        whole arrays (a device index array; ``host_idx``, the same on the host, gathers
        sparse rows); ``take(array, batch_idx, slot, dtype, scaling)``: the step's gather."""
        take = take or reference_take(backend.xp)
        if self.sparse:
            inputs = rows_on_device(self.X, 0, 0, backend, self.dtype_on(backend), host_idx)
        else:
            self._check_room(int(batch_idx.shape[0]), backend)
            inputs = take(self.X, batch_idx, "X", self.dtype_on(backend), self.scaling)
        return (inputs, take(self.y, batch_idx, "y"),
                None if self.w is None else take(self.w, batch_idx, "w", None))

    def _check_room(self, n_rows: int, backend: Backend):
        """The free-memory check for ``n_rows`` dense rows in the training dtype (a full
        batch, an L-BFGS chunk): on a GPU, a clear error instead of an out-of-memory."""
        if not self.sparse:
            row_bytes = math.prod(self.X.shape[1:]) * np.dtype(self.dtype).itemsize
            backend.check_room(n_rows * row_bytes, f"a batch of {n_rows:,} rows needs")

    def targets(self, xp):
        """This split's targets (a small gather when it is a split of the rows)."""
        return self.y if self.index is None else xp.take(self.y, self.device_index, axis=0)

    def weights(self, xp):
        """This split's row weights, or None."""
        if self.w is None or self.index is None:
            return self.w
        return xp.take(self.w, self.device_index, axis=0)

    def weight_total(self, xp) -> float:
        """The number of rows, or the summed row weights (one host read)."""
        weights = self.weights(xp)
        return float(len(self)) if weights is None else float(as_host_array(xp.sum(weights)))


def batch_slices(n: int, batch_size: int | None):
    """(start, stop) of each batch over n rows; one batch of all rows when batch_size is 0."""
    if n == 0:
        return []
    size = n if not batch_size else min(int(batch_size), n)
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def shard_bounds(start: int, stop: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous rows of start:stop among ``size``: sizes differ by at most
    one (a rank may get none when there are fewer rows than ranks)."""
    n = stop - start
    return start + n * rank // size, start + n * (rank + 1) // size


def rows_on_device(X, start, stop, backend: Backend, dtype, host_rows=None):
    """Rows start:stop of X on the device in ``dtype``: a slice of a device array (cast if
    X is in another dtype), or of a sparse host matrix the rows sliced (or gathered at
    ``host_rows``) on the host and moved as a sparse matrix in ``dtype``
    (``Backend.sparse_rows``): O(nnz), never densified."""
    if is_sparse(X):
        block = X[host_rows] if host_rows is not None else X[start:stop]
        return backend.sparse_rows(block, dtype)
    return backend.xp.astype(X[start:stop, ...], dtype, copy=False)


class MemberBatch(NamedTuple):
    """A member's rows of a global batch (``Batches.local``), and their part of its mean."""

    inputs: object
    targets: object
    weights: object  # None without row weights
    share: float  # W_r / W: this member's rows (or summed weights) over the batch's
    denominator: object  # W, the batch mean's: a float, or a 0-d array (a group of one)


@dataclass(frozen=True)
class EpochOrder:
    """One epoch's order: the rows of the split's arrays, step by step, on the host (None:
    the arrays' own order, batches as slices) and the same on the device."""

    host: np.ndarray | None
    device: object = None


class Batches:
    """The batches of one fit and this rank's share of each: what the loop steps through.

    ``take(array, batch_idx, slot, dtype)`` gathers rows on the device, cast to ``dtype``
    (None: the array's own): the step kernel's, which may write into reused buffers.
    """

    def __init__(self, data: DeviceSplit, batch_size, shuffle: bool, backend: Backend, dtype,
                 take, rank: int = 0, size: int = 1):
        self.data, self.backend, self.dtype, self.take = data, backend, dtype, take
        self.rank, self.size = rank, size
        self.slices = batch_slices(len(data), batch_size)
        self.shuffle = shuffle and len(self.slices) > 1
        # zero-weight batches are skipped (their weighted mean is 0/0), and each rank's share
        # of a batch is its summed weights: both from the host weights (indexed like the
        # arrays, as EpochOrder.host is), read once per fit
        self.host_weights = None if data.w is None else as_host_array(data.w)

    def __len__(self):
        return len(self.slices)

    def order(self, rng: np.random.Generator) -> EpochOrder:
        """This epoch's order: one permutation from ``rng`` of the split's rows (moved to the
        device once)."""
        data = self.data
        if not self.shuffle:
            return EpochOrder(data.index, data.device_index)
        host = rng.permutation(len(data))
        if data.index is not None:
            host = data.index[host]
        return EpochOrder(host, self.backend.asarray(host))

    def empty_steps(self, order: EpochOrder) -> set:
        """1-based steps whose rows all have weight 0 this epoch (host arithmetic only)."""
        if self.host_weights is None or not self.slices:
            return set()
        weights = self.host_weights if order.host is None else self.host_weights[order.host]
        sums = np.add.reduceat(weights, [start for start, _ in self.slices])
        return {step for step, total in enumerate(sums, start=1) if not total > 0}

    def steps(self, order: EpochOrder, after: int = 0):
        """(step, start, stop) of each step of the epoch after step ``after`` (1-based),
        but those whose rows all have weight 0 (nothing to learn from, and a 0/0 mean)."""
        empty = self.empty_steps(order)
        for step, (start, stop) in enumerate(self.slices[after:], start=after + 1):
            if step not in empty:
                yield step, start, stop

    def local(self, order: EpochOrder, start: int, stop: int) -> MemberBatch:
        """This rank's rows of the global batch start:stop: its contiguous share. A group of
        one holds every batch whole: share 1, and the denominator its rows or its weights
        summed on the device, as the reference's own mean."""
        lo, hi = shard_bounds(start, stop, self.rank, self.size)
        inputs, targets, weights = self.rows(order, lo, hi)
        if self.size == 1:
            return MemberBatch(inputs, targets, weights, 1.0,
                               loss_denominator(inputs, weights, self.backend.xp))
        if self.host_weights is None:
            share, denominator = (hi - lo) / (stop - start), float(stop - start)
        else:  # every rank sums the same host weights: the same denominator everywhere
            rows = order.host[start:stop] if order.host is not None else slice(start, stop)
            batch_w = np.asarray(self.host_weights[rows], dtype=np.float64)
            denominator = float(np.sum(batch_w))
            local = float(np.sum(batch_w[lo - start:hi - start]))
            share = local / denominator if local else 0.0
        return MemberBatch(inputs, targets, weights, share, denominator)

    def rows(self, order: EpochOrder, start: int, stop: int):
        """(inputs in the training dtype, targets, weights) of rows start:stop of this
        epoch's order."""
        data = self.data
        if order.host is None:  # no shuffling (or one batch) of whole arrays: slices
            return data.slice(start, stop, self.backend)
        return data.gather(order.device[start:stop], order.host[start:stop], self.backend,
                           self.take)

"""Rows on the device: the splits of a fit, their batches, and each rank's share of them.

All data of a fit lives on one device as a ``DeviceSplit``. The host draws one permutation
per epoch (moved to the device once); batches are gathered on the device (sparse host
matrices: gathered on the host by CSR row indexing and moved as sparse matrices, never
densified: ``rows_on_device``). A fit runs in a group of processes
(``distributed.py``; one process is a group of one): every member draws the same
permutation and takes its contiguous share of each global batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import Backend, as_host_array, is_sparse
from .mlp import loss_denominator


@dataclass(frozen=True)
class DeviceSplit:
    """Features (n, d) in the training dtype, targets (class indices (n,) or values (n, k)),
    optional row weights (n,), on one device. ``X`` may instead be a host scipy.sparse CSR
    matrix: its batches are moved to the device one at a time, still sparse."""

    X: object
    y: object
    w: object = None

    def __len__(self):
        return self.X.shape[0]

    @property
    def sparse(self) -> bool:
        return is_sparse(self.X)

    def dtype_on(self, backend: Backend):
        """The training dtype on ``backend``: that of the features (host dtype if sparse)."""
        if self.sparse:
            return backend.dtype(str(self.X.dtype))
        return backend.dtype("float64" if self.X.dtype == backend.xp.float64 else "float32")

    def rows(self, start: int, stop: int) -> DeviceSplit:
        """Rows start:stop (views where the namespace has them); the split itself for all."""
        if start == 0 and stop == len(self):
            return self
        return DeviceSplit(self.X[start:stop, ...], self.y[start:stop, ...],
                           None if self.w is None else self.w[start:stop])

    def take(self, host_idx, backend: Backend) -> DeviceSplit:
        """The rows ``host_idx`` (a host index array), gathered on the device (sparse X: on
        the host)."""
        idx = backend.asarray(np.asarray(host_idx, dtype=np.int64))
        take = backend.xp.take
        X = self.X[host_idx] if self.sparse else take(self.X, idx, axis=0)
        return DeviceSplit(X, take(self.y, idx, axis=0),
                           None if self.w is None else take(self.w, idx, axis=0))

    def weight_total(self, xp) -> float:
        """The number of rows, or the summed row weights (one host read)."""
        return float(len(self)) if self.w is None else float(as_host_array(xp.sum(self.w)))


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
    """Rows start:stop of X on the device: a slice of a device array, or of a sparse host
    matrix the rows sliced (or gathered at ``host_rows``) on the host and moved as a sparse
    matrix in ``dtype`` (``Backend.sparse_rows``): O(nnz), never densified."""
    if is_sparse(X):
        block = X[host_rows] if host_rows is not None else X[start:stop]
        return backend.sparse_rows(block, dtype)
    return X[start:stop, ...]


@dataclass(frozen=True)
class EpochOrder:
    """One epoch's row order: on the host (None: the data's own order) and on the device
    (None also for sparse data, whose rows are gathered on the host)."""

    host: np.ndarray | None
    device: object = None


class Batches:
    """The batches of one fit and this rank's share of each: what the loop steps through.

    ``take(array, batch_idx, slot)`` gathers rows on the device (the step kernel's, which
    may write into reused buffers).
    """

    def __init__(self, data: DeviceSplit, batch_size, shuffle: bool, backend: Backend, dtype,
                 take, rank: int = 0, size: int = 1):
        self.data, self.backend, self.dtype, self.take = data, backend, dtype, take
        self.rank, self.size = rank, size
        self.slices = batch_slices(len(data), batch_size)
        self.shuffle = shuffle and len(self.slices) > 1
        # zero-weight batches are skipped (their weighted mean is 0/0), and each rank's share
        # of a batch is its summed weights: both from the host weights, read once per fit
        self.host_weights = None if data.w is None else as_host_array(data.w)

    def __len__(self):
        return len(self.slices)

    def order(self, rng: np.random.Generator) -> EpochOrder:
        """This epoch's order: one permutation from ``rng`` (moved to the device once)."""
        if not self.shuffle:
            return EpochOrder(None)
        host = rng.permutation(len(self.data))
        return EpochOrder(host, None if self.data.sparse else self.backend.asarray(host))

    def empty_steps(self, order: EpochOrder) -> set:
        """1-based steps whose rows all have weight 0 this epoch (host arithmetic only)."""
        if self.host_weights is None or not self.slices:
            return set()
        weights = self.host_weights if order.host is None else self.host_weights[order.host]
        sums = np.add.reduceat(weights, [start for start, _ in self.slices])
        return {step for step, total in enumerate(sums, start=1) if not total > 0}

    def local(self, order: EpochOrder, start: int, stop: int):
        """(inputs, targets, weights, portion) of this rank's rows of the global batch
        start:stop: its contiguous share, and portion = (share, denominator): the share
        W_r / W of the global batch's rows (or summed weights) and the global denominator W
        of its mean. A group of one holds every batch whole: share 1, and the denominator
        its rows or its weights summed on the device, as the reference's own mean."""
        lo, hi = shard_bounds(start, stop, self.rank, self.size)
        inputs, targets, weights = self.rows(order, lo, hi)
        if self.size == 1:
            return inputs, targets, weights, (1.0, loss_denominator(inputs, weights,
                                                                    self.backend.xp))
        if self.host_weights is None:
            share, denominator = (hi - lo) / (stop - start), float(stop - start)
        else:  # every rank sums the same host weights: the same denominator everywhere
            rows = order.host[start:stop] if order.host is not None else slice(start, stop)
            batch_w = np.asarray(self.host_weights[rows], dtype=np.float64)
            denominator = float(np.sum(batch_w))
            local = float(np.sum(batch_w[lo - start:hi - start]))
            share = local / denominator if local else 0.0
        return inputs, targets, weights, (share, denominator)

    def rows(self, order: EpochOrder, start: int, stop: int):
        """(inputs, targets, weights) of rows start:stop of this epoch's order."""
        data = self.data
        if order.host is None:  # no shuffling (or one batch): contiguous rows
            inputs = rows_on_device(data.X, start, stop, self.backend, self.dtype)
            return inputs, data.y[start:stop, ...], None if data.w is None else data.w[start:stop]
        if data.sparse:
            inputs = rows_on_device(data.X, start, stop, self.backend, self.dtype,
                                    order.host[start:stop])
            batch_idx = self.backend.asarray(order.host[start:stop])
        else:
            batch_idx = order.device[start:stop]
            inputs = self.take(data.X, batch_idx, "X")
        targets = self.take(data.y, batch_idx, "y")
        weights = None if data.w is None else self.take(data.w, batch_idx, "w")
        return inputs, targets, weights

"""Inference over whole splits: raw outputs, and loss and score sums, in batches on the device.

Sums stay on the device and are read once by the caller; in a group of processes
(``distributed.py``) each member evaluates its share of the rows and the host sums are
reduced once.
"""
from __future__ import annotations

from ..backend.devices import Backend, as_host_array, read_scalars
from ..core import mlp
from ..core.heads import HEADS
from .batches import DeviceSplit, batch_slices, rows_on_device, shard_bounds

EVAL_BATCH_ROWS = 8192


def evaluate_sums(params, split: DeviceSplit, spec: mlp.MLPSpec, backend: Backend, dtype, *,
                  score: bool = False, batch_size: int = EVAL_BATCH_ROWS):
    """[summed (weighted) head loss, summed statistic] over ``split`` on the device, in
    batches; the statistic is the validation score's numerator (``score``), else the
    training metric (correct count for a classifier; 0 when the head has none)."""
    xp, device = backend.xp, backend.device
    head = HEADS[spec.head]
    statistic = head.score_sum if score else head.metric_sum
    loss_sum = xp.zeros((), dtype=dtype, device=device)
    total = xp.zeros((), dtype=dtype, device=device)
    for start, stop in batch_slices(len(split), batch_size):
        inputs, targets, weights = split.chunk(start, stop, backend)
        outputs = mlp.predict_outputs(params, inputs, xp, spec)
        rows = float(stop - start) if weights is None else xp.sum(weights)
        loss_sum += head.loss(outputs, targets, xp, weights) * rows
        if statistic is not None:
            total = total + xp.astype(statistic(outputs, targets, xp, weights), dtype)
    return [loss_sum, total]


class Validation:
    """The validation split of a fit: the share of its rows this member evaluates after each
    epoch, and its score's host constants (read once per fit)."""

    def __init__(self, split: DeviceSplit, spec: mlp.MLPSpec, backend: Backend, dtype,
                 reducer):
        self.spec, self.backend, self.dtype = spec, backend, dtype
        self.weight = split.weight_total(backend.xp)
        self.finish_score = HEADS[spec.head].score_context(
            as_host_array(split.targets(backend.xp)),
            None if split.w is None else as_host_array(split.weights(backend.xp)))
        self.rows = split.rows(*shard_bounds(0, len(split), reducer.rank, reducer.size))

    def sums(self, params) -> list:
        """[weighted loss sum, score numerator] of this member's rows, on the device."""
        return evaluate_sums(params, self.rows, self.spec, self.backend, self.dtype,
                             score=True)

    def finish(self, loss_sum, score_sum) -> tuple[float, float]:
        """(validation loss, score) from the group's summed host sums."""
        return loss_sum / self.weight, self.finish_score(score_sum)


def evaluate(params, split: DeviceSplit, spec: mlp.MLPSpec, backend: Backend, dtype, reducer):
    """(mean head loss, mean metric) over ``split`` as host floats: this member's share of
    the rows summed on the device, one read, one host sum over the group."""
    lo, hi = shard_bounds(0, len(split), reducer.rank, reducer.size)
    sums = read_scalars(evaluate_sums(params, split.rows(lo, hi), spec, backend, dtype),
                        backend.xp)
    loss_sum, metric_sum = reducer.host_sum(sums)
    total = split.weight_total(backend.xp)
    return loss_sum / total, metric_sum / total


def outputs_in_batches(params, X, spec: mlp.MLPSpec, backend: Backend, dtype,
                       batch_size: int = EVAL_BATCH_ROWS):
    """Raw outputs (n, k) for all rows, computed in batches, concatenated on the device."""
    xp = backend.xp
    parts = [mlp.predict_outputs(params, rows_on_device(X, start, stop, backend, dtype),
                                 xp, spec)
             for start, stop in batch_slices(X.shape[0], batch_size)]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)

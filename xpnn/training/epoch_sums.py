"""An epoch's training loss and metric, and its one host read.

The sums stay on the device step by step (no host sync in the loop) and are read once at
the epoch's end, together with the finite flag and validation's sums; then one small host
sum over the group (``distributed.py``), so every member decides alike.
"""
from __future__ import annotations

from .. import kernels
from ..backend.devices import as_host_array, read_scalars
from ..core.heads import HEADS
from . import divergence
from .evaluation import Validation


class EpochSums:
    """A fit's per-epoch sums: ``reset`` at each epoch's start, ``add`` after each step."""

    def __init__(self, stages, spec, backend, dtype, reducer, data, val=None):
        self.xp, self.backend, self.dtype, self.reducer = backend.xp, backend, dtype, reducer
        self.head = HEADS[spec.head]
        # the functions of arrays they run each step or epoch, compiled where the kernel
        # compiles (``kernels.compiled``)
        self.batch_metric = kernels.compiled(stages, self.head.metric_sum, (2,))
        self.finite = kernels.compiled(stages, divergence.finite_flag, (2,))
        self.validation = (None if val is None
                           else Validation(val, spec, backend, dtype, reducer))
        self.train_rows = len(data)
        self.train_weight = data.weight_total(self.xp)  # a host float, read once per fit
        self.loss_sum = self.metric_sum = None

    def reset(self):
        self.loss_sum = self.xp.zeros((), dtype=self.dtype, device=self.backend.device)
        self.metric_sum = None

    def add(self, loss, outputs, batch, rows: int):
        """A step's mean ``loss`` over the global batch of ``rows``; its metric's sum."""
        self.loss_sum += loss * float(rows)
        if self.head.metric is not None:
            hits = self.batch_metric(outputs, batch.targets, self.xp, batch.weights)
            self.metric_sum = hits if self.metric_sum is None else self.metric_sum + hits

    def finite_everywhere(self, params) -> bool:
        """The loss sum and every parameter finite on every member (one small message)."""
        finite = bool(as_host_array(self.finite(self.loss_sum, params, self.xp)))
        return self.reducer.host_sum([0.0 if finite else 1.0])[0] == 0

    def read(self, params) -> tuple[bool, list, bool]:
        """(finite, totals, stop): the epoch's one host read and one host sum over the
        group: the loss sum and every parameter finite everywhere; the totals for
        ``record``; a Ctrl-C on any member (``reducer.stop_requested``)."""
        sums = [self.finite(self.loss_sum, params, self.xp), self.loss_sum]
        if self.metric_sum is not None:
            sums.append(self.metric_sum)
        if self.validation is not None:
            sums += self.validation.sums(params)
        finite, *rest = read_scalars(sums, self.xp)
        not_finite, *totals, stops = self.reducer.host_sum(
            [0.0 if finite else 1.0, *rest, float(self.reducer.stop_requested)])
        return not not_finite, totals, stops > 0

    def record(self, epoch: int, totals: list, rate: float) -> dict:
        """The epoch's history row from ``read``'s totals; ``rate``: its last step's
        learning rate."""
        loss_total, *sums = totals
        record = {"epoch": epoch, "loss": loss_total / self.train_rows,
                  "learning_rate": rate}
        if self.head.metric is not None:
            record[self.head.metric] = sums.pop(0) / self.train_weight
        val_score_key = f"val_{self.head.score_name}"
        record["val_loss"] = record[val_score_key] = None
        if self.validation is not None:
            record["val_loss"], record[val_score_key] = self.validation.finish(*sums)
        return record

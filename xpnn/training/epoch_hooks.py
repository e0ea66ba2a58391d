"""An epoch's begin and end as the callbacks see them, agreed by the group.

In a group of N every member gets hooks when any has them (the others:
``EpochHooks.passive()``), so every member learns a stop, or a hook's exception, at the
same epoch: one small host sum after each epoch's end.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import CallbackError


@dataclass(frozen=True)
class EpochHooks:
    """An epoch's begin and end as tasks (``fit_callbacks.FitTasks``)."""

    begin: Callable[[int], None]  # begin(epoch), before its first step
    end: Callable[[dict], bool]  # end(record), after its history row and the plateau
                                 # rule: true to stop training after it
    abandon: Callable[[], None]  # the begun epoch ends unfinished (Ctrl-C)

    @staticmethod
    def passive() -> EpochHooks:
        """A member's hooks where another runs the callbacks: it only joins the sums."""
        return EpochHooks(lambda epoch: None, lambda record: False, lambda: None)


class EpochCallbacks:
    """What the loop tells the outside at an epoch's begin and end: ``hooks`` (None: none
    anywhere in the group), and ``on_epoch(record)`` and ``on_plateau(outcome)``
    (``train.train``'s)."""

    def __init__(self, hooks: EpochHooks | None, reducer, on_epoch=None, on_plateau=None):
        self.hooks, self.reducer = hooks, reducer
        self.on_epoch, self.on_plateau = on_epoch, on_plateau
        self.failure = None  # a hook's exception, raised once the group has agreed

    def begin(self, epoch: int) -> None:
        self._call("begin", epoch)

    def end(self, record: dict, outcome: str | None) -> bool:
        """After the epoch's history row and the plateau rule's ``outcome``: true to stop
        after this epoch, agreed by the group."""
        if self.on_epoch is not None:
            self.on_epoch(record)
        if outcome is not None and self.on_plateau is not None:
            self.on_plateau(outcome)
        if self.hooks is None:
            return False
        stop = bool(self._call("end", record))
        if self.reducer.size > 1:  # the hooks run on rank 0: every member learns its word
            stops, failures = self.reducer.host_sum([float(stop),
                                                     float(self.failure is not None)])
            if failures:
                if self.failure is not None:
                    raise self.failure
                raise CallbackError(f"a callback raised on another rank after epoch "
                                    f"{record['epoch']}; this rank stops with it")
            stop = stops > 0
        return stop

    def abandon(self) -> None:
        if self.hooks is not None:
            self.hooks.abandon()

    def _call(self, name, *args):
        """A hook's result; in a group, its exception kept for ``end`` to raise on every
        member at once (raising here would leave the others waiting in the next sum)."""
        if self.hooks is None or self.failure is not None:
            return None
        try:
            return getattr(self.hooks, name)(*args)
        except Exception as failure:
            if self.reducer.size == 1:
                raise
            self.failure = failure
            return None

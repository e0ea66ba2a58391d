"""A training run as the dashboard sees it: the plan, one record per epoch, the end.

``xpnn train --dashboard`` feeds it from ``on_epoch``; ``xpnn serve --metrics-log FILE``
fills it from a finished run's JSON lines. Readers (one per ``GET /api/events`` stream) wait
on a condition for what they have not sent yet.
"""
from __future__ import annotations

import json
import threading
import time

from ..reports.history import kept_epoch, training_seconds


class RunEvents:
    """What happened so far, in order: ``("run", plan)``, ``("epoch", record)`` ...,
    ``("end", summary)``."""

    def __init__(self):
        self.events = []  # (kind, data dict), append-only
        self.changed = threading.Condition()
        self.closed = False  # the server is stopping: streams end

    def start(self, epochs: int, **about) -> None:
        """The run's plan: its epochs in all, where it trains, and when it started (wall)."""
        self._add("run", {"epochs": int(epochs), "started": time.time(), **about})

    def epoch(self, record: dict) -> None:
        """One epoch's history row (``train.FitRun``'s: epoch, loss, accuracy, val_*,
        seconds, the epoch's own time)."""
        self._add("epoch", {key: value for key, value in record.items()
                            if isinstance(value, (int, float, str, type(None)))})

    def end(self, kept: int, seconds: float, **summary) -> None:
        """The run is over: ``kept``, the epoch whose weights the model kept; ``seconds``,
        the epochs' own time."""
        self._add("end", {"kept_epoch": kept, "training_seconds": seconds, **summary})

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def _add(self, kind, data):
        with self.changed:
            self.events.append((kind, data))
            self.changed.notify_all()

    def after(self, index: int, timeout: float):
        """The events from ``index`` on, waiting up to ``timeout`` s for one; [] when none
        came (or the server is stopping)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.events) > index or self.closed, timeout)
            return list(self.events[index:])

    @classmethod
    def from_metrics_log(cls, path) -> "RunEvents":
        """A finished run from ``xpnn train --metrics-log``'s file: every epoch, then the end
        (kept: the best validation accuracy's epoch where there is validation, else the
        last)."""
        from ..errors import XpnnDataError

        events = cls()
        records = []
        try:
            with open(path, encoding="utf-8") as file:
                for number, line in enumerate(file, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise XpnnDataError(f"{path}, line {number}: not JSON ({exc.msg})") \
                            from None
                    if not isinstance(record, dict) or "epoch" not in record:
                        raise XpnnDataError(f"{path}, line {number}: not an epoch record "
                                            f"of xpnn train --metrics-log")
                    records.append(record)
        except UnicodeDecodeError:
            raise XpnnDataError(f"{path}: not UTF-8 text") from None
        if not records:
            raise XpnnDataError(f"{path}: no epoch records")
        events.start(len(records), source=str(path), finished=True)
        for record in records:
            events.epoch(record)
        events.end(kept_epoch(records), training_seconds(records))
        return events

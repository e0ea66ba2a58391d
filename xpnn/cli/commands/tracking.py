"""``xpnn train --tensorboard DIR --mlflow [EXPERIMENT]``: the trackers the flags ask for
(``xpnn/callbacks.py``), made when the run starts, so that a missing package is one line
before any data is read; fed each epoch's history row from ``on_epoch``, then the test
scores and the saved model; closed however the run ends."""
from __future__ import annotations

import contextlib

from ...callbacks import MLflowLogger, TensorBoardLogger

# the flag -> its attribute on the parsed args and the tracker made from its value
TRACKER_FLAGS = {
    "--tensorboard": ("tensorboard", TensorBoardLogger),  # TensorBoardLogger(DIR)
    "--mlflow": ("mlflow", MLflowLogger),  # MLflowLogger(EXPERIMENT)
}


def trackers_for(args) -> Trackers:
    """The trackers the flags name; an XpnnError (the extra's one line) for a missing
    package."""
    made = []
    for flag, (attribute, tracker) in TRACKER_FLAGS.items():
        value = getattr(args, attribute, None)
        if value is not None:
            tracker.require_package(feature=flag)
            made.append(tracker(value))
    return Trackers(made)


class Trackers:
    """A run's trackers as one: each call goes to every one of them (none: off rank 0, or
    without the flags)."""

    def __init__(self, trackers=()):
        self.trackers = list(trackers)

    @contextlib.contextmanager
    def running(self, params: dict):
        """Each tracker's run open for the block, with ``params``; closed as the block ends
        (as failed, or interrupted, when an exception ends it)."""
        with contextlib.ExitStack() as opened:
            for tracker in self.trackers:
                tracker.start(params)
                opened.push(tracker)  # its __exit__ closes it
            yield self

    def log_epoch(self, record: dict) -> None:
        for tracker in self.trackers:
            tracker.log_epoch(record)

    def log_metrics(self, metrics: dict) -> None:
        for tracker in self.trackers:
            tracker.log_metrics(metrics)

    def log_artifact(self, path) -> None:
        for tracker in self.trackers:
            tracker.log_artifact(path)

"""Training progress for people: a tqdm bar on a terminal, plain lines otherwise."""
from __future__ import annotations

import json
import sys


class Progress:
    """Callbacks for ``MLPClassifier.fit``: ``on_step(step, steps_in_epoch)`` (host counters
    only) and ``on_epoch(record)``."""

    def __init__(self, epochs, *, quiet=False, metrics_log=None, stream=None, epochs_done=0,
                 append_log=False, keeps_best=False):
        self.epochs, self.epochs_done = epochs, epochs_done
        # the metrics log says on each row whether the run keeps its best validation epoch
        # (early stopping) or its last (a validation set only scored): what a replay shows
        self.keeps_best = keeps_best
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.bar = None
        self.use_bar = not quiet and self.stream.isatty()
        self.metrics_log_path = metrics_log  # opened at the first record: a run that fails
        self.log_mode = "a" if append_log else "w"  # before any epoch leaves the old log alone
        self.metrics_log = None

    def on_step(self, step, steps_in_epoch):
        if not self.use_bar:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=steps_in_epoch, file=self.stream, leave=False, unit="step",
                            desc=f"epoch {self.epochs_done + 1}/{self.epochs}",
                            dynamic_ncols=True)
        self.bar.update(1)

    def on_epoch(self, record):
        self.epochs_done = record["epoch"]
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.metrics_log_path is not None:
            if self.metrics_log is None:
                self.metrics_log = open(self.metrics_log_path, self.log_mode)
            self.metrics_log.write(json.dumps({**record, "keeps_best": self.keeps_best})
                                   + "\n")
            self.metrics_log.flush()
        if not self.quiet:
            print(format_epoch(record, self.epochs), file=self.stream)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.metrics_log is not None:
            self.metrics_log.close()
            self.metrics_log = None


def format_epoch(record, epochs):
    val = ""
    if record.get("val_loss") is not None:
        val = f"  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.4f}"
    return (f"epoch {record['epoch']:>3}/{epochs}  loss {record['loss']:.4f}  "
            f"acc {record['accuracy']:.4f}{val}  {record['seconds']:.2f} s")

"""``xpnn train --dashboard [--port N] [--host H]``: the run's curves live in the browser.

Rank 0 (the one process without MPI) listens before any data is read (a port in use is one
line), streams each epoch's record to ``GET /api/events``, and after training shows the
kept epoch, the test accuracy and, for an image classifier, the drawing pad with the
trained model; it stays up until Ctrl-C (one line, status 0). Without the flag, and on every
other rank, ``Dashboard()`` does nothing: the training code never asks whether there is one.
"""
from __future__ import annotations

import signal
import sys
import threading
import time

from ...errors import XpnnError
from ...parallel.distributed import leave_mpi
from ...reports.history import training_seconds
from ...serve.events import RunEvents
from ...serve.reader import DrawingReader
from .report import model_kept_epoch
from .serve import announce, start_server


class Dashboard:
    """No dashboard: each call does nothing (``LiveDashboard`` does them)."""

    def start(self, model, source: str) -> None:
        pass

    def epoch(self, record: dict) -> None:
        pass

    def end(self, model, preprocessing, info, test_accuracy, started) -> None:
        pass

    def stay_up(self, comm=None) -> int:
        return 0


class LiveDashboard(Dashboard):
    def __init__(self, host, port):
        self.events = RunEvents()
        self.stop_serving = threading.Event()  # set by Ctrl-C once the run has ended
        self.server = start_server(host, port, events=self.events, command="train")
        self.server.start_in_thread()
        announce("train", self.server, home="dashboard")

    def start(self, model, source):
        self.events.start(model.max_iter, source=source, early_stopping=model.early_stopping,
                          finished=False)
        for record in getattr(model, "history_", None) or []:  # resumed: the epochs so far
            self.events.epoch(record)

    def epoch(self, record):
        self.events.epoch(record)

    def end(self, model, preprocessing, info, test_accuracy, started):
        try:  # an image classifier: the pad reads drawings with it
            self.server.reader = DrawingReader(model, preprocessing, info)
        except XpnnError:
            pass
        # from the end event on, Ctrl-C means "stop serving", whenever it comes (also
        # before stay_up, while this rank reports or waits in MPI_Finalize)
        signal.signal(signal.SIGINT, lambda signum, frame: self.stop_serving.set())
        self.events.end(model_kept_epoch(model), training_seconds(model.history_),
                        test_accuracy=test_accuracy, wall_seconds=time.perf_counter() - started)

    def stay_up(self, comm=None) -> int:
        """Serve the finished run until Ctrl-C: one line, status 0. With MPI, this rank (0)
        leaves MPI first, so that the other ranks end now."""
        leave_mpi(comm)
        print(f"xpnn train: done; the dashboard stays at {self.server.url} until Ctrl-C",
              file=sys.stderr, flush=True)
        try:
            while not self.stop_serving.wait(0.2):
                pass
            print(f"xpnn train: stopped serving {self.server.url}", file=sys.stderr)
        finally:
            self.server.stop()
        return 0


def dashboard_for(args, lead: bool) -> Dashboard:
    """The live dashboard --dashboard asks for, on the lead process; else none."""
    given = getattr(args, "given", set())
    if not args.dashboard and given & {"--port", "--host"}:
        raise XpnnError("--port and --host are the dashboard's: add --dashboard")
    return LiveDashboard(args.host, args.port) if args.dashboard and lead else Dashboard()

"""What an MPI launcher tells a process before MPI starts, and Ctrl-C at any moment of a job.

``mpiexec`` forwards Ctrl-C (SIGINT) to every rank, wherever each one is. Two things make a
careless end hang or crash: a rank that leaves before MPI has started leaves the others
blocked in MPI_Init, and a KeyboardInterrupt inside an extension's import (NumPy, SciPy)
becomes an odd ImportError or crashes the process at exit (one process too). So at
start-up (``end_start_up_on_interrupt``, the console script's first call, ``console.py``)
Ctrl-C ends the process at once, raising nothing, until ``release_interrupts``: once the
command's modules are imported, and for a data-parallel command once MPI has started.
After that, a Ctrl-C that the ranks did not agree on during training goes to
``end_interrupted``: one line for the job, rank 0 printing it and leaving without
MPI_Finalize, which makes the launcher end every other rank, even one blocked in a
collective. Nothing here imports NumPy or mpi4py.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

# Set by the MPI launchers in each rank's environment: MPICH/Intel MPI hydra (PMI_*),
# Open MPI (OMPI_COMM_WORLD_*), PMIx-based launchers (PMIX_RANK), MVAPICH (MV2_*).
LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                      "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MPI_LOCALRANKID")
# the variables that carry this process's rank, launcher by launcher
RANK_VARIABLES = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
# how long a rank other than 0 waits, on an interrupt, for rank 0 to print the one line
# and end the job, before it does so itself (rank 0 never saw the signal)
INTERRUPT_GRACE_SECONDS = 1.0
INTERRUPTED = 130  # the shell's status for a process ended by SIGINT


def launched_by_mpi(environ=None) -> bool:
    """True when an MPI launcher (mpiexec, mpirun, srun with PMI) started this process."""
    environ = os.environ if environ is None else environ
    return any(name in environ for name in LAUNCHER_VARIABLES)


def launcher_rank(environ=None) -> int | None:
    """This process's rank as its launcher set it, or None without a launcher."""
    environ = os.environ if environ is None else environ
    if not launched_by_mpi(environ):
        return None
    for name in RANK_VARIABLES:
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return 0


class _StartUp:
    """Whether start-up's Ctrl-C handler is in place, and what it replaced."""

    active = False
    previous = signal.default_int_handler
    line = "xpnn: interrupted"  # the one line: the CLI names its command


def _end_at_once(signum, frame):
    # at start-up every rank saw the Ctrl-C and none has started MPI: rank 0 alone says so
    end_interrupted(grace=0.0)  # leaves, under a launcher; else printed the line
    sys.stderr.flush()
    os._exit(INTERRUPTED)  # nothing is written yet at start-up: no clean-up to run


def name_command(command: str) -> None:
    """The command the one line of an interrupt names (``xpnn train: interrupted``)."""
    _StartUp.line = f"xpnn {command}: interrupted" if command else "xpnn: interrupted"


def end_start_up_on_interrupt() -> None:
    """On the main thread: until ``release_interrupts``, Ctrl-C ends the process at once
    with the one line (``end_interrupted``), raising nothing into the import under way.
    Elsewhere (and when already in place) nothing changes."""
    if _StartUp.active or threading.current_thread() is not threading.main_thread():
        return
    _StartUp.previous = signal.signal(signal.SIGINT, _end_at_once)
    _StartUp.active = True


def release_interrupts() -> None:
    """Ctrl-C acts as before start-up again (KeyboardInterrupt)."""
    if _StartUp.active:
        _StartUp.active = False
        signal.signal(signal.SIGINT, _StartUp.previous)


@contextlib.contextmanager
def fatal_while_mpi_starts():
    """While MPI starts at start-up: MPI_Init returns only once every rank has joined,
    holding the GIL, so no Python handler of this rank runs until then; and a rank that
    Ctrl-C ended before its handler was in place (in Python's own start-up) never joins.
    So here Ctrl-C takes the signal's default action: the rank ends at once, silently, and
    the launcher ends the job. No rank waits forever."""
    if not _StartUp.active:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, _end_at_once)


def end_interrupted(line: str | None = None, grace: float = INTERRUPT_GRACE_SECONDS) -> int:
    """The end of a Ctrl-C the ranks did not agree on (start-up, loading, evaluation,
    saving): ``line`` once for the whole job, status 130. Without a launcher: print it and
    return 130. Under one: rank 0 prints it and leaves at once without MPI_Finalize
    (os._exit), and the launcher ends every other rank; another rank first gives rank 0
    ``grace`` seconds (0: it leaves silently at once). A second Ctrl-C meanwhile is
    ignored."""
    line = line or _StartUp.line
    rank = launcher_rank()
    if rank is None:
        print(line, file=sys.stderr)
        return INTERRUPTED
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if rank != 0:
        if not grace:
            os._exit(INTERRUPTED)
        time.sleep(grace)
    print(line, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)

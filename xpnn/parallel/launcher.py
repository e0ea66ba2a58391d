"""What an MPI launcher tells a process before MPI starts, and Ctrl-C at any moment of a job.

``mpiexec`` forwards Ctrl-C (SIGINT) to every rank, wherever each one is. Three things make a
careless end hang or crash: a rank that leaves before MPI has started leaves the others
blocked in MPI_Init for ever; MPI_Init holds the GIL, so no Python handler runs inside it;
and a KeyboardInterrupt inside an extension's import (NumPy, SciPy) becomes an odd
ImportError or crashes the process at exit. So the console script (``console.py``) first
installs start-up's handler (``end_start_up_on_interrupt``), which raises nothing into the
import under way:

- under a launcher, before MPI has started, it only notes the Ctrl-C: every rank still
  joins MPI_Init, and ``mpi_started`` (called once it has returned) then ends the job;
- otherwise (one process, or MPI started) it ends the process at once (``end_interrupted``).

``release_interrupts`` puts KeyboardInterrupt back once the command's modules are imported.
After that a Ctrl-C the ranks did not agree on (during training they agree on it: see
``distributed.Reducer``) goes to ``end_interrupted``: one line for the job, rank 0 printing
it and leaving without MPI_Finalize, which makes the launcher end every other rank, even
one blocked in a collective. Nothing here imports NumPy or mpi4py.
"""
from __future__ import annotations

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
# how long a rank other than 0 waits, on an interrupt once MPI has started, for rank 0 to
# print the one line and end the job, before it does so itself (rank 0 never saw it)
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
    """Start-up's Ctrl-C handler: whether it is in place, what it replaced, a Ctrl-C noted
    before MPI started, whether MPI has, and the one line."""

    active = False
    previous = signal.default_int_handler
    noted = False
    mpi_started = False
    line = "xpnn: interrupted"


def _on_start_up_interrupt(signum, frame):
    if launched_by_mpi() and not _StartUp.mpi_started:
        _StartUp.noted = True  # leaving now could leave another rank in MPI_Init for ever
        return
    _end_now()


def _end_now():
    end_interrupted()  # leaves, under a launcher; else it printed the line
    sys.stderr.flush()
    os._exit(INTERRUPTED)  # nothing is written yet at start-up: no clean-up to run


def name_command(command: str) -> None:
    """The command the one line of an interrupt names (``xpnn train: interrupted``)."""
    _StartUp.line = f"xpnn {command}: interrupted" if command else "xpnn: interrupted"


def end_start_up_on_interrupt() -> None:
    """On the main thread: until ``release_interrupts``, start-up's handler takes Ctrl-C
    (see the module's docstring). Elsewhere (and when already in place) nothing changes."""
    if _StartUp.active or threading.current_thread() is not threading.main_thread():
        return
    _StartUp.previous = signal.signal(signal.SIGINT, _on_start_up_interrupt)
    _StartUp.active = True


def mpi_started() -> None:
    """MPI_Init has returned on this rank (so on every rank): a Ctrl-C noted before ends the
    job now."""
    _StartUp.mpi_started = True
    if _StartUp.active and _StartUp.noted:
        _end_now()


def release_interrupts(raise_noted: bool = True) -> None:
    """Ctrl-C acts as before start-up again (KeyboardInterrupt); one noted before MPI
    started (a command that never starts it) is raised now, unless ``raise_noted`` is
    false."""
    if not _StartUp.active:
        return
    _StartUp.active = False
    signal.signal(signal.SIGINT, _StartUp.previous)
    if _StartUp.noted and raise_noted:
        raise KeyboardInterrupt


def end_interrupted(line: str | None = None) -> int:
    """The end of a Ctrl-C the ranks did not agree on (start-up, loading, evaluation,
    saving): ``line`` once for the whole job, status 130. Without a launcher: print it and
    return 130. Under one, once MPI has started: rank 0 prints it and leaves at once without
    MPI_Finalize (os._exit), and the launcher ends every other rank; another rank first
    gives rank 0 ``INTERRUPT_GRACE_SECONDS`` (rank 0 may not have seen the signal). Before
    MPI has started, a rank other than 0 leaves silently at once: the launcher does not end
    the others then, and each saw the signal. A second Ctrl-C meanwhile is ignored."""
    line = line or _StartUp.line
    rank = launcher_rank()
    if rank is None:
        print(line, file=sys.stderr)
        return INTERRUPTED
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdout.flush()
    if rank != 0:
        if not _StartUp.mpi_started:
            os._exit(INTERRUPTED)
        time.sleep(INTERRUPT_GRACE_SECONDS)
    print(line, file=sys.stderr)
    sys.stderr.flush()
    os._exit(INTERRUPTED)

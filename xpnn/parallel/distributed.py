"""Data-parallel training over MPI (mpi4py): every rank holds the same model and data, trains
on its share of each global batch, and the ranks sum their gradients once per step.

Why that equals one process: a head's loss over a global batch of B rows (or summed row
weights W) is a mean, L = sum_r (W_r / W) L_r, where L_r is the mean over rank r's rows.
Backward is linear in d L / d outputs, so scaling rank r's output gradient by its share
W_r / W makes its parameter gradients its exact part of the global one; the sum over ranks
(one Allreduce of all layers packed in one flat buffer) is the global gradient, to the
order of floating-point additions. The L2 term alpha w / W is added once, after the sum.

Nothing here imports mpi4py at module level: ``launched_by_mpi`` reads the launcher's
environment variables, and only then does ``world_comm`` import it. A reducer is the one
interface the training loop and evaluation see: ``rank`` and ``size``, ``sum_grads`` every
step (on the arrays' device: MPI on host buffers for NumPy and other CPU namespaces, NCCL
for CuPy), ``host_sum`` and ``host_min`` for a few host floats once per epoch. One process
is a group of one (``LocalReducer``: rank 0 of 1, sums that return their input), so the
loop runs the same code with or without MPI.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time

import numpy as np

from ..backend.devices import as_host_array, gpu_count
from ..errors import XpnnError, install_hint
from .launcher import launched_by_mpi, mpi_started

POLL_SECONDS = 0.0005  # how often a waiting collective lets Python handle a signal


def wait(request):
    """Wait for a non-blocking MPI request while letting Python run its signal handlers
    (MPI's blocking calls do not return on a signal): Ctrl-C reaches a rank waiting for
    the others."""
    while not request.Test():
        time.sleep(POLL_SECONDS)


def barrier(comm) -> None:
    """comm.Barrier() that Ctrl-C can interrupt (``wait``)."""
    wait(comm.Ibarrier())


def agree_on_failure(comm, failure: Exception | None) -> None:
    """Each rank's failure of a step it took alone (None: it went well), agreed: when any
    rank failed, every rank raises the first failing rank's error, marked ``agreed`` (rank 0
    reports it, once for the job), naming that rank unless every rank failed alike. Nothing
    without a communicator."""
    if comm is None:
        return
    messages = comm.allgather(None if failure is None else str(failure))
    failed = [(rank, message) for rank, message in enumerate(messages) if message is not None]
    if not failed:
        return
    rank, message = failed[0]
    if len(failed) < len(messages) or len({message for _, message in failed}) > 1:
        message = f"rank {rank} of {len(messages)}: {message}"
    error = failure if failure is not None and str(failure) == message else XpnnError(message)
    error.agreed = True
    raise error


def check_same_everywhere(comm, value, what: str) -> None:
    """Every rank of ``comm`` holds the same ``value`` (a small picklable fingerprint), or
    every rank raises a ValueError naming ``what`` and the first rank that differs from rank
    0. Nothing without a communicator (one process agrees with itself)."""
    if comm is None:
        return
    values = comm.allgather(value)
    differing = [rank for rank, other in enumerate(values) if other != values[0]]
    if differing:
        raise ValueError(f"{what} differs between the ranks of the fit (rank {differing[0]}'s "
                         f"is not rank 0's): every rank must pass the same one")


def world_comm():
    """mpi4py's COMM_WORLD (imports mpi4py, which initializes MPI)."""
    try:
        from mpi4py import MPI  # MPI_Init: it returns once every rank has joined
    except ImportError as exc:
        raise XpnnError(f"an MPI launcher started xpnn but mpi4py cannot be imported ({exc}); "
                        f"install it with: {install_hint('mpi')}") from None
    mpi_started()  # a Ctrl-C noted at start-up ends the job now (launcher.py)
    return MPI.COMM_WORLD


def leave_mpi(comm) -> None:
    """This rank is done with MPI (MPI_Finalize, which waits for every rank): the others
    can end while it goes on alone (``xpnn train --dashboard``: rank 0 serves until
    Ctrl-C). Nothing without a communicator."""
    if comm is not None:
        from mpi4py import MPI

        MPI.Finalize()


def launched_comm():
    """COMM_WORLD when an MPI launcher started more than one rank, else None (and then
    mpi4py is not imported when no launcher variable is set)."""
    if not launched_by_mpi():
        return None
    comm = world_comm()
    return comm if comm.Get_size() > 1 else None


def local_device(comm, spec):
    """A device spec for this rank: ``cuda`` (no index) becomes ``cuda:<local rank mod GPU
    count>``, the local rank counted among the ranks on this node; others (and any spec of
    a process that is not in a group) as given."""
    if comm is None or spec is None or str(spec) != "cuda":
        return spec
    from mpi4py import MPI

    count = gpu_count()
    if not count:  # no CuPy or no GPU: resolve_device names the cause
        return spec
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        local_rank = node.Get_rank()
    finally:
        node.Free()
    return f"cuda:{local_rank % count}"


class LocalReducer:
    """One process as a group of one: rank 0 of 1, every sum returns its input."""

    rank, size = 0, 1
    stop_requested = False

    def sum_grads(self, grads: dict, xp) -> dict:
        return grads

    def host_sum(self, values) -> list:
        return list(values)

    def host_min(self, value: int) -> int:
        return int(value)

    def deferred_interrupt(self):
        """Ctrl-C stops a lone process at once (the loop rolls back to the last epoch)."""
        return contextlib.nullcontext()


class GroupInterrupted(KeyboardInterrupt):
    """Ctrl-C seen by every rank at the same training step (``Reducer.sum_grads``)."""

    agreed = True


class Reducer:
    """Sums over the ranks of an mpi4py communicator, through host buffers.

    ``sum_grads`` packs every gradient into one flat buffer, sums it across the ranks with
    ONE Allreduce, and unpacks views of the result. NumPy buffers are passed as they are;
    other namespaces (torch CPU, JAX, array-api-strict, CuPy without NCCL) go through a host
    buffer that MPI may write (``writable_host_buffer``: JAX's host view is read-only). The buffer carries one more element, this rank's Ctrl-C flag: its sum, on the
    host already, tells every rank at the same step that one of them was interrupted.
    ``seconds``, ``nbytes`` and ``calls`` count the gradient Allreduces (the benchmark
    reads them).
    """

    flag_in_gradients = True  # the Ctrl-C flag rides in the gradient buffer

    def __init__(self, comm, backend):
        self.comm, self.backend = comm, backend
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.stop_requested = False  # set by the deferred Ctrl-C handler
        self.seconds, self.nbytes, self.calls = 0.0, 0, 0

    def sum_grads(self, grads: dict, xp) -> dict:
        """The sum over ranks of each rank's ``grads`` (same names, shapes and dtype).
        Raises GroupInterrupted on every rank when any rank's Ctrl-C flag was set."""
        names = list(grads)
        pieces = [xp.reshape(grads[name], (-1,)) for name in names]
        if self.flag_in_gradients:
            pieces.append(xp.full((1,), float(self.stop_requested), dtype=pieces[0].dtype,
                                  device=self.backend.device))
        flat, host = self.allreduce_sum(xp.concat(pieces))
        if self.flag_in_gradients and host[-1] > 0:
            raise GroupInterrupted()
        summed, offset = {}, 0
        for name in names:
            shape = grads[name].shape
            count = int(np.prod(shape, dtype=np.int64))
            summed[name] = xp.reshape(flat[offset:offset + count], shape)
            offset += count
        return summed

    def allreduce_sum(self, flat):
        """Sum a flat 1-d array over the ranks: (the summed array on its device, the same
        on the host)."""
        from mpi4py import MPI

        host = writable_host_buffer(flat)
        shared = isinstance(flat, np.ndarray) and np.shares_memory(host, flat)
        started = time.perf_counter()
        self.comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
        self.seconds += time.perf_counter() - started
        self.nbytes += host.nbytes
        self.calls += 1
        return (flat if shared else self.backend.asarray(host)), host

    def host_sum(self, values) -> list[float]:
        """Host floats summed over the ranks (one small Allreduce)."""
        return host_sum(self.comm, values)

    def host_min(self, value: int) -> int:
        """The smallest of one integer per rank."""
        from mpi4py import MPI

        buffer = np.asarray([value], dtype=np.int64)
        wait(self.comm.Iallreduce(MPI.IN_PLACE, buffer, op=MPI.MIN))
        return int(buffer[0])

    @contextlib.contextmanager
    def deferred_interrupt(self):
        """While training: Ctrl-C (SIGINT, which mpiexec forwards to every rank) only sets
        ``stop_requested``; the next gradient sum (or the epoch's host sum) tells every
        rank, and they stop together. A KeyboardInterrupt raised inside one rank's Allreduce
        would leave the others waiting in theirs. Only the main thread can set signal
        handlers; elsewhere nothing changes."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            self.stop_requested = True

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class NcclReducer(Reducer):
    """CuPy arrays summed on the GPUs with NCCL (``kernels/nccl.py``): no copy to the host
    per step. Host sums still go through MPI. The Ctrl-C flag is not in the gradient
    buffer (reading it would sync the GPU every step): the ranks agree on it at the
    epoch's end. ``nccl``: an NCCL communicator of this group and GPU made before (by an
    earlier fit), else every rank makes one now (a collective). NOT RUN YET: the machines
    that built it had no GPU."""

    flag_in_gradients = False

    def __init__(self, comm, backend, nccl=None):
        super().__init__(comm, backend)
        if nccl is None:
            from ..kernels.nccl import NcclAllreduce

            nccl = NcclAllreduce(comm, backend, self.rank, self.size)
        self.nccl = nccl

    def allreduce_sum(self, flat):
        # asynchronous on the current stream, so ``seconds`` here is launch time only
        started = time.perf_counter()
        with self.backend.activate():  # the communicator's GPU, and that GPU's stream
            flat = self.nccl.sum(flat)
        self.seconds += time.perf_counter() - started
        self.nbytes += flat.nbytes
        self.calls += 1
        return flat, None


def writable_host_buffer(array) -> np.ndarray:
    """``array`` as a contiguous host buffer MPI may sum into (``MPI.IN_PLACE``): the array
    itself for NumPy, a view where the namespace gives a writable one (torch CPU), a copy
    where it gives a read-only one (JAX: ``np.asarray`` of a jax.Array) or none (CuPy)."""
    host = np.ascontiguousarray(as_host_array(array))
    return host if host.flags.writeable else host.copy()


def host_reducer(comm, backend):
    """The group of ``comm`` for host sums only (evaluation): a group of one for no
    communicator or a single rank, else MPI host buffers."""
    if comm is None or comm.Get_size() == 1:
        return LocalReducer()
    return Reducer(comm, backend)


def make_reducer(comm, backend):
    """The reducer a fit on ``backend`` sums its gradients with: ``host_reducer``'s, or NCCL
    for CuPy when every rank has NCCL and a GPU of its own (NCCL refuses two ranks on one
    GPU, and then the gradient goes through host buffers). Every rank takes the same
    choice (``_nccl_plan``), so none waits in NCCL's set-up while another sums over MPI;
    the NCCL communicator of a group and GPU is made once and kept for later fits
    (``partial_fit`` calls)."""
    group = host_reducer(comm, backend)
    if group.size == 1:
        return group
    use_nccl, reuse = _nccl_plan(comm, backend)
    if not use_nccl:
        return group
    reducer = NcclReducer(comm, backend, _held_nccl(comm, backend) if reuse else None)
    _hold_nccl(comm, backend, reducer.nccl)
    return reducer


# (communicator, GPU label, NcclAllreduce) for each group and GPU that summed with NCCL:
# an mpi4py communicator is not hashable, so a short list searched by identity
_NCCL_HELD: list = []


def _held_nccl(comm, backend):
    """The NCCL communicator made before for ``comm`` on ``backend``'s GPU, or None."""
    for held_comm, label, nccl in _NCCL_HELD:
        if held_comm is comm and label == backend.label:
            return nccl
    return None


def _hold_nccl(comm, backend, nccl) -> None:
    _NCCL_HELD[:] = [entry for entry in _NCCL_HELD
                     if not (entry[0] is comm and entry[1] == backend.label)]
    _NCCL_HELD.append((comm, backend.label, nccl))


def _nccl_plan(comm, backend) -> tuple[bool, bool]:
    """(sum with NCCL, reuse the NCCL communicators held), the same on every rank: one
    allgather of each rank's (node, GPU bus id, holds a communicator), or None where a rank
    is not on CuPy or its CuPy has no NCCL. NCCL when no rank is None and no two share a
    GPU (by PCI bus id, per node name); reuse when every rank holds one."""
    from mpi4py import MPI

    mine = None
    if backend.name == "cupy" and backend.has_nccl():
        mine = (MPI.Get_processor_name(), backend.gpu_bus_id(),
                _held_nccl(comm, backend) is not None)
    ranks = comm.allgather(mine)
    if any(rank is None for rank in ranks):
        return False, False
    gpus = {(node, bus_id) for node, bus_id, _ in ranks}
    use_nccl = len(gpus) == len(ranks)
    return use_nccl, use_nccl and all(held for _, _, held in ranks)


def host_sum(comm, values) -> list:
    """Host floats (or 1-d float vectors, e.g. per-output sums) summed over ``comm``'s
    ranks, packed in one small Allreduce; each comes back in its own shape."""
    from mpi4py import MPI

    pieces = [np.atleast_1d(np.asarray(value, dtype=np.float64)) for value in values]
    buffer = np.concatenate(pieces) if pieces else np.zeros(0)
    wait(comm.Iallreduce(MPI.IN_PLACE, buffer, op=MPI.SUM))
    summed, start = [], 0
    for value, piece in zip(values, pieces):
        part = buffer[start:start + piece.size]
        summed.append(part.copy() if np.ndim(value) else float(part[0]))
        start += piece.size
    return summed

"""The gradient sum on the GPUs with NCCL (``cupy.cuda.nccl``): no copy to the host per step.

The NCCL unique id is made on rank 0 and broadcast over the MPI communicator; the sum runs
in place on the current stream. NOT RUN YET: the machines that built it had no GPU.
"""
from __future__ import annotations

import numpy as np


class NcclAllreduce:
    """In-place sums of flat CuPy arrays over the ranks of ``comm``, one GPU per rank."""

    def __init__(self, comm, backend, rank: int, size: int):
        from cupy.cuda import nccl

        unique_id = nccl.get_unique_id() if rank == 0 else None
        unique_id = comm.bcast(unique_id, root=0)
        with backend.activate():
            self.communicator = nccl.NcclCommunicator(size, unique_id, rank)

    def sum(self, flat):
        """The sum over the ranks of a 1-d CuPy array (in place on a contiguous copy)."""
        import cupy
        from cupy.cuda import nccl

        types = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64}
        flat = cupy.ascontiguousarray(flat)
        stream = cupy.cuda.get_current_stream()
        # in place (send buffer == receive buffer) is allowed by NCCL
        self.communicator.allReduce(flat.data.ptr, flat.data.ptr, flat.size, types[flat.dtype],
                                    nccl.NCCL_SUM, stream.ptr)
        return flat

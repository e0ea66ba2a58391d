"""MPI: the group a fit runs in (one process or N ranks) and the launcher's start-up; imports kernels (NCCL), backend."""

"""MPI: the group a fit runs in and the launcher's start-up; imports kernels, backend."""

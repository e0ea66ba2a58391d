"""NumPy, CuPy, torch, JAX: devices, moves, device-side random numbers; imports only errors."""
from .devices import backend_of, gpu_count, resolve_device  # the public device functions

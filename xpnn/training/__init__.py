"""The training loop and what it runs on; imports core, kernels, backend."""

"""The training loop and what it runs on: batches, dropout, stopping rules, divergence, L-BFGS; imports core, kernels, backend."""

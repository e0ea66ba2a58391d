"""The learner's math on xp arrays (ops, activations, heads, mlp, optim); imports only backend."""

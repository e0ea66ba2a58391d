"""The learner's math: ops, activations, heads, mlp, optim on xp arrays; imports only the backend."""

"""One-pass optimizer updates compiled by numba (optional: ``pip install 'xpnn[fast]'``).

NumPy runs Adam as 12 passes over the parameters with temporaries, two of the passes
compute-bound (``sqrt``, the division). Here each parameter's m, v and weight are updated in
one vectorised loop on one core: the same float operations in the same order as
``optim.Adam.update`` / ``optim.SGD.update`` (no fast-math: no contraction or reassociation),
so the same bits (``tests/test_kernels.py``). ``error_model="numpy"`` (IEEE division, no
zero check) is what lets LLVM vectorise the loop; one core, because threads started here
fight OpenBLAS's spinning threads for the cores between GEMMs (measured: bench/README.md).
Compiled on first use and cached beside this file. Without numba, ``numpy_step`` keeps its
NumPy in-place path.
"""
from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # the extra is not installed: the NumPy in-place path runs
    numba = None


def available() -> bool:
    return numba is not None


def _adam(param, grad, m, v, b1, c1, b2, c2, eps_hat, inv_step):
    # as optim.Adam.update: v = v b2 + (g g) c2; m = m b1 + g c1;
    # p -= m / ((sqrt(v) + eps_hat) * (1 / step_size))
    for i in range(param.size):
        g = grad[i]
        v_i = v[i] * b2 + (g * g) * c2
        m_i = m[i] * b1 + g * c1
        v[i] = v_i
        m[i] = m_i
        param[i] = param[i] - m_i / ((np.sqrt(v_i) + eps_hat) * inv_step)


def _momentum(param, grad, buf, mu, lr, nesterov):
    # as optim.SGD.update: buf = buf mu + g; step = g + mu buf (Nesterov) or buf; p -= lr step
    for i in range(param.size):
        b = buf[i] * mu + grad[i]
        buf[i] = b
        step = grad[i] + mu * b if nesterov else b
        param[i] = param[i] - lr * step


if numba is not None:  # compiled (or loaded from the cache) here, at import, not mid-epoch
    def _compile(function, scalars, extra=()):
        signatures = [(numba.types.Array(t, 1, "C"),) * (4 if function is _adam else 3)
                      + (t,) * scalars + extra for t in (numba.float32, numba.float64)]
        return numba.njit(signatures, cache=True, error_model="numpy")(function)

    adam = _compile(_adam, 6)
    momentum = _compile(_momentum, 2, (numba.boolean,))

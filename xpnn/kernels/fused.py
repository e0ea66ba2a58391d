"""One-pass optimizer updates compiled by numba (optional: the ``fast`` extra).

NumPy runs Adam as 12 passes over the parameters with temporaries, two of the passes
compute-bound (``sqrt``, the division). Here each parameter's m, v and weight are updated in
one vectorised loop on one core: the same float operations in the same order as
``optim.Adam.update`` / ``optim.SGD.update`` (no fast-math: no contraction or reassociation),
so the same bits (``tests/test_kernels.py``). ``error_model="numpy"`` (IEEE division, no
zero check) is what lets LLVM vectorise the loop; one core, because threads started here
fight OpenBLAS's spinning threads for the cores between GEMMs (measured: bench/README.md).
Compiled on first use and cached beside this file.

Loading takes most of a second (importing numba, then its dispatcher reading the cached
signatures) and saves a fraction of a millisecond a step, so it happens only once the fits of
the process plan enough steps to repay it (``plan``), and then the fit waits for it: loaded in a
background thread while the first steps ran, it made the first epoch slower by more than the
load itself on 2 cores (the loader's imports hold the GIL and its compilation takes a core
the GEMMs use: bench/README.md, "Issue 40's targets"). The load runs in its own thread all
the same (``start_loading``), so a caller may start it early; until it is done
(``available``), ``numpy_step`` runs its NumPy in-place update, the same bits, and it takes
the numba pass from the next step on. Without numba, the NumPy path throughout.
"""
from __future__ import annotations

import importlib.util
import threading

import numpy as np

# the compiled kernels, set by ``_load`` once numba has loaded them (None until then)
adam = momentum = sparse_weight_grad = None

# what loading costs, and what the fused pass saves against NumPy's in-place update per step
# and per parameter and step (bench/results/issue40/start_up.md, by bench/start_up.py: measured
# together on one machine, so their ratios hold on a faster or slower one; the load 0.76 s;
# saved 0.24 ms a step for the digits' 51 k parameters, 0.93 ms for 235 k, 2.35 ms for
# 536 k): load once the process's fits plan to save more than the load costs (a 3-epoch fit
# on Fashion-MNIST at 256-128 does; the digits' default job, 460 steps, does not)
LOAD_SECONDS = 0.76
STEP_SECONDS = 3e-5
PARAMETER_STEP_SECONDS = 4e-9
_saving = 0.0  # what the process's NumPy fits so far would save with the fused pass

_loaded = threading.Event()  # the kernels above are set
_finished = threading.Event()  # the load ended: loaded, or failed (the NumPy path goes on)
_start = threading.Lock()
_loader: threading.Thread | None = None


def installed() -> bool:
    """numba is installed (xpnn[fast]): its kernels can be loaded."""
    return importlib.util.find_spec("numba") is not None


def plan(steps: int, parameters: int) -> None:
    """A fit plans ``steps`` steps of a model of ``parameters`` on NumPy: load the kernels,
    and wait for them, once the process's planned steps would save more than loading costs (a
    loop of short ``partial_fit`` calls adds up)."""
    global _saving
    _saving += steps * (STEP_SECONDS + PARAMETER_STEP_SECONDS * parameters)
    if _saving > LOAD_SECONDS:
        ready()


def start_loading() -> None:
    """Import numba and load the kernels in a background thread, once per process (nothing
    without numba)."""
    global _loader
    with _start:
        if _loader is None and installed():
            _loader = threading.Thread(target=_load, name="xpnn: loading numba's kernels",
                                       daemon=True)  # never holds up the process's exit
            _loader.start()


def available() -> bool:
    """The kernels are loaded and a step may call them now (never waits)."""
    return _loaded.is_set()


def ready(timeout: float | None = None) -> bool:
    """Start the load if needed and wait for it (up to ``timeout`` s): whether the kernels
    are available (False without numba). For tests and benchmarks that want the numba pass
    from the first step."""
    start_loading()
    if _loader is not None:
        _finished.wait(timeout)
    return available()


def _flush(x, tiny):
    # numerics.flush_below of one value: x times 0 below ``tiny`` (the dtype's smallest
    # normal number, or numerics.weight_floor), a signed zero as the reference's mask gives;
    # x - x is a zero of x's own type (a literal 0.0 would make the float32 loop float64)
    return x * (x - x) if abs(x) < tiny else x


def _adam(param, grad, m, v, b1, c1, b2, c2, eps, alpha_t, l2, shrink, tiny, floor,
          has_l2, shrinks):
    # mlp.add_l2_gradient first (has_l2): g = flush(g + l2 p), from the weights before the
    # update; AdamW's shrink (shrinks): p = p shrink; then optim.Adam.update in its order of
    # operations: m = flush(b1 m + c1 g); v = flush(b2 v + c2 (g g));
    # p = p - alpha_t m / (sqrt(v) + eps), flushed below ``floor``
    for i in range(param.size):
        p = param[i]
        g = _flush(grad[i] + l2 * p, tiny) if has_l2 else grad[i]
        if shrinks:
            p = p * shrink
        m_i = _flush(b1 * m[i] + c1 * g, tiny)
        v_i = _flush(b2 * v[i] + c2 * (g * g), tiny)
        m[i] = m_i
        v[i] = v_i
        param[i] = _flush(p - alpha_t * m_i / (np.sqrt(v_i) + eps), floor)


def _momentum(param, grad, velocity, mu, lr, tiny, floor, nesterov, l2, has_l2):
    # mlp.add_l2_gradient first (has_l2): g = flush(g + l2 p); then optim.SGD.update:
    # velocity = flush(mu velocity - lr g); p = p + (mu velocity - lr g) (Nesterov) or
    # p + velocity, flushed below ``floor`` (numerics.flush_tiny_weight)
    for i in range(param.size):
        g = _flush(grad[i] + l2 * param[i], tiny) if has_l2 else grad[i]
        u = _flush(mu * velocity[i] - lr * g, tiny)
        velocity[i] = u
        step = mu * u - lr * g if nesterov else u
        param[i] = _flush(param[i] + step, floor)


def _sparse_weight_grad(indptr, indices, data, delta, out):
    # mlp.weight_grad of a CSR batch, as scipy computes csr.T @ delta (csc_matvecs): out = 0,
    # then for each row j, each stored (i, a) of it: out[i, :] += a * delta[j, :]
    out[:, :] = 0.0
    for j in range(delta.shape[0]):
        for k in range(indptr[j], indptr[j + 1]):
            i, a = indices[k], data[k]
            for col in range(delta.shape[1]):
                out[i, col] += a * delta[j, col]


def _load() -> None:
    """Import numba and compile the kernels (read from the cache beside this file after the
    first time): float32 and float64 signatures, eagerly, so no step waits for a compile."""
    global adam, momentum, sparse_weight_grad, _flush
    try:
        import numba

        def compile_signatures(function, layout):
            """Float32 and float64 signatures from ``layout``: "a" an array, "s" a scalar of
            the arrays' dtype, "b" a boolean."""
            def kind(code, t):
                return {"a": numba.types.Array(t, 1, "C"), "s": t, "b": numba.boolean}[code]

            signatures = [tuple(kind(code, t) for code in layout)
                          for t in (numba.float32, numba.float64)]
            return numba.njit(signatures, cache=True, error_model="numpy")(function)

        _flush = numba.njit(inline="always", error_model="numpy")(_flush)
        compiled_adam = compile_signatures(_adam, "aaaa" + "ssssss" + "ssss" + "bb")
        compiled_momentum = compile_signatures(_momentum, "aaa" + "ssss" + "b" + "s" + "b")
        compiled_sparse = numba.njit(
            [(numba.types.Array(i, 1, "C"), numba.types.Array(i, 1, "C"),
              numba.types.Array(t, 1, "C"), numba.types.Array(t, 2, "C"),
              numba.types.Array(t, 2, "C"))
             for i in (numba.int32, numba.int64) for t in (numba.float32, numba.float64)],
            cache=True, error_model="numpy")(_sparse_weight_grad)
        adam, momentum, sparse_weight_grad = compiled_adam, compiled_momentum, compiled_sparse
        _loaded.set()
    except Exception:  # noqa: BLE001 - a broken numba: the NumPy path, as without it
        pass
    finally:
        _finished.set()

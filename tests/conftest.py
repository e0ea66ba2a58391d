"""Shared fixtures: one parametrized backend fixture over every installed namespace.

Skips say why: torch not installed, CuPy not installed, no usable CUDA device. Tests marked
``gpu`` (CuPy and a GPU) or ``torch_cuda`` (torch with CUDA) skip by one rule each
(SKIP_RULES).
"""
from __future__ import annotations

import functools
import os
import signal

# JAX stays on the CPU in the tests (set before anything imports jax): on a GPU machine it
# would otherwise take the GPU, with TF32 matmuls and 75 % of its memory preallocated. The
# CuPy tests are the GPU tests; a test that wants JAX's GPU asks for it explicitly.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# scikit-learn's array API dispatch needs SciPy's, switched on before SciPy is imported
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# the tests send Ctrl-C (SIGINT) to the processes they start; a shell that started pytest as
# a background job (cmd &) left SIGINT ignored, which every child would inherit and keep
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import numpy as np
import pytest

from xpnn.backend.devices import Backend, backend_of, numpy_backend

def _strict_backend() -> Backend:
    import array_api_strict

    return backend_of(array_api_strict.asarray([0.0]))


def _torch_backend() -> Backend:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    return backend_of(torch.zeros(1, dtype=torch.float64))


def _jax_backend() -> Backend:
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    jax.config.update("jax_enable_x64", True)  # float64 tests need it; float32 stays float32
    import jax.numpy as jnp

    return backend_of(jnp.zeros(1))


@functools.cache
def gpu_skip_reason() -> str | None:
    """None when CuPy and a usable GPU are here, else why not (the ``gpu`` marker's rule):
    CuPy missing names the install command; CuPy without a device says "no usable CUDA
    device" and CuPy's first line of reason (CuPy imports without a driver or a GPU)."""
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install 'xpnn[cuda12]')"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError and friends
        return f"no usable CUDA device: {_first_line(exc)}"
    return None if count else "no usable CUDA device: CuPy sees none"


@functools.cache
def torch_cuda_skip_reason() -> str | None:
    """None when torch sees a CUDA device, else why not (the ``torch_cuda`` marker's rule)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"no usable CUDA device: torch {torch.__version__} is built without CUDA"
    return f"no usable CUDA device: torch {torch.__version__} (CUDA {torch.version.cuda}) sees none"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# marker -> why its tests cannot run here (None: they can); the one place GPU tests skip
SKIP_RULES = {"gpu": gpu_skip_reason, "torch_cuda": torch_cuda_skip_reason}


def pytest_collection_modifyitems(config, items):
    """Skip each marked test whose marker's rule (SKIP_RULES) names a reason, with it."""
    for marker, skip_reason in SKIP_RULES.items():
        marked = [item for item in items if item.get_closest_marker(marker)]
        reason = skip_reason() if marked else None  # torch or CuPy imported only if needed
        for item in marked if reason else []:
            item.add_marker(pytest.mark.skip(reason=reason))


def _cupy_backend() -> Backend:
    reason = gpu_skip_reason()
    if reason:
        pytest.skip(reason)
    from xpnn.backend.devices import resolve_device

    return resolve_device("cuda:0")


BACKEND_FACTORIES = {
    "numpy": numpy_backend,
    "array_api_strict": _strict_backend,
    "torch": _torch_backend,
    "jax": _jax_backend,
    "cupy": _cupy_backend,
}


def backend_params(names=("numpy", "array_api_strict", "torch", "jax", "cupy")):
    marks = {"cupy": [pytest.mark.gpu]}
    return [pytest.param(name, marks=marks.get(name, []), id=name) for name in names]


@pytest.fixture(params=backend_params())
def backend(request) -> Backend:
    """Every installed backend: NumPy, array-api-strict, torch-CPU, JAX (immutable arrays),
    CuPy (GPU)."""
    return BACKEND_FACTORIES[request.param]()


def make_backend(name: str) -> Backend:
    return BACKEND_FACTORIES[name]()


@pytest.fixture
def digits_data():
    """scikit-learn's digits scaled by their real range 16: (X float64 (1797, 64), y int64)."""
    from xpnn.data.digits import load_digits

    data = load_digits()
    return data.X.astype(np.float64) / 16.0, data.y


@pytest.fixture(scope="session")
def default_digits_model(tmp_path_factory):
    """The model of ``xpnn train --save`` as a user first makes it (digits, its default
    recipe), trained once for every test that serves or reads it."""
    from clirun import xpnn

    path = tmp_path_factory.mktemp("default-model") / "digits.safetensors"
    result = xpnn("train", "--save", path, "--quiet")
    assert result.returncode == 0, result.stderr
    return path

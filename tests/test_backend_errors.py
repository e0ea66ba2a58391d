"""Device resolution and its error paths, simulated where this machine has no GPU."""
import sys
import types

import pytest

from xpnn.backend import resolve_device
from xpnn.errors import XpnnDeviceError


def test_cpu_is_numpy():
    backend = resolve_device("cpu")
    assert backend.name == "numpy" and backend.label == "cpu"


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:-1", "tpu:0"])
def test_malformed_device_strings(spec):
    with pytest.raises(XpnnDeviceError, match="expected cpu, cuda or cuda:N"):
        resolve_device(spec)


def test_missing_cupy_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with pytest.raises(XpnnDeviceError) as info:
        resolve_device("cuda")
    assert "CuPy is not installed" in str(info.value)
    assert "xpnn[cuda12]" in str(info.value) and "--device cpu" in str(info.value)


def _fake_cupy(get_count):
    runtime = types.SimpleNamespace(getDeviceCount=get_count)
    return types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime, Device=None))


def test_no_driver_reports_cupys_reason(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient "
                           "for CUDA runtime version")

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(no_driver))
    with pytest.raises(XpnnDeviceError, match="CUDA driver version is insufficient") as info:
        resolve_device("cuda:0")
    assert "--device cpu" in str(info.value)


def test_out_of_range_gpu_index(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(lambda: 2))
    with pytest.raises(XpnnDeviceError, match=r"GPU 5 does not exist; this machine has 2"):
        resolve_device("cuda:5")


def test_zero_gpus(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(lambda: 0))
    with pytest.raises(XpnnDeviceError, match="sees no GPU"):
        resolve_device("cuda")


def test_data_larger_than_free_gpu_memory_names_both_sizes(monkeypatch):
    import contextlib

    import numpy as np

    from xpnn.backend import Backend

    runtime = types.SimpleNamespace(memGetInfo=lambda: (50 * 2**20, 80 * 2**30))
    pool = types.SimpleNamespace(free_bytes=lambda: 0)
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime),
                                 get_default_memory_pool=lambda: pool)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    backend = Backend(xp=None, device=contextlib.nullcontext(), name="cupy", label="cuda:0")
    with pytest.raises(XpnnDeviceError) as info:
        backend.asarray(np.zeros((1000, 100_000), dtype=np.float32))  # 381 MiB
    assert "381 MiB" in str(info.value) and "50 MiB free" in str(info.value)
    assert "--device cpu" in str(info.value)

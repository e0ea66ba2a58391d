"""Device resolution and its error paths, simulated where this machine has no GPU."""
import sys
import types

import pytest

from xpnn.backend.devices import resolve_device
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
    assert "'.[cuda12]'" in str(info.value) and 'device="cpu"' in str(info.value)


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
    assert 'device="cpu"' in str(info.value)


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

    from xpnn.backend.devices import Backend

    runtime = types.SimpleNamespace(memGetInfo=lambda: (50 * 2**20, 80 * 2**30))
    pool = types.SimpleNamespace(free_bytes=lambda: 0)
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime),
                                 get_default_memory_pool=lambda: pool)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    backend = Backend(xp=None, device=contextlib.nullcontext(), name="cupy", label="cuda:0")
    with pytest.raises(XpnnDeviceError) as info:
        backend.asarray(np.zeros((1000, 100_000), dtype=np.float32))  # 381 MiB
    assert "381 MiB" in str(info.value) and "50 MiB free" in str(info.value)
    assert 'device="cpu"' in str(info.value)


def test_a_data_sized_gather_is_checked_against_free_gpu_memory(monkeypatch):
    """uint8 rows fit on the GPU, but a full batch of them in float32 is 4x their bytes:
    the gather is refused with the one-line error before CuPy would run out of memory;
    an ordinary batch (under ROOM_CHECK_BYTES) makes no driver call. Simulated: no GPU."""
    import contextlib

    import numpy as np

    from xpnn.backend.devices import Backend
    from xpnn.training.batches import DeviceSplit

    calls = []

    def mem_get_info():
        calls.append(1)
        return 100 * 2**20, 80 * 2**30

    runtime = types.SimpleNamespace(memGetInfo=mem_get_info)
    pool = types.SimpleNamespace(free_bytes=lambda: 0)
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime),
                                 get_default_memory_pool=lambda: pool)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    backend = Backend(xp=np, device=contextlib.nullcontext(), name="cupy", label="cuda:0")
    X = np.zeros((40_000, 784), dtype=np.uint8)  # 30 MiB as uint8, 120 MiB as float32
    split = DeviceSplit(X, np.zeros(40_000, dtype=np.int64), dtype="float32")
    taken = []

    def take(array, batch_idx, slot, dtype=None, scaling=None):
        taken.append(slot)
        return array[batch_idx]

    split.gather(np.arange(128), np.arange(128), backend, take)
    assert calls == [] and taken == ["X", "y"]
    with pytest.raises(XpnnDeviceError) as info:
        split.gather(np.arange(40_000), np.arange(40_000), backend, take)
    message = str(info.value)
    assert "a batch of 40,000 rows needs 120 MiB" in message and "100 MiB free" in message
    assert taken == ["X", "y"]  # refused before the gather
    with pytest.raises(XpnnDeviceError, match="a batch of 40,000 rows"):
        split.slice(0, 40_000, backend)


def test_gpu_room_reads_the_memory_pool_of_the_requested_gpu(monkeypatch):
    """memGetInfo and the memory pool both belong to the current GPU: cuda:N is made
    current before either is read."""
    import numpy as np

    from xpnn.backend.devices import Backend

    current = {"gpu": 0}

    class FakeDevice:
        def __init__(self, index):
            self.index = index

        def __enter__(self):
            self.saved, current["gpu"] = current["gpu"], self.index

        def __exit__(self, *exc):
            current["gpu"] = self.saved

    free_per_gpu = {0: 10 * 2**20, 1: 500 * 2**20}  # GPU 0 is nearly full, GPU 1 is not
    runtime = types.SimpleNamespace(memGetInfo=lambda: (free_per_gpu[current["gpu"]], 2**34))
    pool = types.SimpleNamespace(free_bytes=lambda: {0: 0, 1: 0}[current["gpu"]])

    def pool_of_current_gpu():
        assert current["gpu"] == 1, "read the pool of the current GPU, not of cuda:1"
        return pool

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime),
                                 get_default_memory_pool=pool_of_current_gpu)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    backend = Backend(xp=types.SimpleNamespace(asarray=lambda a: a), device=FakeDevice(1),
                      name="cupy", label="cuda:1")
    out = backend.asarray(np.zeros((1000, 10_000), dtype=np.float32))  # 38 MiB fits on GPU 1
    assert out.shape == (1000, 10_000) and current["gpu"] == 0


def test_parameter_and_state_creation_make_the_backends_device_current(monkeypatch):
    """CuPy's zeros/zeros_like ignore device= and allocate on the current GPU: init_params
    enters the backend's device itself, and optimizer state enters its parameter's device."""
    import contextlib

    import numpy as np

    from xpnn.backend import devices as backend_module

    from xpnn.core import mlp, optim
    from xpnn.backend.devices import Backend, numpy_backend

    entered = []

    @contextlib.contextmanager
    def recording(self):
        entered.append(self.label)
        yield

    monkeypatch.setattr(Backend, "activate", recording)
    numpy_like = numpy_backend()
    tagged = Backend(numpy_like.xp, numpy_like.device, "numpy", "tagged-device")
    params = mlp.init_params([4, 3, 2], np.random.default_rng(0), "float32", tagged)
    assert entered == ["tagged-device"]

    contexts = []
    monkeypatch.setattr(optim, "device_context",
                        lambda array: contexts.append(array.shape) or contextlib.nullcontext())
    optim.make_optimizer("adam", 1e-3).init_state(params, numpy_like.xp)
    assert sorted(contexts) == sorted([value.shape for value in params.values()] * 2)
    assert backend_module.device_context(np.zeros(1)).__class__ is contextlib.nullcontext


@pytest.mark.parametrize("available", [False, True])
def test_has_nccl_reads_cupys_available_flag(monkeypatch, available):
    """A mock (no GPU here): CuPy's ``cupy.cuda.nccl`` imports even without the NCCL
    library and says so in ``available``; has_nccl must read it, not the import."""
    from xpnn.backend.devices import Backend

    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.available = available
    cuda = types.ModuleType("cupy.cuda")
    cuda.nccl = nccl
    cupy = types.ModuleType("cupy")
    cupy.cuda = cuda
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cuda)
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", nccl)
    backend = Backend(xp=None, device=None, name="cupy", label="cuda:0")
    assert backend.has_nccl() is available


def test_has_nccl_is_false_without_cupy(monkeypatch):
    from xpnn.backend.devices import Backend

    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    assert not Backend(xp=None, device=None, name="cupy", label="cuda:0").has_nccl()

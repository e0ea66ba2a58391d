"""The one place that knows about array libraries.

Everything else receives a ``Backend`` (namespace + device) and calls ``backend.xp``.
Decides: which namespace a device string (``device=``, ``--device``) means, which namespace
and device caller arrays live in, how host NumPy data (and sparse rows, kept sparse) moves
to a device and results come back.
CuPy and torch are imported only when asked for (or when the caller's arrays are theirs).
"""
from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from ..errors import XpnnDeviceError, install_hint, spelled

DTYPES = ("float32", "float64")
CUDA_INSTALL_HINT = f"{install_hint('cuda12')} for CUDA 12, or the cuda13 extra for CUDA 13"
# the start of what CuPy warns (a UserWarning) when ``cupy.cuda.nccl`` cannot load libnccl
NCCL_MISSING_WARNING = r"\s*nccl library could not be loaded"


@dataclass(frozen=True)
class Backend:
    """An array namespace and a device in it: where the math runs."""

    xp: Any  # array-API namespace (array_api_compat wrapper or a native one)
    device: Any  # that namespace's device object
    name: str  # "numpy", "cupy", "torch", "array_api_strict", "jax", ...
    label: str  # for people: "cpu", "cuda:0", "torch:cpu", ...

    def dtype(self, name: str):
        """The namespace's dtype object for "float32" / "float64"."""
        if name not in DTYPES:
            raise XpnnDeviceError(f"{spelled('dtype', name)}: expected one of "
                                  f"{', '.join(DTYPES)}")
        return getattr(self.xp, name)

    def check_room(self, nbytes: int, what: str):
        """Before a data-sized allocation on a GPU (a gather of a whole split, a full batch):
        a one-line error when it cannot fit, not CuPy's raw out-of-memory. Allocations under
        ROOM_CHECK_BYTES are not checked (no driver call per ordinary batch)."""
        if self.name == "cupy" and nbytes >= ROOM_CHECK_BYTES:
            _check_gpu_room(nbytes, self, what)

    def asarray(self, host_array, dtype=None):
        """Move a host NumPy array to this backend's device (one copy), optionally cast."""
        host_array = np.asarray(host_array)
        if dtype is not None:
            host_array = host_array.astype(_numpy_dtype(dtype, self), copy=False)
        if self.name == "cupy":
            _check_gpu_room(host_array.nbytes, self, "the data need")
            with self.device:
                return self.xp.asarray(host_array)
        return self.xp.asarray(host_array, device=self.device)

    def sparse_rows(self, block, dtype):
        """A host scipy.sparse block of rows on this device in ``dtype``, still sparse (never
        densified): the host CSR itself on NumPy, a cupyx.scipy.sparse CSR copy on CuPy, the
        two namespaces whose sparse x dense products ``mlp`` uses."""
        block = block.tocsr().astype(_numpy_dtype(dtype, self), copy=False)
        if self.name == "numpy":
            return block
        if self.name == "cupy":
            require_cuda_libraries(self.label, "cusparse")
            import cupyx.scipy.sparse

            _check_gpu_room(block.data.nbytes + block.indices.nbytes + block.indptr.nbytes,
                            self)
            with self.device:
                return cupyx.scipy.sparse.csr_matrix(block)
        raise XpnnDeviceError(
            f"sparse rows on {self.label}: only NumPy (scipy.sparse) and CuPy "
            f"(cupyx.scipy.sparse) multiply sparse rows; train on {spelled('device', 'cpu')} "
            f"or {spelled('device', 'cuda')}, or pass a dense array")

    def activate(self):
        """Make this backend's device current (CuPy runs kernels on the current GPU)."""
        if self.name == "cupy":
            return self.device  # a cupy.cuda.Device is a context manager
        return contextlib.nullcontext()

    def gpu_bus_id(self) -> str:
        """The PCI bus id of this backend's GPU (which ranks share one)."""
        import cupy

        with self.device:
            return cupy.cuda.Device().pci_bus_id

    def has_nccl(self) -> bool:
        """Whether CuPy can sum with NCCL here (GPU-to-GPU sums for data parallel).
        ``cupy.cuda.nccl`` imports even without the NCCL library: CuPy then sets its
        ``available`` to False and warns, nine lines on every rank; the answer (host-buffer
        sums) is the fallback the reducer chooses, so that warning is silenced here."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=NCCL_MISSING_WARNING, category=UserWarning)
            try:
                from cupy.cuda import nccl
            except ImportError:
                return False
        return bool(nccl.available)

    def quiet_float_errors(self):
        """Silence NumPy's overflow/invalid warnings: the divergence guard reports them."""
        if self.name == "numpy":
            return np.errstate(over="ignore", invalid="ignore", divide="ignore")
        return contextlib.nullcontext()



ROOM_CHECK_BYTES = 64 * 2**20  # Backend.check_room: smaller allocations go unchecked


def _check_gpu_room(nbytes: int, backend: Backend, what: str = "the data need"):
    """Refuse, clearly, an array larger than the GPU's free memory (no streaming yet)."""
    import cupy

    with backend.device:  # both readings are of the current GPU: make it cuda:N first
        free, total = cupy.cuda.runtime.memGetInfo()
        pool_free = cupy.get_default_memory_pool().free_bytes()
    if nbytes > free + pool_free:
        raise XpnnDeviceError(
            f"{spelled('device', backend.label)}: {what} {nbytes / 2**20:,.0f} MiB but the "
            f"GPU has {(free + pool_free) / 2**20:,.0f} MiB free of {total / 2**20:,.0f} MiB; "
            f"use {spelled('dtype', 'float32')}, fewer rows, or {spelled('device', 'cpu')} "
            f"(streaming batches from host memory is not implemented yet)")


def _numpy_dtype(dtype, backend):
    for name in DTYPES:
        if dtype == getattr(backend.xp, name) or dtype == name:
            return np.dtype(name)
    raise XpnnDeviceError(f"unsupported dtype {dtype!r}")


# -- resolving a device string -----------------------------------------------------------

_CUDA_RE = re.compile(r"^cuda(?::(\d+))?$")


def is_device_spec(spec) -> bool:
    """Whether ``spec`` is a device string ``resolve_device`` reads: cpu, cuda, cuda:N."""
    if not isinstance(spec, str):
        return False
    spec = spec.strip().lower()
    return spec == "cpu" or _CUDA_RE.match(spec) is not None


def resolve_device(spec: str) -> Backend:
    """The backend for a device name: ``cpu`` -> NumPy; ``cuda`` / ``cuda:N`` -> CuPy on GPU N.

    CuPy is imported here, lazily.

    Parameters
    ----------
    spec : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (case and spaces ignored; empty: cpu).

    Returns
    -------
    Backend
        The namespace, device and label.

    Raises
    ------
    XpnnDeviceError
        For another name, or when CuPy, a driver or GPU N is missing.
    """
    spec = (spec or "cpu").strip().lower()
    if spec == "cpu":
        return numpy_backend()
    match = _CUDA_RE.match(spec)
    if match is None:
        raise XpnnDeviceError(f"{spelled('device', spec)}: expected cpu, cuda or cuda:N "
                              f"(e.g. cuda:0)")
    return cupy_backend(int(match.group(1) or 0), spec)


def numpy_backend() -> Backend:
    return Backend(array_api_compat.array_namespace(np.empty(0)), "cpu", "numpy", "cpu")


def cupy_backend(index: int, spec: str = "cuda") -> Backend:
    try:
        import cupy
    except ImportError as exc:
        raise XpnnDeviceError(
            f"{spelled('device', spec)}: CuPy is not installed; {CUDA_INSTALL_HINT}, or use "
            f"{spelled('device', 'cpu')}"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CuPy raises CUDARuntimeError, or ImportError for missing libs
        raise XpnnDeviceError(
            f"{spelled('device', spec)}: no usable CUDA device: CuPy reports "
            f"{_one_line(exc)!r}; check the NVIDIA driver (nvidia-smi) and the CuPy build for "
            f"your CUDA version, or use {spelled('device', 'cpu')}"
        ) from exc
    if count == 0:
        raise XpnnDeviceError(f"{spelled('device', spec)}: no usable CUDA device: CuPy sees "
                              f"no GPU; use {spelled('device', 'cpu')}")
    if not 0 <= index < count:
        raise XpnnDeviceError(
            f"{spelled('device', spec)}: GPU {index} does not exist; this machine has {count} "
            f"(cuda:0..cuda:{count - 1})"
        )
    require_cuda_libraries(spec, "cublas", "nvrtc")
    try:
        device = cupy.cuda.Device(index)
        with device:  # the first call that makes a context on the GPU
            xp = array_api_compat.array_namespace(cupy.empty(0))
    except (RuntimeError, MemoryError) as exc:  # CUDA's errors: busy (exclusive mode), lost
        raise XpnnDeviceError(
            f"{spelled('device', spec)}: no usable CUDA device: GPU {index} answers "
            f"{_one_line(exc)!r}; check nvidia-smi, or use {spelled('device', 'cpu')}"
        ) from exc
    return Backend(xp, device, "cupy", f"cuda:{index}")


def require_cuda_libraries(spec: str, *names: str) -> None:
    """Load CuPy's CUDA libraries ``names`` now (CuPy loads each at its first call): a
    missing one is this one-line error, not an ImportError at the first product, kernel or
    draw. A pip-installed CuPy finds them in the CUDA Toolkit or its ``[ctk]`` extra."""
    import cupy

    libraries = {  # name -> (its name for people, a call that loads it)
        "cublas": ("cuBLAS", lambda: cupy.cuda.cublas),  # the products
        "nvrtc": ("NVRTC", lambda: cupy.cuda.nvrtc.getVersion()),  # compiles the kernels
        "curand": ("cuRAND", lambda: cupy.cuda.curand),  # dropout's masks
        "cusparse": ("cuSPARSE", lambda: cupy.cuda.cusparse),  # sparse rows
    }
    for name in names:
        title, load = libraries[name]
        try:
            load()
        except (ImportError, OSError, RuntimeError) as exc:  # pathfinder's: a RuntimeError
            cuda = cupy.cuda.runtime.runtimeGetVersion() // 1000
            raise XpnnDeviceError(
                f"{spelled('device', spec)}: CuPy cannot load {title} ({_one_line(exc)}); "
                f"install the CUDA {cuda} Toolkit or pip install 'cupy-cuda{cuda}x[ctk]', or "
                f"use {spelled('device', 'cpu')}") from exc


def gpu_count() -> int:
    """How many GPUs CuPy sees.

    Returns
    -------
    int
        The count; 0 without CuPy, a driver or a GPU.
    """
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # ImportError, CUDARuntimeError and friends
        return 0


def gpu_descriptions() -> list[dict]:
    """Each usable GPU: index, name, total and free bytes, CuPy's version (for ``devices``);
    raises XpnnDeviceError naming why there is none."""
    resolve_device("cuda")
    import cupy

    found = []
    for index in range(cupy.cuda.runtime.getDeviceCount()):
        props = cupy.cuda.runtime.getDeviceProperties(index)
        with cupy.cuda.Device(index):
            free, total = cupy.cuda.runtime.memGetInfo()
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        found.append({"index": index, "name": name, "total": total, "free": free,
                      "cupy": cupy.__version__})
    return found


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- caller arrays -----------------------------------------------------------------------


def backend_of(*arrays) -> Backend:
    """The namespace and device shared by ``arrays``; mixed ones are refused clearly.

    Parameters
    ----------
    *arrays : array or None
        The caller's arrays (None ignored).

    Returns
    -------
    Backend
        Their namespace, device and label (``"cpu"`` for NumPy, ``"cuda:N"`` for CuPy).

    Raises
    ------
    XpnnDeviceError
        When they come from different array libraries or live on different devices.
    """
    arrays = [a for a in arrays if a is not None]
    try:
        xp = array_api_compat.array_namespace(*arrays)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrays})
        raise XpnnDeviceError(
            f"inputs come from different array libraries ({', '.join(kinds)}); "
            f"convert them to one (e.g. all NumPy or all torch)"
        ) from exc
    devices = {str(array_api_compat.device(a)) for a in arrays}
    if len(devices) > 1:
        raise XpnnDeviceError(
            f"inputs live on different devices ({', '.join(sorted(devices))}); move them to one"
        )
    device = array_api_compat.device(arrays[0])
    name = _namespace_name(arrays[0])
    label = "cpu" if name == "numpy" else f"{name}:{device}"
    if name == "cupy":
        label = f"cuda:{device.id}"
    return Backend(xp, device, name, label)


# namespace name -> an empty array of it, to find its namespace and devices without a caller's
# array (an estimator unpickled from host copies, ``backend_at``)
_EMPTY_ARRAYS = {
    "torch": lambda: __import__("torch").empty(0),
    "jax": lambda: __import__("jax.numpy").numpy.zeros(0),
    "array_api_strict": lambda: __import__("array_api_strict").asarray([0.0]),
}


def backend_at(name: str, device: str) -> Backend:
    """The backend of namespace ``name`` (as ``Backend.name``) on the device whose str is
    ``device``: where an estimator's arrays lived when it was pickled.

    Parameters
    ----------
    name : str
        "numpy", "cupy", "torch", "jax" or "array_api_strict".
    device : str
        ``str(Backend.device)``.

    Returns
    -------
    Backend
        The namespace on that device.

    Raises
    ------
    XpnnDeviceError
        When the namespace is not installed here or has no such device.
    """
    if name == "numpy":
        return numpy_backend()
    if name == "cupy":  # CuPy's device str is "<CUDA Device N>"
        index = re.search(r"\d+", device)
        return resolve_device(f"cuda:{index.group(0) if index else 0}")
    try:
        sample = _EMPTY_ARRAYS[name]()
    except (KeyError, ImportError) as exc:
        raise XpnnDeviceError(f"the model's arrays lived in {name} on {device}, and {name} is "
                              f"not installed here: install it, or load an xpnn model file "
                              f"(xpnn.load_model) onto cpu") from exc
    xp = array_api_compat.array_namespace(sample)
    if name == "torch":  # torch names its devices itself (its device list probes them all)
        return backend_of(xp.empty(0, device=__import__("torch").device(device)))
    for candidate in xp.__array_namespace_info__().devices():
        if str(candidate) == device:
            return backend_of(xp.empty(0, device=candidate))
    raise XpnnDeviceError(f"the model's arrays lived in {name} on {device}, which this "
                          f"machine does not have: load an xpnn model file (xpnn.load_model) "
                          f"onto another device")


def _namespace_name(array) -> str:
    checks = [
        ("numpy", array_api_compat.is_numpy_array),
        ("cupy", array_api_compat.is_cupy_array),
        ("torch", array_api_compat.is_torch_array),
        ("jax", array_api_compat.is_jax_array),
        ("dask", array_api_compat.is_dask_array),
    ]
    for name, check in checks:
        if check(array):
            return name
    return type(array).__module__.split(".")[0]


def is_sparse(array) -> bool:
    """A scipy.sparse or cupyx.scipy.sparse matrix or array (told without importing
    either): rows that stay sparse from the caller to the first layer's products."""
    return hasattr(array, "tocsr") and hasattr(array, "nnz")


def as_host_array(array) -> np.ndarray:
    """Any supported array -> a host NumPy array (one device-to-host copy where needed)."""
    if isinstance(array, np.ndarray):
        return array
    if array_api_compat.is_cupy_array(array):
        return array.get()
    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_numpy_array(array) or array_api_compat.is_jax_array(array):
        return np.asarray(array)
    try:
        return np.from_dlpack(array)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray(array)


def device_context(array):
    """Make ``array``'s device current while creating arrays beside it.

    array-api-compat ignores ``device=`` in CuPy's creation functions (``zeros``,
    ``zeros_like``, ``arange``): they allocate on the *current* GPU. Functions that get
    arrays but no Backend (optimizer state, metrics) enter this first.
    """
    if array_api_compat.is_cupy_array(array):
        return array.device  # a cupy.cuda.Device is a context manager
    return contextlib.nullcontext()


def read_scalars(values, xp) -> list:
    """0-d or 1-d device arrays -> host values (floats, or float64 NumPy vectors for 1-d)
    with ONE device-to-host copy (one sync on a GPU).

    Stacked as float64 where the namespace has it (counts stay exact past 2**24), else in
    float32 (JAX without x64).
    """
    dtype = xp.float64 if _has_float64(values[0]) else xp.float32
    flat = [xp.reshape(xp.astype(value, dtype), (-1,)) for value in values]
    host = np.asarray(as_host_array(xp.concat(flat)), dtype=np.float64)
    out, start = [], 0
    for value, piece in zip(values, flat):
        stop = start + piece.shape[0]
        out.append(float(host[start]) if value.ndim == 0 else host[start:stop])
        start = stop
    return out


def _has_float64(array) -> bool:
    if not array_api_compat.is_jax_array(array):
        return True
    import jax

    return bool(jax.config.jax_enable_x64)


def copy_array(array, backend: Backend):
    """A fresh copy on the same device (snapshots must not alias in-place updates)."""
    return backend.xp.asarray(array, copy=True, device=backend.device)


def device_of(array):
    """The device an array lives on (array-API ``device``)."""
    return array_api_compat.device(array)

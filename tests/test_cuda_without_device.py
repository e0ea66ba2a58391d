"""CuPy installed and no usable CUDA device (no driver, or no GPU): every way in says so in
one line (issue 37), with the real CuPy, in real processes as a user starts them:
``xpnn devices``, ``xpnn train --device cuda``, ``MLPClassifier(device="cuda").fit`` and
``mpiexec -n 2 xpnn train --device cuda``. The line is resolve_device's; no traceback, and
no warning of CuPy's (it warns in nine lines when ``cupy.cuda.nccl`` cannot load libnccl).
Then CuPy's lazily loaded CUDA libraries, and has_nccl's import of cupy.cuda.nccl, in this
process.
"""
import importlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import gpu_skip_reason

from xpnn.backend.devices import Backend, require_cuda_libraries, resolve_device
from xpnn.errors import XpnnDeviceError, entry_point

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'xpnn[cuda12]')")

pytestmark = pytest.mark.skipif(gpu_skip_reason() is None,
                                reason="a CUDA device is usable here: --device cuda is no error")

MPIEXEC = Path(sys.executable).parent / "mpiexec"
FIT = """
import numpy as np
from xpnn import MLPClassifier
try:
    MLPClassifier(device="cuda").fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))
except Exception as exc:
    print(f"{type(exc).__module__}.{type(exc).__qualname__}")
    print(exc)
"""
# each command at once (mostly Python's, scikit-learn's and CuPy's start-up): name -> argv
COMMANDS = {
    "devices": [sys.executable, "-m", "xpnn", "devices"],
    "train": [sys.executable, "-m", "xpnn", "train", "--device", "cuda"],
    "fit": [sys.executable, "-W", "error::UserWarning", "-c", FIT],  # a warning: an error
    "mpiexec": [str(MPIEXEC), "-n", "2", sys.executable, "-m", "xpnn", "train", "--device",
                "cuda"],
}
NCCL_WARNING = "nccl library could not be loaded"  # the start of CuPy's warning


def can_run_mpi() -> bool:
    return MPIEXEC.exists() and importlib.util.find_spec("mpi4py") is not None


@pytest.fixture(scope="module")
def device_line() -> str:
    """What resolve_device says here of --device cuda (the line every command must give)."""
    with entry_point("cli"), pytest.raises(XpnnDeviceError) as info:
        resolve_device("cuda")
    return str(info.value)


@pytest.fixture(scope="module")
def library_device_line() -> str:
    """The same, as a library caller reads it: device="cuda" (tests/test_error_wording.py)."""
    with pytest.raises(XpnnDeviceError) as info:
        resolve_device("cuda")
    return str(info.value)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict:
    """COMMANDS run together, in an empty folder, without a launcher's variables:
    name -> CompletedProcess."""
    from xpnn.parallel.launcher import LAUNCHER_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    cwd = tmp_path_factory.mktemp("no-device")
    jobs = {name: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env, cwd=cwd)
            for name, argv in COMMANDS.items() if name != "mpiexec" or can_run_mpi()}
    try:
        return {name: finished(job) for name, job in jobs.items()}
    finally:
        for job in jobs.values():
            if job.poll() is None:
                job.kill()


def finished(job, timeout=120) -> subprocess.CompletedProcess:
    stdout, stderr = job.communicate(timeout=timeout)
    return subprocess.CompletedProcess(job.args, job.returncode, stdout, stderr)


def assert_quiet(stderr: str):
    assert "Traceback" not in stderr, stderr
    assert NCCL_WARNING not in stderr.lower() and "Warning" not in stderr, stderr


def test_the_line_says_no_usable_cuda_device_and_what_to_do(device_line):
    assert device_line.startswith("--device cuda: no usable CUDA device: ")
    assert device_line.endswith("use --device cpu") and "\n" not in device_line


def test_devices_lists_the_cpu_and_says_why_cuda_is_unusable(ran, device_line):
    result = ran["devices"]
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cpu      usable   NumPy ")
    assert f"cuda     unusable {device_line}" in lines


def test_train_on_cuda_is_one_error_line(ran, device_line):
    result = ran["train"]
    assert result.returncode == 2, result.stderr
    assert_quiet(result.stderr)
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"xpnn train: error: {device_line}"]
    assert result.stdout == ""


def test_fit_on_cuda_raises_the_device_error_without_a_warning(ran, library_device_line):
    """Run with ``-W error::UserWarning``: a warning (CuPy's NCCL one) would be raised
    instead, and printed here as its type."""
    result = ran["fit"]
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["xpnn.errors.XpnnDeviceError", library_device_line]


@pytest.mark.skipif(not can_run_mpi(), reason=f"no {MPIEXEC} or no mpi4py: install the MPI "
                                              f"extra, pip install -e '.[test,mpi]'")
def test_train_on_cuda_under_mpiexec_is_one_line_for_the_job(ran, device_line):
    """Every rank fails on its device before any data is read; the ranks agree on it, so
    rank 0 prints the line once and every rank ends with status 2 (no MPI_Abort)."""
    result = ran["mpiexec"]
    assert result.returncode == 2, result.stderr
    assert_quiet(result.stderr)
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"xpnn train: error: {device_line}"]


# -- in this process: CuPy's libraries, NCCL's warning, a GPU counted but unusable ----------

@pytest.mark.parametrize("library", ["cublas", "nvrtc", "curand", "cusparse"])
def test_a_cuda_library_cupy_cannot_load_is_one_line(library):
    """CuPy loads cuBLAS, NVRTC, cuRAND and cuSPARSE at their first call; pip's CuPy without
    its [ctk] extra (or the CUDA Toolkit) has none of them."""
    try:
        require_cuda_libraries("cuda:0", library)
    except XpnnDeviceError as exc:
        message = str(exc)
        assert message.startswith('device="cuda:0": CuPy cannot load ') and "\n" not in message
        assert "[ctk]" in message and message.endswith('or use device="cpu"')
    else:
        pytest.skip(f"CuPy loads {library} here")


def test_a_counted_gpu_that_cannot_be_used_is_one_line(monkeypatch):
    """The real CuPy, told there is one GPU: its libraries (when missing) or the GPU itself
    (no driver) refuse, as one line, never CuPy's ImportError or CUDARuntimeError."""
    monkeypatch.setattr(cupy.cuda.runtime, "getDeviceCount", lambda: 1)
    with pytest.raises(XpnnDeviceError) as info:
        resolve_device("cuda")
    message = str(info.value)
    assert message.startswith('device="cuda": ') and "\n" not in message
    assert message.endswith('use device="cpu"')


def test_dropout_without_curand_is_one_line():
    from xpnn.backend.device_random import random_source

    try:
        require_cuda_libraries("cuda:0", "curand")
    except XpnnDeviceError:
        pass
    else:
        pytest.skip("CuPy loads cuRAND here")
    backend = Backend(xp=None, device=None, name="cupy", label="cuda:0")
    with pytest.raises(XpnnDeviceError, match=r'^device="cuda:0": CuPy cannot load cuRAND'):
        random_source(backend, 0)


def import_cupy_nccl(monkeypatch):
    """Import cupy.cuda.nccl afresh (it is a Python module: it tries libnccl again)."""
    monkeypatch.delitem(sys.modules, "cupy.cuda.nccl", raising=False)
    return importlib.import_module("cupy.cuda.nccl")


def test_cupy_warns_when_its_nccl_module_has_no_library(monkeypatch):
    """What the commands' checks look for: CuPy's warning does come, here, without xpnn's
    filter (so its absence above means something)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nccl = import_cupy_nccl(monkeypatch)
    if nccl.available:
        pytest.skip("libnccl loads here: CuPy has nothing to warn about")
    assert any(str(w.message).strip().lower().startswith(NCCL_WARNING) for w in caught
               if w.category is UserWarning), [str(w.message) for w in caught]


def test_has_nccl_answers_without_cupys_warning(monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy.cuda.nccl", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = Backend(xp=None, device=None, name="cupy", label="cuda:0").has_nccl()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert available is bool(import_cupy_nccl(monkeypatch).available)
    assert not [w for w in caught if NCCL_WARNING in str(w.message).lower()]

"""What a benchmark worker reports about itself and the machine: memory, thread pools, CPU
model, installed versions, the load; and the BLAS pinning it unsets (``OPENBLAS_CORETYPE``,
``OPENBLAS_L2_SIZE``) so that it measures what a user would get.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import resource
import sys
from pathlib import Path



MIB = 2**20
DISTRIBUTIONS = ("xpnn", "numpy", "torch", "jax", "jaxlib", "scikit-learn", "array-api-compat",
                 "array-api-strict", "threadpoolctl", "matplotlib", "cupy-cuda13x", "cupy-cuda12x")


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (getrusage ru_maxrss), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MIB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB else


def current_rss_mib() -> float | None:
    """Resident set size now (VmRSS from /proc), in MiB; None where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def thread_pools() -> list[dict]:
    """The BLAS / OpenMP pools loaded in this process (threadpoolctl), short form."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"error": "threadpoolctl is not installed"}]
    keys = ("user_api", "internal_api", "version", "num_threads", "threading_layer",
            "architecture")
    return [{**{key: pool.get(key) for key in keys if pool.get(key) is not None},
             "library": Path(pool.get("filepath", "")).name} for pool in threadpool_info()]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Date, CPU, cores, Python and library versions (read from metadata, nothing imported)."""
    versions = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "usable_cores": usable,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions}


def load_warning(env: dict) -> str | None:
    """A warning line when other work was running at the start (timings then mislead)."""
    loads = env.get("load_average")
    if not loads or loads[0] < 0.5 * env["usable_cores"]:
        return None
    return (f"WARNING: load average {loads[0]:.2f} on {env['usable_cores']} cores at the start: "
            "other work was running, so these timings are not trustworthy (threaded BLAS "
            "and OpenMP slow down sharply when a core is taken)")


def blas_summary(pools: list[dict]) -> str:
    """One line per pool: 'openblas 0.3.27 (pthreads, 2 threads, libscipy_openblas64_.so)'."""
    parts = []
    for pool in pools:
        if "error" in pool:
            parts.append(pool["error"])
            continue
        detail = ", ".join(str(item) for item in (pool.get("threading_layer"),
                                                  f"{pool.get('num_threads')} threads",
                                                  pool.get("architecture") and
                                                  f"{pool['architecture']} kernels",
                                                  pool.get("library")) if item)
        parts.append(f"{pool.get('internal_api')} {pool.get('version') or ''} ({detail})")
    return "; ".join(parts) or "none loaded"


def thread_env(threads: int | None) -> dict | None:
    """Environment that caps every BLAS / OpenMP pool of a new process at ``threads``."""
    if not threads:
        return None
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return {name: str(threads) for name in names}


# Set on this project's machines for old OpenBLAS builds; they pin a current NumPy's OpenBLAS
# to its Haswell (AVX2) kernels, about 1.6x slower GEMMs on the AVX-512 CPUs here. A user's
# machine has neither, so workers run without them (the BLAS line of each report names the
# kernel actually used); tests and CI keep them.
PINNED_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def worker_environment(env: dict | None = None) -> dict:
    """This process's environment without the pinned-kernel variables, plus ``env``."""
    keep = os.environ.get("XPNN_BENCH_KEEP_BLAS_PIN") == "1"
    base = {k: v for k, v in os.environ.items() if keep or k not in PINNED_BLAS_VARS}
    return {**base, **(env or {})}


def unpin_blas_and_reexec() -> None:
    """Restart this script without the pinned-kernel variables (same argv), once."""
    if os.environ.get("XPNN_BENCH_KEEP_BLAS_PIN") == "1":
        return
    if any(name in os.environ for name in PINNED_BLAS_VARS):
        os.execve(sys.executable, [sys.executable, *sys.argv], worker_environment())

"""``xpnn gradcheck`` and ``xpnn devices``: is the math right, which backends work here."""
from __future__ import annotations

import importlib

from ...backend.devices import gpu_descriptions, resolve_device
from ...errors import XpnnDeviceError
from ...training.gradient_check import gradcheck_report


def run_gradcheck(args) -> int:
    backend = resolve_device(args.device)
    errors = gradcheck_report(hidden=args.hidden, n_features=args.features,
                              n_classes=args.classes, n_samples=args.samples, seed=args.seed,
                              backend=backend, dropout=args.dropout)
    worst = max(errors.values())
    for name, error in errors.items():
        flag = "ok" if error < args.tol else "FAIL"
        print(f"{name:>4}  relative error {error:.2e}  {flag}")
    verdict = "passed" if worst < args.tol else "FAILED"
    print(f"gradcheck {verdict}: max relative error {worst:.2e} (tolerance {args.tol:g}, "
          f"float64 on {backend.label})")
    return 0 if worst < args.tol else 1


def run_devices(args) -> int:
    for line in device_lines():
        print(line)
    return 0


def device_lines():
    """One line per backend: usable (with what it sees) or why not."""
    import numpy

    lines = [f"cpu      usable   NumPy {numpy.__version__} (--device cpu)"]
    try:
        for gpu in gpu_descriptions():
            lines.append(f"cuda:{gpu['index']}   usable   {gpu['name']}, "
                         f"{gpu['total'] / 2**30:.1f} GiB ({gpu['free'] / 2**30:.1f} GiB free), "
                         f"CuPy {gpu['cupy']}")
    except XpnnDeviceError as exc:
        lines.append(f"cuda     unusable {exc}")
    for module, what in (("torch", "torch tensors (library API)"),
                         ("jax", "JAX arrays (library API)"),
                         ("array_api_strict", "array-api-strict arrays (library API)")):
        try:
            lib = importlib.import_module(module)
            lines.append(f"{module:<8} usable   {what}, version {getattr(lib, '__version__', '?')}")
        except ImportError:
            lines.append(f"{module:<8} absent   {what}: not installed")
    return lines

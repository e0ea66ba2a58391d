"""The tests' one comparison helper: dicts of arrays from any namespace, tolerances per dtype.

``assert_params_close(actual, expected)`` compares two name -> array dicts (parameters,
optimizer state) name by name, with rtol from ``RTOL`` and atol = rtol * max|expected|, so
near-zero entries (Adam moments, a weight that crosses zero) compare on the array's own scale
rather than relative to themselves. ``assert_params_equal`` is the bit-for-bit variant (a
kernel against its reference, a resumed run against an uninterrupted one), and
``assert_curve_close`` compares host-side sequences such as loss curves;
``assert_array_close`` / ``assert_array_equal`` compare one array (predictions, say).

Arrays go to array-api-extra's ``assert_close`` / ``assert_equal``, which check namespace,
shape, dtype and device as well as values. Those helpers refuse two namespaces, so a CuPy or
torch run compared with a NumPy reference is first moved to the host with
``xpnn.backend.devices.as_host_array``; both sides are NumPy then, and the dtype and shape are still
checked. The scale-aware atol is computed here (array-api-extra takes a plain atol), from the
expected array.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from array_api_compat import array_namespace
from array_api_extra.testing import assert_close, assert_equal

from xpnn.backend.devices import as_host_array

# one seeded run on two backends, step for step: float64 agrees to rounding (only the order
# of a sum differs), float32 accumulates those reordering differences
RTOL = {"float64": 1e-10, "float32": 1e-4}


def _same_namespace(actual, expected):
    """(actual, expected, xp): as given when they share a namespace, else both on the host."""
    xp = array_namespace(expected)
    if array_namespace(actual) == xp:
        return actual, expected, xp
    actual, expected = as_host_array(actual), as_host_array(expected)
    return actual, expected, array_namespace(expected)


def _dtype_name(array, xp) -> str:
    """The RTOL key of a floating array's dtype ("float32" for np.float32, torch.float32, ...)."""
    for name in RTOL:
        if array.dtype == getattr(xp, name):
            return name
    raise TypeError(f"no tolerance for dtype {array.dtype}: RTOL has {sorted(RTOL)}")


def _check_names(actual: Mapping, expected: Mapping):
    missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
    assert not missing and not extra, f"names differ: missing {missing}, unexpected {extra}"


def assert_params_close(actual: Mapping, expected: Mapping, *, rtol: float | None = None,
                        dtype: str | None = None):
    """Every array of ``actual`` within rtol, atol = rtol * max|expected|, of ``expected``.

    ``rtol`` defaults to ``RTOL`` of ``dtype``, or of each expected array's own dtype; a given
    ``dtype`` is also checked on every expected array (and, by array-api-extra, on actual's).
    A failure names the array.
    """
    _check_names(actual, expected)
    for name, want in expected.items():
        got, want, xp = _same_namespace(actual[name], want)
        try:
            if dtype is not None:
                assert want.dtype == getattr(xp, dtype), f"dtype {want.dtype}, not {dtype}"
            tol = rtol if rtol is not None else RTOL[dtype or _dtype_name(want, xp)]
            scale = float(xp.max(xp.abs(want))) if math.prod(want.shape) else 0.0
            assert_close(got, want, rtol=tol, atol=tol * scale)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def assert_array_close(actual, expected, *, rtol: float, atol: float = 0.0):
    """One array from any namespace within ``rtol`` and ``atol`` of another (same dtype and
    shape); arrays of two namespaces are compared on the host."""
    got, want, _ = _same_namespace(actual, expected)
    assert_close(got, want, rtol=rtol, atol=atol)


def assert_array_equal(actual, expected):
    """One array from any namespace equal, bit for bit (same dtype and shape), to another."""
    got, want, _ = _same_namespace(actual, expected)
    assert_equal(got, want)


def assert_params_equal(actual: Mapping, expected: Mapping):
    """Every array of ``actual`` equal, bit for bit (same dtype and shape), to ``expected``'s."""
    _check_names(actual, expected)
    for name, want in expected.items():
        got, want, _ = _same_namespace(actual[name], want)
        try:
            assert_equal(got, want)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def assert_curve_close(actual: Sequence[float] | float, expected: Sequence[float] | float, *,
                       rtol: float | None = None, dtype: str | None = None,
                       what: str = "curve"):
    """Host-side numbers (a loss curve, validation scores, one final loss) within ``rtol``
    (default ``RTOL[dtype]``), atol 0; the lengths must agree."""
    if rtol is None and dtype is None:
        raise TypeError("assert_curve_close needs rtol or dtype")
    if rtol is None:
        rtol = RTOL[dtype]
    assert_close(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                 rtol=rtol, atol=0.0, err_msg=what)

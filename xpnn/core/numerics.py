"""The flush rules: what training makes too small to compute with is set to 0 where it is made.

What decays step after step (Adam's moments of a weight whose gradient is 0, a momentum
buffer, a tiny weight's L2 gradient) would pass through the subnormal range, where x86
arithmetic is about 100 times slower: it is flushed below its dtype's smallest normal number.
A parameter is flushed below sqrt of that (``weight_floor``): a float32 weight of 1e-25 is
normal, but its products in the next GEMM are not, and BLAS's threads, which no flush
reaches, run them 25x slower (bench/README.md, "Flat epochs"); no output moves by an ulp.
The CPU's flush-to-zero mode would change the caller's arithmetic too. NaN and inf pass.
"""
from __future__ import annotations

import math


def flush_below(x, floor, xp):
    """x where |x| >= floor, else 0 (a signed zero: x times 0)."""
    kept = xp.abs(x) >= floor  # False for 0 (and NaN, which x * 0 keeps)
    return x * xp.astype(kept, x.dtype)


def flush_subnormal(x, xp):
    """x with every value below its dtype's smallest normal number set to 0."""
    return flush_below(x, xp.finfo(x.dtype).smallest_normal, xp)


def weight_floor(dtype, xp) -> float:
    """sqrt(smallest normal number): 2**-63 in float32, 2**-511 in float64 (exact)."""
    return math.sqrt(float(xp.finfo(dtype).smallest_normal))


def flush_tiny_weight(x, xp):
    """A parameter after its update, with values below ``weight_floor`` set to 0."""
    return flush_below(x, weight_floor(x.dtype, xp), xp)

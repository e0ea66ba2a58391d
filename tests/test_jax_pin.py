"""The test suite keeps JAX on the CPU, also on a machine with a GPU (see conftest.py)."""
import pytest


def test_jax_runs_on_the_cpu_in_the_tests():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    from conftest import make_backend

    backend = make_backend("jax")
    array = backend.asarray([1.0, 2.0])
    assert {device.platform for device in array.devices()} == {"cpu"}
    assert jax.default_backend() == "cpu"

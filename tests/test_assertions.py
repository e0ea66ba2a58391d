"""The comparison helper itself: the scale-aware atol, names in failures, any namespace."""
import numpy as np
import pytest

from assertions import RTOL, assert_curve_close, assert_params_close, assert_params_equal

REFERENCE = {"w1": np.array([[1.0, -2.0], [1e-12, 4.0]]), "m1": np.array([0.5, 0.0])}


def _nudged(name, index, delta):
    arrays = {k: v.copy() for k, v in REFERENCE.items()}
    arrays[name][index] += delta
    return arrays


def test_near_zero_entries_compare_on_the_arrays_own_scale():
    # 1e-12 -> 2e-12 is far off relative to itself, but within 1e-10 * max|w1| = 4e-10
    assert_params_close(_nudged("w1", (1, 0), 1e-12), REFERENCE)
    with pytest.raises(AssertionError, match="w1"):
        assert_params_close(_nudged("w1", (1, 0), 1e-9), REFERENCE)


def test_the_default_rtol_follows_each_arrays_dtype():
    expected = {k: v.astype(np.float32) for k, v in REFERENCE.items()}
    nudged = _nudged("w1", (0, 0), 0.5 * RTOL["float32"])
    assert_params_close({k: v.astype(np.float32) for k, v in nudged.items()}, expected)
    with pytest.raises(AssertionError, match="w1"):
        assert_params_close(_nudged("w1", (0, 0), 1e-5), REFERENCE)  # float64: rtol 1e-10


@pytest.mark.parametrize("change", ["dtype", "shape", "name"])
def test_dtype_shape_and_names_are_checked(change):
    actual = {k: v.copy() for k, v in REFERENCE.items()}
    if change == "dtype":
        actual["m1"] = actual["m1"].astype(np.float32)
    elif change == "shape":
        actual["m1"] = actual["m1"][None, :]
    else:
        actual["v1"] = actual.pop("m1")
    with pytest.raises(AssertionError, match="m1"):
        assert_params_close(actual, REFERENCE)
    with pytest.raises(AssertionError, match="m1"):
        assert_params_equal(actual, REFERENCE)


def test_a_given_dtype_is_checked_on_every_array():
    with pytest.raises(AssertionError, match="w1.*float32"):
        assert_params_close(REFERENCE, REFERENCE, dtype="float32")


def test_equal_is_bit_for_bit():
    assert_params_equal({k: v.copy() for k, v in REFERENCE.items()}, REFERENCE)
    with pytest.raises(AssertionError, match="m1"):
        assert_params_equal(_nudged("m1", 0, 1e-16), REFERENCE)


def test_arrays_of_another_namespace_compare_on_the_host():
    import array_api_strict as xp

    strict = {k: xp.asarray(v) for k, v in REFERENCE.items()}
    assert_params_equal(strict, REFERENCE)
    assert_params_close(strict, REFERENCE)
    assert_params_close(strict, {k: xp.asarray(v) for k, v in REFERENCE.items()})
    nudged = {k: xp.asarray(v) for k, v in _nudged("m1", 0, 1e-6).items()}
    with pytest.raises(AssertionError, match="m1"):
        assert_params_close(nudged, REFERENCE)


def test_curves_compare_without_an_atol_and_by_length():
    assert_curve_close([1.0, 1e-12], [1.0, 1e-12 * (1 + 1e-11)], dtype="float64")
    with pytest.raises(AssertionError, match="loss"):
        assert_curve_close([1.0, 1e-12], [1.0, 2e-12], rtol=1e-4, what="loss")
    with pytest.raises(AssertionError):
        assert_curve_close([1.0, 2.0], [1.0], rtol=1e-4)


def test_single_arrays_compare_across_namespaces_and_name_dtype_differences():
    import array_api_strict as strict

    from assertions import assert_array_close, assert_array_equal

    values = np.array([1.0, 2.0, 3.0])
    assert_array_equal(strict.asarray(values), values)
    assert_array_close(strict.asarray(values * (1 + 1e-12)), values, rtol=1e-10)
    with pytest.raises(AssertionError):
        assert_array_close(values * 1.01, values, rtol=1e-3)
    with pytest.raises(AssertionError):
        assert_array_equal(values.astype(np.float32), values)

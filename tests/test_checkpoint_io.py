"""checkpoint_io: bit-exact round trip, atomic saves, and a clear error for each bad file."""
import json
import os
import struct

import numpy as np
import pytest
from safetensors.numpy import load_file as safetensors_load_file
from safetensors.numpy import save as safetensors_save

from xpnn.files import fileio
from xpnn.files.checkpoint_io import FORMAT_VERSION, load_checkpoint, save_checkpoint
from xpnn.errors import XpnnCheckpointError, XpnnError


def _example_tensors():
    rng = np.random.default_rng(0)
    return {
        "params/w1": rng.standard_normal((784, 16)).astype(np.float32),
        "params/b1": np.array([3.4e38, -1.0, -0.0, 1e-45], dtype=np.float32),  # edges, finite
        "optim/m/w1": rng.standard_normal((3, 4, 5)),  # float64, 3-D
        "optim/step": np.array(12345678901234, dtype=np.int64),  # 0-d
        "data/mean.pixels": rng.integers(0, 256, size=(28, 28), dtype=np.uint8),
        "params/w1.T": rng.standard_normal((16, 8)).astype(np.float32).T,  # not contiguous
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def _example_metadata():
    rng_state = np.random.default_rng(2**70 + 3).bit_generator.state  # big ints inside
    return {
        "model": {"sizes": [784, 16, 10], "activation": "relu"},
        "rng": rng_state,
        "history": [{"epoch": 1, "loss": 0.5, "val_loss": None}, {"epoch": 2, "loss": 0.25}],
        "huge": 2**128 + 1,
        "negative": -(2**80),
        "unicode": "Grüße, 数字",
    }


def _bits(array):
    return np.ascontiguousarray(array).view(np.uint8).tobytes()


def test_round_trip_is_bit_exact_with_dtypes_shapes_and_metadata(tmp_path):
    path = tmp_path / "model.safetensors"
    tensors, metadata = _example_tensors(), _example_metadata()
    save_checkpoint(path, tensors, metadata)
    loaded, loaded_metadata = load_checkpoint(path)

    assert set(loaded) == set(tensors)
    for name, original in tensors.items():
        assert loaded[name].dtype == original.dtype, name
        assert loaded[name].shape == original.shape, name
        assert _bits(loaded[name]) == _bits(original), name
        assert loaded[name].flags.writeable, name
    assert loaded_metadata == metadata
    assert loaded_metadata["rng"]["state"]["state"] == metadata["rng"]["state"]["state"]
    # The restored RNG state continues the same stream.
    restored = np.random.default_rng()
    restored.bit_generator.state = loaded_metadata["rng"]
    expected = np.random.default_rng(2**70 + 3)
    assert restored.integers(0, 2**62) == expected.integers(0, 2**62)


def test_file_is_plain_safetensors(tmp_path):
    path = tmp_path / "model.safetensors"
    tensors = _example_tensors()
    save_checkpoint(path, tensors, {"a": 1})
    loaded = safetensors_load_file(str(path))
    np.testing.assert_array_equal(loaded["params/w1"], tensors["params/w1"])
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
    assert header["__metadata__"]["format"] == "xpnn"
    assert header["__metadata__"]["format_version"] == str(FORMAT_VERSION)
    assert json.loads(header["__metadata__"]["xpnn"]) == {"a": 1}


def test_overwrite_replaces_file_and_keeps_permissions(tmp_path):
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 1})
    os.chmod(path, 0o640)
    save_checkpoint(path, {"w": np.ones(3)}, {"epoch": 2})
    tensors, metadata = load_checkpoint(path)
    assert metadata == {"epoch": 2}
    np.testing.assert_array_equal(tensors["w"], np.ones(3))
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]


# --------------------------------------------------------------------------- atomic save


def _raise(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


@pytest.mark.parametrize("exception", [OSError(28, "No space left on device"), KeyboardInterrupt()])
@pytest.mark.parametrize("failing_call", ["replace", "fsync"])
def test_failed_save_leaves_previous_checkpoint_untouched(tmp_path, monkeypatch, exception,
                                                          failing_call):
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, {"w": np.arange(5.0)}, {"epoch": 1})
    before = path.read_bytes()

    monkeypatch.setattr(fileio.os, failing_call, _raise(exception))
    expected = KeyboardInterrupt if isinstance(exception, KeyboardInterrupt) else XpnnCheckpointError
    with pytest.raises(expected):
        save_checkpoint(path, {"w": np.zeros(1000)}, {"epoch": 2})
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]
    assert load_checkpoint(path)[1] == {"epoch": 1}


def test_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    real_fdopen = os.fdopen

    class ExplodingFile:
        def __init__(self, fd, mode):
            self._file = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._file.close()

        def write(self, data):
            self._file.write(data[: len(data) // 2])
            raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "fdopen", ExplodingFile)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": np.zeros(100)}, {})
    assert os.listdir(tmp_path) == []


def test_missing_parent_directory_is_named(tmp_path):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(XpnnCheckpointError, match="no_such_dir.*does not exist"):
        save_checkpoint(missing / "model.safetensors", {"w": np.zeros(1)}, {})


@pytest.mark.parametrize(
    ("tensors", "metadata", "message"),
    [
        ({"w": [1.0, 2.0]}, {}, "not a numpy array"),
        ({"w": np.array(["a"])}, {}, "dtype"),
        ({"w": np.zeros(1)}, {"x": np.float32(1.0)}, "not JSON-serialisable"),
        ({"w": np.zeros(1)}, [1, 2], "metadata must be a dict"),
    ],
)
def test_bad_save_inputs_are_explained(tmp_path, tensors, metadata, message):
    with pytest.raises(XpnnCheckpointError, match=message):
        save_checkpoint(tmp_path / "m.safetensors", tensors, metadata)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- load errors


@pytest.fixture
def good_checkpoint(tmp_path):
    path = tmp_path / "good.safetensors"
    save_checkpoint(path, _example_tensors(), _example_metadata())
    return path


def _write_safetensors(path, header_metadata):
    path.write_bytes(safetensors_save({"w": np.zeros(4, np.float32)}, metadata=header_metadata))
    return path


def _assert_one_line_error_naming(path, match):
    with pytest.raises(XpnnCheckpointError, match=match) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    assert isinstance(info.value, XpnnError)


def test_missing_file(tmp_path):
    _assert_one_line_error_naming(tmp_path / "nope.safetensors", "does not exist")


def test_directory_instead_of_file(tmp_path):
    _assert_one_line_error_naming(tmp_path, "is a directory")


@pytest.mark.parametrize("keep_fraction", [0.5, 0.999, 0.001])
def test_truncated_file(good_checkpoint, keep_fraction):
    data = good_checkpoint.read_bytes()
    good_checkpoint.write_bytes(data[: max(9, int(len(data) * keep_fraction))])
    _assert_one_line_error_naming(good_checkpoint, "truncated")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    _assert_one_line_error_naming(path, "empty")


def test_trailing_garbage(good_checkpoint):
    good_checkpoint.write_bytes(good_checkpoint.read_bytes() + b"junk")
    _assert_one_line_error_naming(good_checkpoint, "unexpected bytes")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.safetensors"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    _assert_one_line_error_naming(path, "not a safetensors")


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("epoch,loss\n1,0.5\n2,0.25\n")
    _assert_one_line_error_naming(path, "not a safetensors")


def test_tiny_file(tmp_path):
    path = tmp_path / "tiny.bin"
    path.write_bytes(b"abc")
    _assert_one_line_error_naming(path, "not a safetensors")


def test_npz_file(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, w=np.zeros((3, 3)))
    _assert_one_line_error_naming(path, "not a safetensors")


def test_header_that_is_not_json(tmp_path):
    path = tmp_path / "bad_header.safetensors"
    header = b"{this is not json}      "
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    _assert_one_line_error_naming(path, "not a safetensors")


def test_plain_safetensors_without_xpnn_metadata(tmp_path):
    path = _write_safetensors(tmp_path / "other.safetensors", None)
    _assert_one_line_error_naming(path, "not an xpnn checkpoint")
    path = _write_safetensors(tmp_path / "other2.safetensors", {"format": "pt"})
    _assert_one_line_error_naming(path, "not an xpnn checkpoint")


def test_newer_format_version(tmp_path):
    newer = FORMAT_VERSION + 1
    path = _write_safetensors(
        tmp_path / "future.safetensors",
        {"format": "xpnn", "format_version": str(newer), "xpnn": "{}"},
    )
    _assert_one_line_error_naming(path, rf"newer xpnn \(format {newer}\); .*upgrade xpnn")


def test_unreadable_format_version(tmp_path):
    path = _write_safetensors(
        tmp_path / "v.safetensors", {"format": "xpnn", "format_version": "one", "xpnn": "{}"}
    )
    _assert_one_line_error_naming(path, "format_version")


def test_corrupt_metadata_json(tmp_path):
    path = _write_safetensors(
        tmp_path / "meta.safetensors",
        {"format": "xpnn", "format_version": "2", "xpnn": '{"epoch": 3, '},
    )
    _assert_one_line_error_naming(path, "corrupt metadata JSON")


def test_metadata_json_that_is_not_an_object(tmp_path):
    path = _write_safetensors(
        tmp_path / "meta.safetensors",
        {"format": "xpnn", "format_version": "2", "xpnn": "[1, 2]"},
    )
    _assert_one_line_error_naming(path, "not an object")


def test_missing_metadata_entry(tmp_path):
    path = _write_safetensors(
        tmp_path / "meta.safetensors", {"format": "xpnn", "format_version": "2"}
    )
    _assert_one_line_error_naming(path, "no 'xpnn' metadata")

"""Property: any byte-level mutation of a valid file ends in a valid result or an XpnnError.

Hypothesis mutates real CSV, IDX (raw and gzip), npz and checkpoint files (byte flips,
overwrites, insertions, deletions, truncation, duplicated chunks). A loader may succeed
(then its result must be valid: finite 2-D features, labels that are class numbers or
names, one per row; a checkpoint must then be bit-identical to what was saved, since
its digest covers everything) or raise an XpnnError with a one-line message naming the
file; any other exception, a numeric warning or a multi-line message fails the test.
"""
import gzip
import os
import tempfile
import warnings

import numpy as np
import pytest
from datagen import (MUTATION_KINDS, csv_bytes, fuzz_seed_arrays, idx_bytes, mutate,
                     npz_bytes, write_bytes)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xpnn.files.checkpoint_io import load_checkpoint, save_checkpoint
from xpnn.data import load_csv, load_idx, load_npz, load_source
from xpnn.errors import XpnnError

OPERATION = st.tuples(st.sampled_from(MUTATION_KINDS), st.integers(0, 1 << 16),
                      st.binary(min_size=1, max_size=8))
OPERATIONS = st.lists(OPERATION, min_size=1, max_size=4)
# XPNN_FUZZ_EXAMPLES=5000 XPNN_FUZZ_RANDOM=1 for a longer hunt with fresh examples
EXAMPLES = int(os.environ.get("XPNN_FUZZ_EXAMPLES", 150))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=not os.environ.get("XPNN_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _seeds():
    """name -> (file name, valid bytes) for every format."""
    images, labels = fuzz_seed_arrays()
    with tempfile.TemporaryDirectory() as tmp:
        npz = npz_bytes(tmp, X=images, y=labels.astype(np.int64))
        npz_compressed = npz_bytes(tmp, compressed=True, X=images.astype(np.float32),
                                   y=labels.astype(np.int64))
    return {
        "csv": ("train.csv", csv_bytes(images, labels)),
        "csv_unlabeled": ("test.csv", csv_bytes(images, None)),
        "idx_images": ("train-images-idx3-ubyte", idx_bytes(images)),
        "idx_labels": ("train-labels-idx1-ubyte", idx_bytes(labels)),
        "idx_images_gz": ("train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(images), mtime=0)),
        "npz": ("data.npz", npz),
        "npz_compressed": ("data.npz", npz_compressed),
    }


SEEDS = _seeds()


def _load_outcome(load, path):
    """Run ``load(path)`` with numeric warnings as errors; return the result or the XpnnError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            return load(path)
        except XpnnError as exc:
            message = str(exc)
            assert "\n" not in message, message
            assert str(path) in message or path.name in message, message
            return exc


def _assert_valid_dataset(data):
    assert data.X.ndim == 2 and data.X.shape[0] > 0 and data.X.shape[1] > 0
    assert data.X.dtype.kind in "uif" and np.isfinite(data.X).all()
    assert data.value_range > 0 and np.isfinite(data.value_range)
    if data.y is not None:
        assert data.y.shape == (data.X.shape[0],)
        assert data.y.dtype == np.int64 and (data.y >= 0).all() or data.y.dtype.kind == "U"


def _fuzz_loader(tmp_path, seed, operations, load):
    name, content = SEEDS[seed]
    path = write_bytes(tmp_path / name, mutate(content, operations))
    outcome = _load_outcome(load, path)
    if not isinstance(outcome, XpnnError):
        _assert_valid_dataset(outcome)
    return outcome


@FUZZ
@given(operations=OPERATIONS)
def test_mutated_csv(tmp_path, operations):
    _fuzz_loader(tmp_path, "csv", operations, load_csv)


@FUZZ
@given(operations=OPERATIONS)
def test_mutated_unlabeled_csv_at_predict_time(tmp_path, operations):
    _fuzz_loader(tmp_path, "csv_unlabeled", operations,
                 lambda path: load_csv(path, n_features=12, need_labels=False))


@FUZZ
@given(operations=OPERATIONS, labels=st.booleans(), gz=st.booleans())
def test_mutated_idx(tmp_path, operations, labels, gz):
    """Images (raw or gzip) or their labels file mutated; the other one intact."""
    images_name, images_content = SEEDS["idx_images_gz" if gz else "idx_images"]
    labels_name, labels_content = SEEDS["idx_labels"]
    if labels:
        write_bytes(tmp_path / images_name, images_content)
        _fuzz_loader(tmp_path, "idx_labels", operations,
                     lambda path: load_idx(tmp_path / images_name, path, n_classes=3))
    else:
        write_bytes(tmp_path / labels_name, labels_content)
        _fuzz_loader(tmp_path, "idx_images_gz" if gz else "idx_images", operations,
                     lambda path: load_source(path).train)


@FUZZ
@given(operations=OPERATIONS, compressed=st.booleans())
def test_mutated_npz(tmp_path, operations, compressed):
    _fuzz_loader(tmp_path, "npz_compressed" if compressed else "npz", operations,
                 load_npz)


@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory):
    rng = np.random.default_rng(0)
    tensors = {"params/w1": rng.standard_normal((12, 8)).astype(np.float32),
               "params/b1": np.zeros(8, np.float32),
               "params/w2": rng.standard_normal((8, 3)).astype(np.float32),
               "params/b2": np.full(3, 0.5, np.float32),
               "optim/step": np.array(7, np.int64)}
    metadata = {"architecture": {"n_features": 12, "hidden": [8], "n_classes": 3},
                "classes": [0, 1, 2], "epoch": 3}
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    save_checkpoint(path, tensors, metadata)
    return path.read_bytes(), tensors, metadata


@settings(FUZZ, max_examples=2 * EXAMPLES)
@given(operations=OPERATIONS)
def test_mutated_checkpoint_loads_exactly_or_fails_cleanly(tmp_path, saved_checkpoint,
                                                           operations):
    content, tensors, metadata = saved_checkpoint
    path = write_bytes(tmp_path / "model.safetensors", mutate(content, operations))
    outcome = _load_outcome(load_checkpoint, path)
    if isinstance(outcome, XpnnError):
        return
    loaded, loaded_metadata = outcome  # no silent corruption: exactly what was saved
    assert loaded_metadata == metadata
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        assert loaded[name].tobytes() == array.tobytes(), name

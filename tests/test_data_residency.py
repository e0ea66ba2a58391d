"""The data set is stored once, in the dtype it came in; batches are cast as they are gathered.

uint8 images stay uint8 on the training device (a quarter of float32's bytes), early
stopping's training and validation rows are indices into that one copy, and each batch is
cast to the training dtype when it is gathered: the same bits as casting the whole set
first, on every namespace. Float input already in the training dtype is not copied, and a
memory-mapped file trains without being read into the process's anonymous memory.
"""
from pathlib import Path

import numpy as np
import pytest

import xpnn
from xpnn.estimators import base as estimator_base
from xpnn.backend.devices import as_host_array
from assertions import assert_array_equal, assert_params_equal


def _digits_uint8(digits_data):
    """The digits as their real 0..16 integers, uint8."""
    X, y = digits_data
    return np.rint(X * 16.0).astype(np.uint8), y


def _host_params(clf):
    return {name: np.array(as_host_array(value), copy=True)
            for name, value in clf.params_.items()}


@pytest.mark.parametrize("early_stopping", [False, True], ids=["plain", "early-stopping"])
def test_uint8_features_train_bit_for_bit_as_the_cast_set_on_every_namespace(
        backend, digits_data, early_stopping):
    X8, y = _digits_uint8(digits_data)
    options = dict(hidden_layer_sizes=(20,), max_iter=3, batch_size=64, random_state=0,
                   dtype="float32", early_stopping=early_stopping, n_iter_no_change=np.inf)
    fits = {}
    for name, X in (("uint8", X8), ("float32", X8.astype(np.float32))):
        clf = xpnn.MLPClassifier(**options).fit(backend.asarray(X), backend.asarray(y))
        fits[name] = clf
    assert_params_equal(_host_params(fits["uint8"]), _host_params(fits["float32"]))
    assert fits["uint8"].loss_curve_ == fits["float32"].loss_curve_
    if early_stopping:
        assert fits["uint8"].validation_scores_ == fits["float32"].validation_scores_
    probabilities = [as_host_array(fits[name].predict_proba(backend.asarray(X8)))
                     for name in fits]
    assert_array_equal(probabilities[0], probabilities[1])


@pytest.mark.parametrize("dtype, make", [
    ("uint8", lambda X: np.rint(X * 16).astype(np.uint8)),
    ("float32", lambda X: np.ascontiguousarray(X, dtype=np.float32)),
])
def test_the_training_rows_are_the_callers_array_not_a_copy(monkeypatch, digits_data, dtype,
                                                            make):
    """What the loop trains on shares the caller's memory: uint8 stays uint8, float32 in
    the training dtype is not copied; with early stopping too (the splits are indices)."""
    X, y = digits_data
    X = make(X)
    seen = []
    original = estimator_base.train

    def spy(state, optimizer, data, config, *args, val=None, **kwargs):
        seen.append((data, val))
        return original(state, optimizer, data, config, *args, val=val, **kwargs)

    monkeypatch.setattr(estimator_base, "train", spy)
    for early_stopping in (False, True):
        xpnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0,
                           dtype="float32", early_stopping=early_stopping).fit(X, y)
    for data, val in seen:
        for split in (data, val):
            if split is not None:
                assert split.X.dtype == np.dtype(dtype)
                assert np.shares_memory(split.X, X)
    assert seen[1][1] is not None and len(seen[1][0]) + len(seen[1][1]) == len(X)


def _anon_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise KeyError("RssAnon")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_a_memory_mapped_file_trains_without_entering_anonymous_memory(tmp_path):
    """np.load(mmap_mode="r") of a 31 MB uint8 file: while the fit trains (read at each
    epoch's end) the process's anonymous memory stays far below the file's size (a float
    copy would be 4x it); the fit equals one on the array read into memory."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40_000, 784), dtype=np.uint8)
    y = (X[:, 300] > X[:, 500]).astype(np.int64)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    options = dict(hidden_layer_sizes=(8,), max_iter=2, batch_size=500, random_state=0,
                   dtype="float32", early_stopping=True, n_iter_no_change=np.inf)
    xpnn.MLPClassifier(**options).fit(X[:600], y[:600])  # imports and compiled code first
    in_memory = xpnn.MLPClassifier(**options).fit(X, y)
    del X
    before = _anon_bytes()
    growth = []
    clf = xpnn.MLPClassifier(**options).fit(
        mapped, y, on_epoch=lambda record: growth.append(_anon_bytes() - before))
    assert max(growth) < 0.25 * mapped.nbytes, [g / mapped.nbytes for g in growth]
    assert_params_equal(_host_params(clf), _host_params(in_memory))


@pytest.mark.parametrize("standardize", [False, True], ids=["scale", "standardize"])
@pytest.mark.parametrize("use_kernel", [True, False], ids=["numpy-kernel", "reference"])
def test_xpnn_trains_preprocessing_applied_per_batch_equals_the_scaled_set(
        monkeypatch, digits_data, standardize, use_kernel):
    """xpnn train keeps uint8 rows and hands fit its saved preprocessing as ``scaling``:
    each gathered batch is cast and scaled with apply's arithmetic, so the fit is bit for
    bit the fit on the whole set scaled first (early stopping's validation rows too)."""
    from xpnn.data.dataset import Dataset
    from xpnn.data.preprocess import fit_preprocessing

    X8, y = _digits_uint8(digits_data)
    preprocessing = fit_preprocessing(Dataset(X8, y, source="digits", value_range=16.0),
                                      standardize)
    scaling = preprocessing.batch_scaling(X8, "float32")
    assert scaling is not None
    options = dict(hidden_layer_sizes=(20,), max_iter=3, batch_size=64, random_state=0,
                   dtype="float32", early_stopping=True, n_iter_no_change=np.inf)
    with xpnn.config_context(kernels="auto" if use_kernel else "reference"):
        per_batch = xpnn.MLPClassifier(**options).fit(X8, y, scaling=scaling)
        whole = xpnn.MLPClassifier(**options).fit(preprocessing.apply(X8, "float32"), y)
    assert_params_equal(_host_params(per_batch), _host_params(whole))
    assert per_batch.validation_scores_ == whole.validation_scores_

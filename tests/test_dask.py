"""Dask arrays: the estimators refuse one as X in one line that names dask-ml's Incremental,
which trains block by block on a real ``distributed.LocalCluster`` (2 worker processes) as
far as partial_fit on NumPy over the same blocks does (docs/guide/dask.md)."""
import os

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed: pip install 'xpnn[dask]'")
distributed = pytest.importorskip("distributed",
                                  reason="distributed is not installed: pip install 'xpnn[dask]'")
wrappers = pytest.importorskip("dask_ml.wrappers",
                               reason="dask-ml is not installed: pip install 'xpnn[dask]'")

import xpnn  # noqa: E402
from xpnn.errors import XpnnDataError  # noqa: E402

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
BLOCKS = 8
CLASSES = np.arange(10)


def small_model():
    return xpnn.MLPClassifier(hidden_layer_sizes=(64,), batch_size=64, random_state=0)


# -- refused: fit and the methods that read X ------------------------------------------------


def test_every_method_that_reads_X_refuses_a_dask_array_in_one_line(digits_data):
    X, y = digits_data
    dask_X = da.from_array(X, chunks=(200, X.shape[1]))
    unfitted = small_model()
    for call in (lambda: unfitted.fit(dask_X, y),
                 lambda: unfitted.partial_fit(dask_X, y, classes=CLASSES)):
        with pytest.raises(XpnnDataError) as refused:
            call()
        message = str(refused.value)
        assert isinstance(refused.value, ValueError) and "\n" not in message
        assert "dask_ml.wrappers.Incremental" in message and "X.compute()" in message
    assert not hasattr(unfitted, "n_features_in_") and not hasattr(unfitted, "coefs_")

    fitted = small_model().set_params(max_iter=3).fit(X, y)
    coefs, epoch = [c.copy() for c in fitted.coefs_], fitted.state_.epoch
    for method, args in (("fit", (dask_X, y)), ("partial_fit", (dask_X, y)),
                         ("resume_fit", (dask_X, y)), ("predict", (dask_X,)),
                         ("predict_proba", (dask_X,)), ("predict_log_proba", (dask_X,)),
                         ("score", (dask_X, y)), ("evaluate", (dask_X, y))):
        with pytest.raises(XpnnDataError, match="Incremental"):
            getattr(fitted, method)(*args)
    assert fitted.state_.epoch == epoch  # nothing fitted changed
    assert all(np.array_equal(a, b) for a, b in zip(fitted.coefs_, coefs))

    regressor = xpnn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    with pytest.raises(XpnnDataError, match="Incremental"):
        regressor.fit(dask_X, y.astype(np.float64))


def test_a_dask_y_beside_a_numpy_X_is_computed_on_the_host(digits_data):
    """y is small: it is read into host memory as any other namespace's y is."""
    X, y = digits_data
    dask_y = da.from_array(y, chunks=200)
    from_dask = small_model().set_params(max_iter=3).fit(X, dask_y)
    from_numpy = small_model().set_params(max_iter=3).fit(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(from_dask.coefs_, from_numpy.coefs_))
    assert from_dask.score(X, dask_y) == from_numpy.score(X, y)


# -- dask-ml's Incremental on two worker processes --------------------------------------------


@pytest.fixture(scope="module")
def fashion_blocks():
    """(X, y, X_test, y_test) as NumPy arrays and the same as dask arrays in blocks of 1/8 of
    the training rows: Fashion-MNIST's first 4000 training rows (8 blocks of 500) and 2000
    test rows; pixels / 255 in float32 (the recipes' scaling), which the dask arrays apply
    lazily to each uint8 block on the worker that reads it. scikit-learn's digits (1400 + 397
    rows, / 16) where Fashion-MNIST is not installed."""
    if os.path.exists(os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")):
        from xpnn.data.idx import read_idx

        def part(stem, rows):
            return read_idx(os.path.join(FASHION_DIR, f"{stem}-ubyte.gz"))[:rows]
        X, X_test = (part("train-images-idx3", 4000).reshape(-1, 784),
                     part("t10k-images-idx3", 2000).reshape(-1, 784))
        y, y_test = (part("train-labels-idx1", 4000).astype(np.int64),
                     part("t10k-labels-idx1", 2000).astype(np.int64))
        value_range = np.float32(255)
    else:
        from xpnn.data.digits import load_digits

        data = load_digits()
        pixels = data.X.astype(np.uint8)
        X, y, X_test, y_test = pixels[:1400], data.y[:1400], pixels[1400:], data.y[1400:]
        value_range = np.float32(16)
    rows = X.shape[0] // BLOCKS
    dask_X, dask_X_test = (da.from_array(part, chunks=(rows, part.shape[1])) / value_range
                           for part in (X, X_test))
    dask_y, dask_y_test = (da.from_array(part, chunks=rows) for part in (y, y_test))
    return (X / value_range, y, X_test / value_range, y_test,
            dask_X, dask_y, dask_X_test, dask_y_test)


def warm_up():
    """What a worker imports on its first partial_fit (scikit-learn, the kernels: seconds)."""
    model = xpnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    model.partial_fit(np.zeros((10, 3)), np.arange(10), classes=CLASSES).predict(np.zeros((1, 3)))


@pytest.fixture(scope="module")
def client():
    """A real cluster, once for the module: 2 worker processes of 1 thread, warmed up side by
    side (their imports would otherwise run one after the other, inside the first pass),
    closed after."""
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    try:
        with distributed.Client(cluster) as connected:
            connected.run(warm_up)
            yield connected
    finally:
        cluster.close()


def partial_fit_in_order(X, y, passes):
    """The NumPy reference: ``passes`` epochs of partial_fit over the 8 blocks in order."""
    model = small_model()
    for _ in range(passes):
        for rows in np.array_split(np.arange(X.shape[0]), BLOCKS):
            model.partial_fit(X[rows], y[rows], classes=CLASSES)
    return model


def test_incremental_without_shuffling_continues_the_model_exactly(client, fashion_blocks):
    """Unshuffled blocks are partial_fit's calls in order: the model goes from worker to
    worker with its optimizer moments and random-number state, so the weights agree."""
    X, y, _, _, dask_X, dask_y, _, _ = fashion_blocks
    incremental = wrappers.Incremental(small_model(), scoring="accuracy", shuffle_blocks=False)
    for _ in range(2):  # one pass per call: dask-ml's way to several epochs
        incremental.partial_fit(dask_X, dask_y, classes=CLASSES)
    reference = partial_fit_in_order(X, y, passes=2)
    assert incremental.estimator_.state_.epoch == reference.state_.epoch == 2 * BLOCKS
    for got, expected in zip(incremental.estimator_.coefs_, reference.coefs_):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)  # worker BLAS: 1 thread


def test_incremental_with_shuffled_blocks_is_within_a_point_of_partial_fit(client,
                                                                           fashion_blocks):
    """4 passes of Incremental over the 8 blocks in a shuffled order (random_state=0: the same
    order each pass) against 4 epochs of partial_fit over the blocks in order: test accuracy
    within 1 point or better; predict and score go block by block on the workers."""
    X, y, X_test, y_test, dask_X, dask_y, dask_X_test, dask_y_test = fashion_blocks
    incremental = wrappers.Incremental(small_model(), scoring="accuracy", shuffle_blocks=True,
                                       random_state=0)
    for _ in range(4):
        incremental.partial_fit(dask_X, dask_y, classes=CLASSES)
    reference = partial_fit_in_order(X, y, passes=4).score(X_test, y_test)

    predicted = incremental.predict(dask_X_test)
    assert isinstance(predicted, da.Array)
    labels = predicted.compute()
    np.testing.assert_array_equal(labels, incremental.estimator_.predict(X_test))
    accuracy = incremental.score(dask_X_test, dask_y_test)
    assert accuracy == pytest.approx(np.mean(labels == y_test))
    assert accuracy >= reference - 0.01, (accuracy, reference)
    assert accuracy > 0.75  # it learned (Fashion-MNIST, 4000 rows: about 0.81)

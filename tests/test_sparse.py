"""Sparse rows are never densified: every path multiplies them as sparse x dense, and gives
what the densified computation gives (float64, rtol 1e-10).

The oracle is the same estimator fitted on ``X.toarray()``. While the sparse side runs, a
spy makes every densification of a scipy matrix (``toarray`` / ``todense``) fail, so a
(batch, n_features) block cannot be built silently.
"""
import warnings

import numpy as np
import pytest
import scipy.sparse

import xpnn
from xpnn.backend.devices import numpy_backend
from xpnn.training.batches import rows_on_device
from xpnn.errors import DivergenceError
from assertions import RTOL, assert_array_close, assert_params_close, assert_params_equal

RTOL64 = RTOL["float64"]


@pytest.fixture
def data():
    """(X CSR (400, 3000) float64 with about 30 non-zeros a row, y in 3 classes)."""
    rng = np.random.default_rng(0)
    X = scipy.sparse.random(400, 3000, density=0.01, format="csr", random_state=rng,
                            dtype=np.float64)
    y = (np.asarray(X[:, :1000].sum(axis=1)).ravel() * 3 // (X.sum(axis=1).A1.max() + 1e-9))
    return X, y.astype(np.int64) % 3


@pytest.fixture
def no_densify(monkeypatch):
    """Entering it makes densifying any scipy sparse matrix raise."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"a sparse {self.shape} matrix was densified")

    def install():
        from scipy.sparse import _base, _compressed, _matrix

        for owner in (_base._spbase, _compressed._cs_matrix, _matrix.spmatrix):
            for name in ("toarray", "todense"):
                if name in vars(owner):
                    monkeypatch.setattr(owner, name, refuse)

    return install


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: few epochs on purpose
        return call()


OPTIONS = dict(hidden_layer_sizes=(12, 7), batch_size=64, max_iter=4, random_state=0,
               dtype="float64", n_iter_no_change=np.inf)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_fit_predict_score_evaluate_equal_the_densified_computation(data, no_densify, solver):
    X, y = data
    dense_X = X.toarray()
    dense = _quiet(lambda: xpnn.MLPClassifier(solver=solver, **OPTIONS).fit(dense_X, y))
    no_densify()
    with pytest.raises(AssertionError, match="densified"):  # the spy is on
        X[:2].toarray()
    sparse = _quiet(lambda: xpnn.MLPClassifier(solver=solver, **OPTIONS).fit(X, y))
    assert_params_close(sparse.params_, dense.params_, dtype="float64")
    assert_array_close(sparse.predict_proba(X), dense.predict_proba(dense_X), rtol=RTOL64)
    assert sparse.score(X, y) == dense.score(dense_X, y)
    loss, accuracy = sparse.evaluate(X, y)
    dense_loss, dense_accuracy = dense.evaluate(dense_X, y)
    assert loss == pytest.approx(dense_loss, rel=RTOL64) and accuracy == dense_accuracy


def test_partial_fit_weights_early_stopping_and_a_regressor_equal_the_densified(data,
                                                                                 no_densify):
    X, y = data
    dense_X = X.toarray()
    weights = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    runs = {}
    for name, rows in (("dense", dense_X), ("sparse", X)):
        if name == "sparse":
            no_densify()
        partial = xpnn.MLPClassifier(**OPTIONS)
        for start in range(0, len(y), 150):
            partial.partial_fit(rows[start:start + 150], y[start:start + 150],
                                classes=np.arange(3))
        stopping = _quiet(lambda: xpnn.MLPClassifier(early_stopping=True, **OPTIONS).fit(
            rows, y, sample_weight=weights))
        regressor = _quiet(lambda: xpnn.MLPRegressor(alpha=1e-2, **OPTIONS).fit(
            rows, np.stack([y / 2.0, np.arange(len(y)) / len(y)], axis=1)))
        runs[name] = partial, stopping, regressor
    for sparse, dense in zip(runs["sparse"], runs["dense"]):
        assert_params_close(sparse.params_, dense.params_, dtype="float64")
    assert runs["sparse"][1].validation_scores_ == pytest.approx(
        runs["dense"][1].validation_scores_, rel=RTOL64)
    assert_array_close(runs["sparse"][2].predict(X), runs["dense"][2].predict(dense_X),
                       rtol=RTOL64)


@pytest.mark.parametrize("fused_update", [True, False], ids=["numba", "no-numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_numpy_kernel_on_sparse_rows_is_bit_identical_to_the_reference(
        data, monkeypatch, fused_update, dtype):
    """The kernel's sparse weight gradient (numba's copy of scipy's loop, or scipy's own
    product without numba) and its folded L2 gradient: the reference's bits."""
    from xpnn.kernels import fused

    if fused_update and not fused.ready():
        pytest.skip("numba is not installed (pip install 'xpnn[fast]')")
    X, y = data
    results = []
    for use_kernel in (True, False):
        monkeypatch.undo()
        if use_kernel and not fused_update:
            monkeypatch.setattr(fused, "available", lambda: False)
        with xpnn.config_context(kernels="auto" if use_kernel else "reference"):
            model = _quiet(lambda: xpnn.MLPClassifier(
                **{**OPTIONS, "dtype": dtype, "alpha": 1e-2}).fit(X, y))
        results.append((model.loss_curve_, {k: np.array(v) for k, v in model.params_.items()}))
    (fast_curve, fast), (reference_curve, reference) = results
    assert fast_curve == reference_curve
    assert_params_equal(fast, reference)


def test_sparse_batches_stay_sparse_in_the_training_dtype(data):
    X, _ = data
    rows = rows_on_device(X, 10, 74, numpy_backend(), np.float32, host_rows=np.arange(64)[::-1])
    assert scipy.sparse.issparse(rows) and rows.format == "csr"
    assert rows.dtype == np.float32 and rows.shape == (64, 3000)
    assert rows.nnz == X[:64].nnz


def test_the_divergence_replay_names_the_step_on_sparse_rows(data):
    X, y = data
    with pytest.raises(DivergenceError, match=r"training diverged at epoch \d, step \d+ of 8: "):
        xpnn.MLPClassifier((8,), solver="sgd", learning_rate_init=1e12, batch_size=50,
                           max_iter=2, random_state=0, check_every=1).fit(X * 1e6, y)


@pytest.mark.gpu
def test_cupy_trains_and_predicts_on_cupyx_sparse_rows_like_numpy(data):
    import cupyx.scipy.sparse

    X, y = data
    rows = rows_on_device(X, 0, 64, xpnn.backend.devices.resolve_device("cuda:0"), "float64")
    assert isinstance(rows, cupyx.scipy.sparse.csr_matrix)
    gpu = _quiet(lambda: xpnn.MLPClassifier(device="cuda", **OPTIONS).fit(X, y))
    cpu = _quiet(lambda: xpnn.MLPClassifier(**OPTIONS).fit(X, y))
    assert_params_close(gpu.params_, cpu.params_, rtol=1e-8)
    assert_array_close(gpu.predict_proba(X), cpu.predict_proba(X), rtol=1e-8)

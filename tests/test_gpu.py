"""CPU-vs-GPU: the same seeded run on NumPy and on CuPy, outputs on the requested GPU.

CuPy tests are marked ``gpu``, torch-CUDA ones ``torch_cuda``: each skips with the reason
when its library or a GPU is missing (tests/conftest.py), so CPU-only CI stays green. The
step-by-step comparison (6 steps, parameters and optimizer state, float64 rtol 1e-10,
float32 rtol 1e-4) is ``test_backends.py``'s, parametrized over CuPy too. Here whole fits
(3 epochs, ~90 Adam steps): float64 parameters within rtol 1e-9 (cuBLAS sums in another
order, ~1e-15 a step). In float32 the parameters are not compared:
Adam divides by sqrt(v), so where a gradient is a near-cancelling sum (|g| ~ its rounding
noise) the step's sign can differ and move that weight by ~lr; losses (rtol 1e-3) and
predictions (> 99.5 % equal) are compared instead. CuPy leaves TF32 off unless CUPY_TF32=1.
"""
import numpy as np
import pytest

import xpnn
from xpnn.backend.devices import as_host_array
from assertions import (assert_array_close, assert_array_equal, assert_curve_close,
                        assert_params_close)

LOSS_RTOL = {"float64": 1e-9, "float32": 1e-3}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_training_on_gpu_matches_numpy(digits_data, dtype):
    X, y = digits_data
    kwargs = dict(hidden_layer_sizes=(32, 16), max_iter=3, batch_size=64,
                  learning_rate_init=1e-3, dtype=dtype, random_state=0)
    cpu = xpnn.MLPClassifier(**kwargs, device="cpu").fit(X, y)
    gpu = xpnn.MLPClassifier(**kwargs, device="cuda:0").fit(X, y)
    if dtype == "float64":
        assert_params_close(gpu.params_, cpu.params_, rtol=1e-9)
    losses = [[row["loss"] for row in clf.history_] for clf in (cpu, gpu)]
    assert_curve_close(losses[1], losses[0], rtol=LOSS_RTOL[dtype], what="loss")
    assert np.mean(as_host_array(gpu.predict(X)) == cpu.predict(X)) > 0.995


@pytest.mark.gpu
@pytest.mark.parametrize("index", [0, 1])
def test_every_output_is_a_cupy_array_on_the_requested_device(digits_data, index):
    """On GPU 1 too: on GPU 0, the current one by default, code that ignores the inputs'
    device would pass."""
    import cupy

    if index >= cupy.cuda.runtime.getDeviceCount():
        pytest.skip(f"needs a GPU {index} (this machine has "
                    f"{cupy.cuda.runtime.getDeviceCount()})")
    X, y = digits_data
    with cupy.cuda.Device(index):
        X_gpu, y_gpu = cupy.asarray(X, dtype=cupy.float32), cupy.asarray(y)
    clf = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2).fit(X_gpu, y_gpu)
    outputs = [*clf.params_.values(), clf.predict(X_gpu), clf.predict_proba(X_gpu)]
    for value in outputs:
        assert isinstance(value, cupy.ndarray) and value.device.id == index
    assert clf.predict_proba(X_gpu).dtype == cupy.float32


@pytest.mark.gpu
def test_checkpoint_saved_on_gpu_predicts_the_same_on_cpu(digits_data, tmp_path):
    from xpnn.saving.checkpoint import load_model, save_model

    X, y = digits_data
    gpu = xpnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, device="cuda").fit(X, y)
    path = tmp_path / "gpu.safetensors"
    save_model(path, gpu)
    cpu, _, _ = load_model(path, device="cpu")
    assert isinstance(cpu.params_["w1"], np.ndarray)
    assert_array_equal(gpu.predict(X), cpu.predict(X))


@pytest.mark.gpu
def test_cli_train_on_cuda(tmp_path):
    from clirun import xpnn_json

    summary = xpnn_json("train", "--device", "cuda", "--epochs", "5", "--save",
                        tmp_path / "m.safetensors", process=True)
    assert summary["backend"] == "cupy" and summary["device"] == "cuda:0"
    assert summary["test_accuracy"] > 0.9


@pytest.mark.gpu
def test_out_of_range_gpu_is_a_clear_error():
    import cupy

    count = cupy.cuda.runtime.getDeviceCount()
    with pytest.raises(xpnn.XpnnDeviceError, match=f"GPU {count} does not exist"):
        xpnn.MLPClassifier(device=f"cuda:{count}").fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))


@pytest.mark.torch_cuda
def test_torch_cuda_tensors_stay_on_their_gpu(digits_data):
    import torch

    X, y = digits_data
    X_gpu = torch.asarray(X, dtype=torch.float32, device="cuda:0")
    y_gpu = torch.asarray(y, device="cuda:0")
    kwargs = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0)  # one start for both
    clf = xpnn.MLPClassifier(**kwargs).fit(X_gpu, y_gpu)
    for value in [*clf.params_.values(), clf.predict(X_gpu), clf.predict_proba(X_gpu)]:
        assert isinstance(value, torch.Tensor) and value.device.type == "cuda"
    cpu = xpnn.MLPClassifier(**kwargs).fit(X.astype(np.float32), y)
    assert_array_close(clf.predict_proba(X_gpu), cpu.predict_proba(X), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("library", [pytest.param("cupy", marks=pytest.mark.gpu),
                                     pytest.param("torch", marks=pytest.mark.torch_cuda)])
def test_array_api_dispatch_pipeline_stays_on_the_gpu(digits_data, library):
    """scikit-learn's array API dispatch with GPU arrays: StandardScaler and xpnn's estimator
    keep CuPy arrays / torch CUDA tensors on the GPU end to end."""
    from sklearn import config_context
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = digits_data
    if library == "cupy":
        import cupy

        X_gpu, y_gpu = cupy.asarray(X[:400]), cupy.asarray(y[:400])
        on_gpu = lambda a: isinstance(a, cupy.ndarray)  # noqa: E731
    else:
        import torch

        X_gpu = torch.asarray(X[:400], device="cuda:0")
        y_gpu = torch.asarray(y[:400], device="cuda:0")
        on_gpu = lambda a: isinstance(a, torch.Tensor) and a.device.type == "cuda"  # noqa: E731
    with config_context(array_api_dispatch=True):
        pipe = make_pipeline(StandardScaler(), xpnn.MLPClassifier(
            hidden_layer_sizes=(16,), max_iter=40, learning_rate_init=1e-2, random_state=0))
        pipe.fit(X_gpu, y_gpu)
        assert on_gpu(pipe.predict(X_gpu)) and on_gpu(pipe.predict_proba(X_gpu))
        assert on_gpu(pipe[-1].coefs_[0])
        assert pipe.score(X_gpu, y_gpu) > 0.8

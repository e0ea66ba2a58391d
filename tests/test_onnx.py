"""ONNX export (xpnn[onnx]): onnxruntime running the exported graph answers what predict and
predict_proba answer, for every activation, head and dtype, a model trained on torch
tensors, the CLI's model files (preprocessing in the graph) and scikit-learn Pipelines
through skl2onnx; every weight is stored once; the graph passes onnx's checker."""
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("ndonnx", reason="ndonnx is not installed (the onnx extra has it)")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (the onnx extra has it)")
ort = pytest.importorskip("onnxruntime",
                          reason="onnxruntime is not installed (the onnx extra has it)")

from onnx import numpy_helper  # noqa: E402
from sklearn.base import is_classifier  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import xpnn  # noqa: E402
from assertions import assert_array_close, assert_params_close  # noqa: E402
from xpnn.core.activations import ACTIVATIONS  # noqa: E402
from xpnn.backend.devices import as_host_array  # noqa: E402
from xpnn.onnx import model_outputs, to_onnx  # noqa: E402

# onnxruntime's GEMM sums in another order than NumPy's BLAS: float32's rounding, float64's
RTOL = {"float32": 1e-5, "float64": 1e-12}
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                  "nine"])

# problem -> (estimator class, its keyword arguments, targets from digit labels y)
PROBLEMS = {
    "multiclass names": ("MLPClassifier", {}, lambda y: NAMES[y]),
    "binary": ("MLPClassifier", {}, lambda y: y % 2),
    "binary names": ("MLPClassifier", {}, lambda y: np.where(y % 2, "odd", "even")),
    "one class": ("MLPClassifier", {}, lambda y: np.full(y.shape, 7)),
    "multi-label": ("MLPClassifier", {}, lambda y: np.column_stack([y % 2, y < 5, y == 3])),
    "regression": ("MLPRegressor", {}, lambda y: y / 9.0),
    "two outputs": ("MLPRegressor", {}, lambda y: np.column_stack([y / 9.0, (y % 3) / 2.0])),
    "poisson": ("MLPRegressor", {"loss": "poisson"}, lambda y: y.astype(float)),
}
# every head in both dtypes, every problem once (softmax over integer classes: every
# activation in both dtypes, below); each export is a trace by ndonnx of ~0.5 s
CASES = [("multiclass names", "float32"), ("binary", "float64"), ("binary names", "float32"),
         ("one class", "float64"), ("multi-label", "float32"), ("regression", "float32"),
         ("two outputs", "float64"), ("poisson", "float32"), ("poisson", "float64")]


@pytest.fixture(scope="module")
def digits():
    """(train X, train digit labels, held-out X): a few hundred rows scaled by 16."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return X[:300], y[:300], X[1500:1700]


def _fit(estimator, X, y, dtype, **kwargs):
    settings = dict(hidden_layer_sizes=(16,), max_iter=8, random_state=0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached, on purpose
        return getattr(xpnn, estimator)(**{**settings, **kwargs}).fit(X, y)


def run_onnx(proto, **inputs) -> dict:
    """Check the model with onnx's full checker, then run it in onnxruntime: outputs by name."""
    onnx.checker.check_model(proto, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs)))


def predicted(model, X) -> dict:
    """What the estimator answers, under the exported outputs' names, on the host."""
    if is_classifier(model):
        return {"label": as_host_array(model.predict(X)),
                "probabilities": as_host_array(model.predict_proba(X))}
    return {"predictions": as_host_array(model.predict(X))}


def assert_same_answers(got: dict, want: dict, dtype: str):
    """Labels identical (numbers or names, same shape); values within RTOL[dtype]."""
    assert set(got) == set(want)
    labels = want.pop("label", None)
    if labels is not None:
        assert got["label"].shape == labels.shape
        assert got["label"].tolist() == labels.tolist()
    assert_params_close({name: got[name] for name in want}, want, rtol=RTOL[dtype])


def stored_tensors(graph) -> list:
    """Every tensor a graph stores, as NumPy arrays: initializers and Constant values, in
    subgraphs too."""
    tensors = [numpy_helper.to_array(tensor) for tensor in graph.initializer]
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                tensors.append(numpy_helper.to_array(attribute.t))
            elif attribute.type == onnx.AttributeProto.GRAPH:
                tensors += stored_tensors(attribute.g)
    return tensors


def assert_weights_stored_once(proto, model):
    stored = stored_tensors(proto.graph)
    params = {name: as_host_array(value) for name, value in model.params_.items()}
    for name, weight in params.items():
        copies = sum(array.shape == weight.shape and np.array_equal(array, weight)
                     for array in stored)
        assert copies == 1, f"{name}: stored {copies} times"
    # nothing else of that size either (a transposed or cast copy): the params and small
    # constants (shapes, axes, the class values) alone
    weight_bytes = sum(weight.nbytes for weight in params.values())
    assert sum(array.nbytes for array in stored) < weight_bytes + 4096


def assert_exports_predict(model, rows, dtype, path=None):
    """onnxruntime on the exported graph answers as predict (and predict_proba) on ``rows``,
    the graph passes onnx's checker and stores each weight once."""
    proto = to_onnx(model, path)
    assert_weights_stored_once(proto, model)
    assert_same_answers(run_onnx(proto, X=as_host_array(rows)), predicted(model, rows), dtype)
    return proto


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_exports_what_predict_answers(digits, activation, dtype):
    X, y, held_out = digits
    model = _fit("MLPClassifier", X.astype(dtype), y, dtype, activation=activation)
    assert_exports_predict(model, held_out.astype(dtype), dtype)


@pytest.mark.parametrize("problem, dtype", CASES)
def test_every_head_exports_what_predict_answers(digits, problem, dtype):
    X, y, held_out = digits
    estimator, kwargs, targets = PROBLEMS[problem]
    model = _fit(estimator, X, targets(y), dtype, **kwargs)
    assert_exports_predict(model, held_out.astype(dtype), dtype)


def test_a_model_trained_on_torch_tensors_exports_to_a_file(digits, tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    X, y, held_out = digits
    model = _fit("MLPClassifier", torch.asarray(X, dtype=torch.float32), torch.asarray(y),
                 None, activation="tanh")
    assert model.dtype_ == "float32"
    path = tmp_path / "m.onnx"
    proto = assert_exports_predict(model, torch.asarray(held_out, dtype=torch.float32),
                                   "float32", path)
    assert path.read_bytes() == proto.SerializeToString()
    assert [i.name for i in proto.graph.input] == ["X"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic rows


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_the_exported_code_is_predicts_own_on_numpy(digits, problem):
    """model_outputs, the code the export traces, gives predict's answers bit for bit when
    it runs on NumPy arrays."""
    X, y, held_out = digits
    estimator, kwargs, targets = PROBLEMS[problem]
    model = _fit(estimator, X, targets(y), "float64", **kwargs)
    got, want = model_outputs(model, held_out, np), predicted(model, held_out)
    assert set(got) == set(want)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value)


def test_to_onnx_refuses_what_it_cannot_export():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(TypeError, match="register_skl2onnx"):
        to_onnx(object())
    with pytest.raises(NotFittedError):
        to_onnx(xpnn.MLPClassifier())


def test_a_missing_extra_is_named(digits, tmp_path, monkeypatch):
    X, y, _ = digits
    model = _fit("MLPClassifier", X, y, "float32")
    path = tmp_path / "m.onnx"
    path.write_bytes(b"before")
    monkeypatch.setitem(sys.modules, "ndonnx", None)  # import ndonnx raises ImportError
    with pytest.raises(xpnn.XpnnError, match=r"ndonnx.*pip install -e '\.\[onnx\]'"):
        to_onnx(model, path)
    assert path.read_bytes() == b"before"


# ------------------------------------------------------------------------------ the CLI


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory):
    """Kaggle-style train.csv (label first) and test.csv (no label) from digits * 16 as
    integers, and a model trained on it by the CLI for each scaling: (root, test pixels,
    {scaling flags: model path})."""
    from datagen import kaggle_header, write_csv

    X, y = load_digits(return_X_y=True)
    pixels = (X * 16).clip(0, 255).astype(int)
    root = tmp_path_factory.mktemp("kaggle")
    write_csv(root / "train.csv", np.column_stack([y[:600], pixels[:600]]),
              header=kaggle_header(64))
    write_csv(root / "test.csv", pixels[1500:], header=kaggle_header(64, labeled=False))
    models = {}
    for flags in ((), ("--standardize",)):
        models[flags] = root / f"model{len(flags)}.safetensors"
        assert _cli("train", "--data", root / "train.csv", "--epochs", "3", "--hidden", "16",
                    "--quiet", "--save", models[flags], *flags) == 0
    return root, pixels[1500:], models


def _cli(*argv) -> int:
    from xpnn.cli.parser import main

    return main([str(arg) for arg in argv])


@pytest.mark.parametrize("scaling", [(), ("--standardize",)])
def test_cli_export_matches_xpnn_predict_row_for_row(kaggle, scaling, tmp_path, capsys):
    root, pixels, models = kaggle
    predictions, exported = tmp_path / "predictions.csv", tmp_path / "m.onnx"
    assert _cli("predict", models[scaling], "--data", root / "test.csv", "--out",
                predictions, "--proba", "--quiet") == 0
    assert _cli("export", models[scaling], "--out", exported) == 0
    assert "xpnn export:" in capsys.readouterr().err
    rows = np.loadtxt(predictions, delimiter=",", skiprows=1)
    got = run_onnx(onnx.load(exported), X=pixels.astype(np.float32))  # raw pixels
    np.testing.assert_array_equal(got["label"], rows[:, 1].astype(np.int64))
    # predict writes 6 significant digits
    assert_array_close(got["probabilities"].astype(np.float64), rows[:, 2:], rtol=1e-5,
                       atol=1e-7)


@pytest.mark.parametrize("source, out, needle", [
    ("test.csv", "m.onnx", "not a safetensors checkpoint"),
    ("model0.safetensors", "missing/m.onnx", "does not exist"),
    ("model0.safetensors", ".", "is a directory"),
])
def test_cli_export_bad_input_is_one_line_and_writes_nothing(kaggle, tmp_path, capsys, source,
                                                             out, needle):
    root = kaggle[0]
    assert _cli("export", root / source, "--out", tmp_path / out) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xpnn export: error:") and needle in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_cli_export_onto_its_own_model_file_is_refused(kaggle, tmp_path, capsys):
    import shutil

    model = tmp_path / "m.safetensors"
    shutil.copy(kaggle[0] / "model0.safetensors", model)
    before = model.read_bytes()
    assert _cli("export", model, "--out", model) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "is the MODEL file itself" in lines[0]
    assert model.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [model.name]


def test_cli_export_without_the_extra_names_it(kaggle, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ndonnx", None)  # import ndonnx raises ImportError
    assert _cli("export", kaggle[2][()], "--out", tmp_path / "m.onnx") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "pip install -e '.[onnx]'" in lines[0]
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------- scikit-learn Pipelines


@pytest.fixture(scope="module")
def skl2onnx():
    module = pytest.importorskip("skl2onnx", reason="skl2onnx is not installed (the onnx extra "
                                                    "has it)")
    from xpnn.onnx import register_skl2onnx

    register_skl2onnx()
    register_skl2onnx()  # again: changes nothing
    return module


@pytest.mark.parametrize("dtype, zipmap", [("float32", True), ("float64", False)])
def test_a_pipeline_with_a_scaler_exports_whole(digits, skl2onnx, dtype, zipmap):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, held_out = digits
    X, rows = X.astype(dtype) * 16, held_out.astype(dtype) * 16  # raw pixels: the scaler's job
    pipeline = make_pipeline(StandardScaler(), xpnn.MLPClassifier((16,), max_iter=8,
                                                                  random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(X, NAMES[y])
    options = None if zipmap else {id(pipeline[-1]): {"zipmap": False}}
    proto = skl2onnx.to_onnx(pipeline, X[:1], options=options)
    label, probabilities = run_onnx(proto, X=rows).values()
    if zipmap:  # one {class: probability} dict per row
        probabilities = np.array([[row[name] for name in pipeline.classes_]
                                  for row in probabilities], dtype=dtype)
    assert label.tolist() == pipeline.predict(rows).tolist()
    assert_params_close({"p": probabilities}, {"p": pipeline.predict_proba(rows)},
                        rtol=RTOL[dtype])
    assert_weights_stored_once(proto, pipeline[-1])


def test_a_pipeline_with_bool_classes_and_zipmap_runs(digits, skl2onnx):
    """ZipMap takes int64 labels: bool classes leave the graph as 0/1, as for
    scikit-learn's own MLPClassifier."""
    X, y, held_out = digits
    model = xpnn.MLPClassifier((8,), max_iter=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X.astype(np.float32), y % 2 == 1)
    label, probabilities = run_onnx(skl2onnx.to_onnx(model, X[:1].astype(np.float32)),
                                    X=held_out.astype(np.float32)).values()
    expected = model.predict(held_out.astype(np.float32))
    assert label.dtype == np.int64 and label.tolist() == expected.astype(np.int64).tolist()
    assert [row[True] for row in probabilities] == pytest.approx(
        model.predict_proba(held_out.astype(np.float32))[:, 1].tolist(), rel=1e-5)


def test_a_regression_pipeline_exports_whole(digits, skl2onnx):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, held_out = digits
    pipeline = make_pipeline(StandardScaler(), xpnn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=8,
                                                                 random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(X, np.column_stack([y / 9.0, (y % 3) / 2.0]))
    (predictions,) = run_onnx(skl2onnx.to_onnx(pipeline, X[:1]), X=held_out).values()
    assert_params_close({"p": predictions}, {"p": pipeline.predict(held_out)},
                        rtol=RTOL["float64"])

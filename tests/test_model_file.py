"""Issue class 6: a model file whose tensors or metadata disagree with the architecture or
with xpnn/saving/model_file.py's description is refused on load, naming the field; never a
traceback when the model runs.

Each case edits a valid file's tensors or metadata and writes it again through
``save_checkpoint`` (a fresh integrity digest: what a buggy writer or an older xpnn could
produce), so the description's check, not the checksum, has to catch it.
"""
import re

import numpy as np
import pytest

import xpnn
from xpnn.core.activations import ACTIVATIONS
from xpnn.saving.checkpoint import load_model, save_model
from xpnn.files.checkpoint_io import load_checkpoint, save_checkpoint
from xpnn.errors import XpnnCheckpointError
from xpnn.core.optim import OPTIMIZERS
from xpnn.data.preprocess import Preprocessing


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    path = tmp_path_factory.mktemp("schema") / "m.safetensors"
    model = xpnn.MLPClassifier(hidden_layer_sizes=(8, 6), max_iter=2, random_state=0,
                               early_stopping=True).fit((X / 16).astype(np.float32), y)
    save_model(path, model, preprocessing=Preprocessing("scale", 16.0),
               info={"data": None, "dataset": "digits", "seed": 0, "test_split": 0.2})
    return path


def _rewrite(source, target, edit_tensors=None, edit_metadata=None):
    tensors, metadata = load_checkpoint(source)
    if edit_tensors:
        edit_tensors(tensors)
    if edit_metadata:
        edit_metadata(metadata)
    save_checkpoint(target, tensors, metadata)
    return target


def _pop_and_put(mapping, old, new):
    mapping[new] = mapping.pop(old)


TENSOR_EDITS = {
    "transposed w2": (lambda t: t.update({"params/w2": t["params/w2"].T.copy()}), "params/w2"),
    "reshaped bias": (lambda t: t.update({"params/b1": t["params/b1"].reshape(2, 4)}),
                      "params/b1"),
    "renamed bias": (lambda t: _pop_and_put(t, "params/b2", "params/b9"), "parameter tensors"),
    "optimizer state of another shape": (
        lambda t: t.update({"optim/m/w1": t["optim/m/w1"][:10].copy()}), "optim/m/w1"),
    "float64 weights in a float32 model": (
        lambda t: t.update({"params/w3": t["params/w3"].astype(np.float64)}), "float64"),
    "an extra tensor": (lambda t: t.update({"junk/x": np.zeros(2, np.float32)}), "junk/x"),
}

METADATA_EDITS = {
    "classes as a string": (lambda m: m.update(classes="0123456789"), "classes"),
    "classes of the wrong count": (lambda m: m.update(classes=[0, 1, 2]), "3 classes for 10"),
    "classes duplicated": (lambda m: m.update(classes=[0] * 10), "not unique"),
    "classes reversed": (lambda m: m.update(classes=list(range(9, -1, -1))), "sorted"),
    "value_range 0": (lambda m: m["preprocessing"].update(value_range=0), "value_range"),
    "negative value_range": (lambda m: m["preprocessing"].update(value_range=-16.0),
                             "value_range"),
    "unknown preprocessing kind": (lambda m: m["preprocessing"].update(kind="whiten"),
                                   "preprocessing.kind"),
    "info as a list": (lambda m: m.update(info=[1, 2]), "info"),
    "a negative seed": (lambda m: m.update(seed=-3), "seed"),
    "a string seed": (lambda m: m.update(seed="zero"), "seed"),
    "unknown solver": (lambda m: m["hyperparameters"].update(solver="rmsprop"), "solver"),
    "unknown hyperparameter": (lambda m: m["hyperparameters"].update(lr=0.1), "lr"),
    "hyperparameter out of range": (lambda m: m["hyperparameters"].update(momentum=3),
                                    "'momentum' parameter"),
    "feature names of the wrong count": (lambda m: m.update(feature_names=["a"]),
                                         "feature_names"),
    "unknown activation": (lambda m: m["architecture"].update(activation="swish"), "swish"),
    "unknown class_weight": (lambda m: m["hyperparameters"].update(class_weight="even"),
                             "'class_weight' parameter"),
    "class_weight pairs garbled": (
        lambda m: m["hyperparameters"].update(class_weight={"pairs": 3}), "hyperparameters"),
    "dropout of 1": (lambda m: m["hyperparameters"].update(dropout=1.0),
                     "'dropout' parameter"),
    "dropout rates for the wrong count of layers": (
        lambda m: m["hyperparameters"].update(dropout=[0.2]), "one such rate per hidden"),
    "unknown kind": (lambda m: m.update(kind="SVC"), "kind"),
    "epoch negative": (lambda m: m["state"].update(epoch=-1), "state.epoch"),
    "lr_factor zero": (lambda m: m["state"].update(lr_factor=0), "lr_factor"),
    "history not a list": (lambda m: m.update(history={"loss": 1}), "history"),
    "rng state garbage": (lambda m: m.update(rng_state={"bit_generator": "PCG64",
                                                        "state": "x"}), "rng_state"),
    "hidden sizes disagree": (lambda m: m["architecture"].update(hidden=[8, 7]),
                              "hidden_layer_sizes disagree"),
    "hidden sizes and hyperparameters both changed": (
        lambda m: (m["architecture"].update(hidden=[8, 7]),
                   m["hyperparameters"].update(hidden_layer_sizes=[8, 7])), "shape"),
}


@pytest.mark.parametrize("case", list(TENSOR_EDITS))
def test_tensor_names_dtypes_and_shapes_are_checked(saved, tmp_path, case):
    edit, needle = TENSOR_EDITS[case]
    path = _rewrite(saved, tmp_path / "bad.safetensors", edit_tensors=edit)
    with pytest.raises(XpnnCheckpointError, match=f"^{re.escape(str(path))}: .*{needle}"):
        load_model(path)


@pytest.mark.parametrize("case", list(METADATA_EDITS))
def test_metadata_fields_are_checked_against_the_schema(saved, tmp_path, case):
    edit, needle = METADATA_EDITS[case]
    path = _rewrite(saved, tmp_path / "bad.safetensors", edit_metadata=edit)
    with pytest.raises(XpnnCheckpointError) as info:
        load_model(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


def test_an_untouched_rewrite_loads_and_predicts_the_same(saved, tmp_path):
    from sklearn.datasets import load_digits

    X = load_digits().data / 16
    path = _rewrite(saved, tmp_path / "same.safetensors")
    (model, _, info), (reference, _, _) = load_model(path), load_model(saved)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    assert info["dataset"] == "digits" and model.n_iter_ == 2


def test_a_file_from_before_dropout_loads_without_it(saved, tmp_path):
    """hyperparameters without "dropout" (xpnn before it): the default, no dropout."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    path = _rewrite(saved, tmp_path / "old.safetensors",
                    edit_metadata=lambda m: m["hyperparameters"].pop("dropout"))
    model, reference = load_model(path)[0], load_model(saved)[0]
    assert model.dropout == 0.0
    np.testing.assert_array_equal(model.predict(X / 16), reference.predict(X / 16))
    model.set_params(max_iter=3)
    model.resume_fit((X / 16).astype(np.float32), y)
    assert model.n_iter_ == 3


@pytest.mark.parametrize("nesterov", [False, True])
def test_a_momentum_buffer_from_before_the_velocity_form_resumes_exactly(tmp_path, nesterov):
    """SGD state saved as the buffer b (p -= lr b) loads as scikit-learn's velocity -lr b:
    resumed to 4 epochs it equals an uninterrupted 4-epoch fit (a pickle likewise)."""
    import pickle
    import warnings

    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    kwargs = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.05,
                  nesterovs_momentum=nesterov, random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = xpnn.MLPClassifier(max_iter=2, **kwargs).fit(X, y)
        four = xpnn.MLPClassifier(max_iter=4, **kwargs).fit(X, y)
    save_model(tmp_path / "new.safetensors", two)

    def as_old_buffer(tensors):
        for key in [key for key in tensors if key.startswith("optim/velocity/")]:
            tensors["optim/momentum/" + key.split("/", 2)[2]] = tensors.pop(key) / -0.05

    path = _rewrite(tmp_path / "new.safetensors", tmp_path / "old.safetensors", as_old_buffer)
    assert any(key.startswith("optim/momentum/") for key in load_checkpoint(path)[0])
    old_pickle = pickle.loads(pickle.dumps(two))
    old_pickle.state_.opt_state["momentum"] = {
        name: v / -0.05 for name, v in old_pickle.state_.opt_state.pop("velocity").items()}
    for model in (load_model(path)[0], pickle.loads(pickle.dumps(old_pickle))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.set_params(max_iter=4).resume_fit(X, y)
        for name, value in four.params_.items():
            np.testing.assert_allclose(model.params_[name], value, rtol=1e-9, atol=1e-12)


def test_a_format_1_file_is_refused_with_one_line(saved, tmp_path, monkeypatch):
    """Format 1 was written only by development versions before the first release: it is
    refused by name, not upgraded."""
    from xpnn.files import checkpoint_io

    tensors, metadata = load_checkpoint(saved)
    monkeypatch.setattr(checkpoint_io, "FORMAT_VERSION", 1)
    save_checkpoint(tmp_path / "v1.safetensors", tensors, metadata)
    monkeypatch.undo()
    with pytest.raises(XpnnCheckpointError, match=r"is format 1, written by a development "
                                                  r"version of xpnn before its first release; "
                                                  r"this xpnn reads format 2: train"):
        load_model(tmp_path / "v1.safetensors")


@pytest.mark.parametrize("case, edit, needle", [
    ("adam without v", lambda t: [t.pop(k) for k in list(t) if k.startswith("optim/v/")],
     "missing"),
    ("an unknown slot", lambda t: t.update({"optim/foo/w1": t["optim/m/w1"]}), "extra"),
    ("best weights incomplete", lambda t: [t.pop(k) for k in list(t)
                                           if k.startswith("best/") and k != "best/w1"],
     "incomplete"),
])
def test_optimizer_state_and_best_weights_must_be_complete(saved, tmp_path, case, edit, needle):
    path = _rewrite(saved, tmp_path / "bad.safetensors", edit_tensors=edit)
    with pytest.raises(XpnnCheckpointError, match=needle):
        load_model(path)


def test_a_solver_edit_that_leaves_the_wrong_state_is_refused(saved, tmp_path):
    path = _rewrite(saved, tmp_path / "bad.safetensors",
                    edit_metadata=lambda m: m["hyperparameters"].update(solver="sgd"))
    with pytest.raises(XpnnCheckpointError, match="optimizer state"):
        load_model(path)


@pytest.mark.parametrize("solver, momentum", [(name, 0.9) for name in OPTIMIZERS]
                         + [("sgd", 0.0), ("lbfgs", 0.9)])
def test_every_optimizer_round_trips_with_exactly_its_declared_slots(tmp_path, solver,
                                                                       momentum):
    """A new optimizer in optim.OPTIMIZERS is one edit: the file's optim/ tensors are the
    slots it declares, and they load back as they were saved."""
    from xpnn.backend.devices import as_host_array
    from xpnn.saving.model_file import FIELDS, TENSORS, optimizer_slots

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.integers(0, 3, size=40)
    model = xpnn.MLPClassifier(hidden_layer_sizes=(4,), solver=solver, momentum=momentum,
                               max_iter=2, random_state=0).fit(X, y)
    path = tmp_path / "m.safetensors"
    save_model(path, model)
    tensors, metadata = load_checkpoint(path)
    slots = optimizer_slots(model)
    assert slots == (() if solver == "lbfgs" else model._optimizer().state_slots)
    assert {key for key in tensors if key.startswith("optim/")} == {
        f"optim/{slot}/{name}" for slot in slots for name in model.state_.params}
    assert list(metadata) == [field.key for field in FIELDS]  # the writer is the schema
    assert all(any(key.startswith(group.prefix) for group in TENSORS) for key in tensors)
    loaded, _, _ = load_model(path)
    assert set(loaded.state_.opt_state) == {"step", *slots}
    assert loaded.state_.opt_state["step"] == model.state_.opt_state["step"]
    for slot in slots:
        for name, value in model.state_.opt_state[slot].items():
            np.testing.assert_array_equal(loaded.state_.opt_state[slot][name],
                                          as_host_array(value))
    assert loaded.out_activation_ == model.out_activation_ == "softmax"


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_every_activation_fits_saves_loads_predicts_and_resumes(tmp_path, activation):
    """The name from the table is the file's architecture.activation: the loaded model
    predicts as the saved one, and resuming it from 2 to 4 epochs equals 4 epochs."""
    from assertions import assert_array_equal, assert_params_equal

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, size=60)
    options = dict(hidden_layer_sizes=(6, 4), activation=activation, batch_size=16,
                   random_state=0)
    model = xpnn.MLPClassifier(max_iter=2, **options).fit(X, y)
    save_model(tmp_path / "m.safetensors", model)
    loaded, _, _ = load_model(tmp_path / "m.safetensors")
    assert loaded.activation == activation
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    loaded.set_params(max_iter=4)
    loaded.resume_fit(X, y)
    uninterrupted = xpnn.MLPClassifier(max_iter=4, **options).fit(X, y)
    assert_params_equal(loaded.params_, uninterrupted.params_)

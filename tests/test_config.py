"""One switch to the code a learner reads: ``xpnn.config_context(kernels="reference")``,
``xpnn.set_config`` / ``get_config``, ``XPNN_KERNELS`` and ``xpnn train --kernels``.

Under it every training step runs ``mlp.forward``, ``mlp.backward`` and the optimizer's own
``update`` (a breakpoint there stops a NumPy fit); the weights are the same either way.
"""
import numpy as np
import pytest

import xpnn
from xpnn.core import mlp, optim
from xpnn.backend.devices import as_host_array
from xpnn.errors import XpnnConfigError
from clirun import xpnn as xpnn_cli

FIT = dict(hidden_layer_sizes=(16,), batch_size=128, max_iter=2, random_state=0)


@pytest.fixture(autouse=True)
def default_settings(monkeypatch):
    """Each test from the defaults, whatever XPNN_KERNELS the suite runs under."""
    import threading

    from xpnn import config

    monkeypatch.delenv("XPNN_KERNELS", raising=False)
    monkeypatch.setattr(config, "_local", threading.local())


@pytest.fixture
def calls(monkeypatch):
    """How often the reference's forward, backward and optimizer updates ran."""
    counts = {"forward": 0, "backward": 0, "update": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(mlp, "forward", counting("forward", mlp.forward))
    monkeypatch.setattr(mlp, "backward", counting("backward", mlp.backward))
    monkeypatch.setattr(optim.Adam, "update", counting("update", optim.Adam.update))
    return counts


def test_the_settings_and_their_context():
    assert xpnn.get_config() == {"kernels": "auto"}
    with xpnn.config_context(kernels="reference"):
        assert xpnn.get_config()["kernels"] == "reference"
        with xpnn.config_context(kernels="auto"):
            assert xpnn.get_config()["kernels"] == "auto"
        assert xpnn.get_config()["kernels"] == "reference"
    assert xpnn.get_config()["kernels"] == "auto"
    try:
        xpnn.set_config(kernels="reference")
        assert xpnn.get_config()["kernels"] == "reference"
    finally:
        xpnn.set_config(kernels="auto")
    with pytest.raises(XpnnConfigError, match="kernels: 'fast' is not one of 'auto', "
                                              "'reference'"):
        xpnn.set_config(kernels="fast")
    assert issubclass(XpnnConfigError, ValueError)


def test_a_numpy_fit_steps_through_the_reference_only_under_the_switch(digits_data, calls):
    X, y = digits_data
    steps = 2 * int(np.ceil(len(y) / 128))
    xpnn.MLPClassifier(**FIT).fit(X, y)  # auto: NumPy's kernel and numba's update
    assert calls == {"forward": 0, "backward": 0, "update": 0}
    with xpnn.config_context(kernels="reference"):
        xpnn.MLPClassifier(**FIT).fit(X, y)
    assert calls == {"forward": steps, "backward": steps, "update": steps}


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_the_weights_are_the_same_either_way_on_every_namespace(backend, digits_data, solver):
    X, y = digits_data
    X, y = backend.asarray(X[:600], "float64"), backend.asarray(y[:600])
    models = {}
    for kernels in ("auto", "reference"):
        with xpnn.config_context(kernels=kernels):
            models[kernels] = xpnn.MLPClassifier(solver=solver, learning_rate_init=0.01,
                                                 **FIT).fit(X, y)
    for name, value in models["auto"].params_.items():
        np.testing.assert_allclose(as_host_array(value),
                                   as_host_array(models["reference"].params_[name]),
                                   rtol=1e-10, atol=1e-13, err_msg=name)


def test_the_environment_variable_sets_the_default():
    for value, expected in (("reference", "0 reference"), ("auto", "0 auto")):
        result = xpnn_cli_python(f"XPNN_KERNELS={value}")
        assert result.stdout.split() == expected.split(), result.stderr
    result = xpnn_cli_python("XPNN_KERNELS=fast")
    assert result.returncode == 1
    assert ("the environment variable XPNN_KERNELS: 'fast' is not one of 'auto', "
            "'reference'") in result.stderr


def xpnn_cli_python(assignment):
    import os
    import subprocess
    import sys

    name, value = assignment.split("=")
    code = ("import xpnn\ntry:\n    print(0, xpnn.get_config()['kernels'])\n"
            "except ValueError as exc:\n    print(exc, file=__import__('sys').stderr)\n"
            "    raise SystemExit(1)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, name: value}, timeout=60)


def test_xpnn_train_kernels_reference(calls):
    result = xpnn_cli("train", "--epochs", "1", "--kernels", "reference", "--quiet")
    assert result.returncode == 0, result.stderr
    assert calls["backward"] > 0 and calls["backward"] == calls["update"]
    assert xpnn.get_config()["kernels"] == "auto"  # the flag's context ended with the run
    result = xpnn_cli("train", "--epochs", "1", "--kernels", "fast")
    assert result.returncode == 2 and "--kernels" in result.stderr


def test_the_flag_overrides_a_bad_environment_value(monkeypatch, calls):
    monkeypatch.setenv("XPNN_KERNELS", "fast")
    result = xpnn_cli("train", "--epochs", "1", "--quiet")
    assert result.returncode == 2
    assert "the environment variable XPNN_KERNELS: 'fast'" in result.stderr
    assert calls["backward"] == 0  # refused before any data was read or step taken
    result = xpnn_cli("train", "--epochs", "1", "--kernels", "reference", "--quiet")
    assert result.returncode == 0, result.stderr
    assert calls["backward"] > 0

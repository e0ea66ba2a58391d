"""xpnn's settings, as scikit-learn's: ``set_config``, ``get_config``, ``config_context``.

One setting so far, ``kernels``: ``"auto"`` (the default) lets a training step run its
namespace's fast path where one reproduces the reference (``xpnn/kernels/``);
``"reference"`` runs every step through the array-API code a learner reads, on every
namespace: ``mlp.forward``, the head's loss, ``mlp.l2_term``, ``mlp.backward``,
``mlp.add_l2_gradient`` and the optimizer's own ``update`` (a breakpoint there stops a NumPy
fit). The weights are the same either way (``tests/test_config.py``). The environment
variable ``XPNN_KERNELS`` sets the default; ``xpnn train --kernels reference`` the CLI's.
Thread-local, as scikit-learn's: a thread a fit starts (joblib's threading backend) begins
from the defaults.
"""
from __future__ import annotations

import contextlib
import os
import threading

from .errors import XpnnConfigError

# setting -> its allowed values (the first is the default)
CHOICES = {"kernels": ("auto", "reference")}
ENVIRONMENT = {"kernels": "XPNN_KERNELS"}

_local = threading.local()


def _check(name: str, value, source: str):
    if value not in CHOICES[name]:
        raise XpnnConfigError(f"{source}: {value!r} is not one of "
                              f"{', '.join(map(repr, CHOICES[name]))}")
    return value


def _defaults() -> dict:
    """Each setting's default: its environment variable's value, else the first choice."""
    return {name: _check(name, os.environ.get(ENVIRONMENT[name], choices[0]).strip().lower(),
                         f"the environment variable {ENVIRONMENT[name]}")
            for name, choices in CHOICES.items()}


def _config(override=None) -> dict:
    """This thread's settings, made from the defaults at first use; a bad environment value
    is an error then, unless ``override`` replaces it (``--kernels``, ``set_config``)."""
    if not hasattr(_local, "config"):
        try:
            _local.config = _defaults()
        except XpnnConfigError:
            if override is None:
                raise
            _local.config = {name: choices[0] for name, choices in CHOICES.items()}
    return _local.config


def get_config() -> dict:
    """A copy of the current settings.

    Returns
    -------
    dict
        ``{"kernels": ...}``, this thread's settings.

    Raises
    ------
    XpnnConfigError
        When the environment variable ``XPNN_KERNELS`` holds no allowed value.
    """
    return dict(_config())


def set_config(kernels: str | None = None) -> None:
    """Change settings for this thread; None leaves one as it is.

    Parameters
    ----------
    kernels : {"auto", "reference"} or None, default=None
        ``"auto"``: a training step runs its namespace's fast path where one reproduces the
        reference; ``"reference"``: every step runs the array-API code. None leaves it as it
        is.

    Raises
    ------
    XpnnConfigError
        For a value that is not one of the choices.
    """
    given = {"kernels": kernels}
    for name, value in given.items():
        if value is not None:
            _check(name, value, name)
            _config(override=value)[name] = value


@contextlib.contextmanager
def config_context(*, kernels: str | None = None):
    """The settings changed inside the ``with`` block, restored after it.

    Parameters
    ----------
    kernels : {"auto", "reference"} or None, default=None
        ``"auto"``: a training step runs its namespace's fast path where one reproduces the
        reference; ``"reference"``: every step runs the array-API code. None leaves it as it
        is.

    Yields
    ------
    None

    Raises
    ------
    XpnnConfigError
        For a value that is not one of the choices.

    Examples
    --------
    >>> import xpnn
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> with xpnn.config_context(kernels="reference"):
    ...     clf = xpnn.MLPClassifier(max_iter=20).fit(X / 16.0, y)
    >>> xpnn.get_config()["kernels"]
    'auto'
    """
    saved = dict(_config(override=kernels))
    set_config(kernels=kernels)
    try:
        yield
    finally:
        _config().update(saved)

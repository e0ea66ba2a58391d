"""Errors meant for people: each says what went wrong, where, and what to do, in the
caller's own terms.

A message that names a setting asks ``spelled`` for it: ``SPELLINGS`` holds, for each
setting, how a library caller spells it (``learning_rate_init=1e-3``, ``device="cpu"``,
``X``) and how a command-line caller does (``--lr 1e-3``, ``--device cpu``, ``--data``).
Which one is the running entry point's: the library unless the ``xpnn`` command has set
``entry_point("cli")`` (``cli/parser.py``'s ``main``, once, for the whole command).
"""
import contextlib
import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class Spelling:
    """How a setting is named by each entry point, bare and with a value (``{name}``,
    ``{value}``)."""

    library: str  # the library caller's parameter or argument: "learning_rate_init"
    cli: str  # the command line's flag: "--lr"
    library_value: str = "{name}={value}"
    cli_value: str = "{name} {value}"


# setting -> its spelling per entry point: the one table messages ask (``spelled``)
SPELLINGS = {
    "learning_rate": Spelling("learning_rate_init", "--lr"),
    "input_scaling": Spelling("make_pipeline(StandardScaler(), model)", "--standardize"),
    "device": Spelling("device", "--device", library_value='{name}="{value}"'),
    "dtype": Spelling("dtype", "--dtype", library_value='{name}="{value}"'),
    "X": Spelling("X", "--data"),
    "data": Spelling("data", "--data", library_value='{name}="{value}"'),
    "dataset": Spelling("dataset", "--dataset", library_value='{name}="{value}"'),
    "label_column": Spelling("label_column", "--label-column"),
    "n_classes": Spelling("n_classes", "--classes"),
    "offline": Spelling("offline", "--offline", library_value="{name}=True",
                        cli_value="{name}"),  # spelled("offline", True): it is on
}
ENTRY_POINTS = ("library", "cli")  # who is calling: a library caller (the default), the command

_entry_point = contextvars.ContextVar("xpnn_entry_point", default="library")


@contextlib.contextmanager
def entry_point(name: str):
    """Word every message inside as entry point ``name`` ("library" or "cli") spells it."""
    if name not in ENTRY_POINTS:
        raise XpnnConfigError(f"entry_point({name!r}): expected one of "
                              f"{', '.join(map(repr, ENTRY_POINTS))}")
    token = _entry_point.set(name)
    try:
        yield
    finally:
        _entry_point.reset(token)


def spelled(setting: str, value=None) -> str:
    """``setting`` (a key of SPELLINGS) as the running entry point's caller writes it:
    ``spelled("device", "cpu")`` is ``device="cpu"`` from the library, ``--device cpu``
    from the command line; without a value, the bare name."""
    spelling = SPELLINGS[setting]
    cli = _entry_point.get() == "cli"
    name = spelling.cli if cli else spelling.library
    if value is None:
        return name
    return (spelling.cli_value if cli else spelling.library_value).format(name=name,
                                                                          value=value)


class XpnnError(Exception):
    """Base class: a problem the user can fix (bad input, bad flag, missing device).

    The CLI prints these as one line and exits with status 2 (3 for a DivergenceError).
    """


class XpnnDataError(XpnnError, ValueError):
    """Input data is malformed: wrong shape, bad values, truncated or corrupt file (a
    ValueError too, as scikit-learn's checks expect of bad input)."""


class XpnnConfigError(XpnnError, ValueError):
    """A setting (``xpnn.set_config``, its environment variable, its flag) has no such
    value."""


class XpnnDeviceError(XpnnError):
    """A requested backend or device is not usable here."""


class XpnnCheckpointError(XpnnError):
    """A checkpoint file is missing, truncated, from a newer format, or not an xpnn file."""


class DivergenceError(XpnnError, ValueError, ArithmeticError):
    """Training produced a non-finite loss or gradient; the last finite weights were kept.

    An XpnnError, as every error meant for a person; a ValueError, as scikit-learn's MLP
    raises for non-finite weights, so code that catches a failed scikit-learn fit catches
    this one (and still an ArithmeticError, as before). The CLI exits 3 for it, not 2.

    Parameters
    ----------
    message : str
        What diverged, where, and what to try.
    epoch : int
        The epoch it happened in.
    step : int or None
        The step in that epoch, or None where the replay could not pin it.
    layer : int or None
        The layer whose values were not finite, or None.

    Attributes
    ----------
    epoch, step, layer : int or None
        As given.
    """

    def __init__(self, message, *, epoch, step, layer):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
        self.layer = layer


class CallbackError(RuntimeError):
    """A callback raised on rank 0 of a data-parallel fit: the other ranks stop with it (at
    the same epoch) rather than wait in a sum rank 0 will never join; rank 0 raises the
    callback's own exception."""


def install_hint(extra: str) -> str:
    """How to install an extra: xpnn is on no package index, so from its clone
    (docs/guide/install.md): ``pip install -e '.[onnx]' (in xpnn's clone)``."""
    return f"pip install -e '.[{extra}]' (in xpnn's clone)"


class XpnnMissingPackageError(XpnnError, ImportError):
    """An optional package (one of an extra's, ``install_hint``) cannot be
    imported: an ImportError to Python code, one line and exit 2 to the CLI."""

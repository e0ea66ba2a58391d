"""Errors meant for people: each says what went wrong, where, and what to do."""


class XpnnError(Exception):
    """Base class: a problem the user can fix (bad input, bad flag, missing device).

    The CLI prints these as one line and exits with status 2.
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


class DivergenceError(ValueError, ArithmeticError):
    """Training produced a non-finite loss or gradient; the last finite weights were kept.

    A ValueError, as scikit-learn's MLP raises for non-finite weights, so code that catches
    a failed scikit-learn fit catches this one (and still an ArithmeticError, as before).
    Not an XpnnError: the CLI exits 3 for it, not 2.

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


class XpnnMissingPackageError(XpnnError, ImportError):
    """An optional package (one of an extra's, ``pip install 'xpnn[...]'``) cannot be
    imported: an ImportError to Python code, one line and exit 2 to the CLI."""

"""xpnn: a readable neural-network library whose math runs on any array-API namespace.

The estimators are imported when first used (``xpnn.MLPClassifier`` or ``from xpnn import
MLPClassifier``): importing xpnn, or running ``xpnn --version``, does not pull in
scikit-learn and SciPy.
"""
import importlib

from .errors import (DivergenceError, XpnnCheckpointError, XpnnDataError, XpnnDeviceError,
                     XpnnError)
from .gradcheck import gradcheck, gradcheck_report  # (the function shadows its module's name)

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {"MLPClassifier": "estimator", "MLPRegressor": "estimator"}

__all__ = [*_LAZY, "gradcheck", "gradcheck_report", "DivergenceError", "XpnnError", "XpnnDataError", "XpnnDeviceError",
           "XpnnCheckpointError", "__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'xpnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_LAZY})

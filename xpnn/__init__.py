"""xpnn: a readable neural-network library whose math runs on any array-API namespace.

The estimators and the gradient check are imported when first used (``xpnn.MLPClassifier``
or ``from xpnn import MLPClassifier``): importing xpnn, or running ``xpnn --version``, pulls
in neither NumPy nor scikit-learn and SciPy, and the CLI can take Ctrl-C in hand first.
"""
import importlib

from .errors import (DivergenceError, XpnnCheckpointError, XpnnDataError, XpnnDeviceError,
                     XpnnError)

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {"MLPClassifier": "estimator", "MLPRegressor": "estimator",
         "gradcheck": "gradient_check", "gradcheck_report": "gradient_check",
         "config_context": "config", "get_config": "config", "set_config": "config"}

__all__ = [*_LAZY, "DivergenceError", "XpnnError", "XpnnDataError", "XpnnDeviceError",
           "XpnnCheckpointError", "__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'xpnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_LAZY})

"""xpnn: a readable neural-network library whose math runs on any array-API namespace.

The estimators and the gradient check are imported when first used (``xpnn.MLPClassifier``
or ``from xpnn import MLPClassifier``): importing xpnn, or running ``xpnn --version``, pulls
in neither NumPy nor scikit-learn and SciPy, and the CLI can take Ctrl-C in hand first.
"""
import importlib
import sys
from importlib.machinery import ModuleSpec

from .errors import (DivergenceError, XpnnCheckpointError, XpnnDataError, XpnnDeviceError,
                     XpnnError)

__version__ = "0.1.0"

# public name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {"MLPClassifier": "estimators.estimator", "MLPRegressor": "estimators.estimator",
         "gradcheck": "training.gradient_check", "gradcheck_report": "training.gradient_check",
         "save_model": "saving.checkpoint", "load_model": "saving.checkpoint",
         "config_context": "config", "get_config": "config", "set_config": "config",
         "model_card": "saving.model_card",
         "TrainingInterrupted": "training.train_state", "CHANGEABLE_ON_RESUME": "estimators.params"}

#: The parameters ``resume_fit`` (and ``xpnn train --resume``) may change: every other
#: hyperparameter is the fitted model's. Defined in ``xpnn/estimators/params.py`` (the rule).
CHANGEABLE_ON_RESUME: frozenset  # declared for the docs only; the value is loaded lazily

__all__ = [*_LAZY, "DivergenceError", "XpnnError", "XpnnDataError", "XpnnDeviceError",
           "XpnnCheckpointError", "__version__"]


# module paths from before the layer packages that files name (pickles and skops files name
# xpnn.estimator and xpnn.train_state) or users imported (xpnn.checkpoint's save/load_model):
# old path -> today's module, imported when asked for
_MOVED = {"estimator": "estimators.estimator", "train_state": "training.train_state",
          "checkpoint": "saving.checkpoint"}


class _MovedModules:
    """Finds the old paths of ``_MOVED`` as today's modules (a meta path finder and its
    loader, duck-typed: importlib.abc would cost the console script 12 ms before it can take
    Ctrl-C in hand)."""

    def find_spec(self, fullname, path=None, target=None):
        old = fullname.removeprefix(__name__ + ".")
        if fullname.startswith(__name__ + ".") and old in _MOVED:
            return ModuleSpec(fullname, _AliasLoader(_MOVED[old]))
        return None


class _AliasLoader:
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(f".{self.target}", __name__)

    def exec_module(self, module):
        pass


sys.meta_path.append(_MovedModules())


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'xpnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_LAZY})

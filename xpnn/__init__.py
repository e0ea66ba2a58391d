"""xpnn: a readable neural-network library whose math runs on any array-API namespace."""
from .errors import (DivergenceError, XpnnCheckpointError, XpnnDataError, XpnnDeviceError,
                     XpnnError)
from .estimator import MLPClassifier, MLPRegressor
from .gradcheck import gradcheck, gradcheck_report

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "gradcheck", "gradcheck_report", "DivergenceError", "XpnnError",
           "XpnnDataError", "XpnnDeviceError", "XpnnCheckpointError", "__version__"]

"""The optional packages of ``xpnn[onnx]``, imported when an export runs, with a message
naming the extra when one is missing."""
from __future__ import annotations

import importlib

from ..errors import XpnnError

INSTALL_HINT = "pip install 'xpnn[onnx]'"


def require(module: str):
    """The module ``module`` (ndonnx, onnx, onnxruntime, skl2onnx), or an XpnnError saying
    which is missing and how to install the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise XpnnError(f"ONNX export needs {module}, which cannot be imported ({exc}); "
                        f"install the extra: {INSTALL_HINT}") from None

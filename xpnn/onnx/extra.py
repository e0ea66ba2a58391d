"""The optional packages of ``xpnn[onnx]``, imported when an export runs, with a message
naming the extra when one is missing (``xpnn.extras``)."""
from __future__ import annotations

from .. import extras


def require(module: str):
    """The module ``module`` (ndonnx, onnx, onnxruntime, skl2onnx), or an XpnnError (an
    ImportError too) saying which is missing and how to install the extra."""
    return extras.require(module, feature="ONNX export", extra="onnx")

"""The optional packages of xpnn's extras (``pip install -e '.[onnx]'`` in the clone),
imported when a feature first needs them, with one line naming the extra when one is missing."""
from __future__ import annotations

import importlib

from .errors import XpnnMissingPackageError, install_hint


def require(module: str, *, feature: str, extra: str):
    """The module ``module`` (``"mlflow"``, ``"onnx.compose"``), or an XpnnMissingPackageError
    saying that ``feature`` needs it and how to install the extra that has it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise XpnnMissingPackageError(
            f"{feature} needs {module}, which cannot be imported ({exc}); install the extra: "
            f"{install_hint(extra)}") from None

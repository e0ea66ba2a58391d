"""Export to ONNX by tracing xpnn's own inference code; imports estimators and below.

the ``onnx`` extra. The inference code runs on ndonnx arrays: ``to_onnx`` for an
estimator or a model file's model, ``register_skl2onnx`` for scikit-learn Pipelines through
skl2onnx. The ONNX packages are imported when an export runs, not here."""
from .export import to_onnx
from .graph import model_outputs
from .pipelines import register_skl2onnx

__all__ = ["to_onnx", "register_skl2onnx", "model_outputs"]

"""skl2onnx converters for xpnn's estimators, so that ``skl2onnx.to_onnx`` exports a whole
scikit-learn Pipeline that ends in one (``register_skl2onnx()`` first).

The converter reuses the graph ``trace`` builds from xpnn's own inference code: ndonnx's
nodes are copied into skl2onnx's container under a prefix of their own (onnx.compose renames
every tensor, inside ndonnx's If subgraphs too), joined to the pipeline by an Identity on
each side. The shape calculator reads the output types from the same traced graph.

skl2onnx orders the container's nodes by their explicit inputs alone, not what an If
subgraph reads from outside; ndonnx's If nodes take their condition from the sizes of the
very tensors their branches read, so they stay after them (onnx's checker, in the tests,
holds the order).
"""
from __future__ import annotations

import numpy as np

from ..estimators.estimator import MLPClassifier, MLPRegressor
from .extra import require
from .graph import trace

# a classifier declares skl2onnx's zipmap option, so its classifier parser adds the ZipMap
# (the default) or leaves the probabilities a tensor (options={id(model): {"zipmap": False}});
# that parser also reads nocl, of which only False (labels as the classes) is supported
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [False]}
INT64 = 7  # onnx.TensorProto.INT64 (a stable enum value of the ONNX format)
CONVERTERS = {MLPClassifier: ("XpnnMLPClassifier", CLASSIFIER_OPTIONS),
              MLPRegressor: ("XpnnMLPRegressor", None)}


def register_skl2onnx() -> None:
    """Register xpnn's MLPClassifier and MLPRegressor with skl2onnx (its documented
    ``update_registered_converter``); calling it again changes nothing."""
    skl2onnx = require("skl2onnx")
    for estimator, (alias, options) in CONVERTERS.items():
        skl2onnx.update_registered_converter(estimator, alias, calculate_output_types,
                                             convert, options=options)


def _traced(operator):
    """The model's graph for the input type skl2onnx gives it (cast to the model's dtype
    inside, as predict casts), traced once per conversion: the shape calculator's is the
    converter's."""
    from skl2onnx.common.data_types import guess_numpy_type

    if getattr(operator, "xpnn_traced", None) is None:
        operator.xpnn_traced = trace(operator.raw_operator, input_dtype=np.dtype(
            guess_numpy_type(operator.inputs[0].type)))
    return operator.xpnn_traced


def _joins(operator, output) -> str:
    """How a traced output joins the pipeline: "Identity", or "Cast" for labels of bool
    classes (skl2onnx's ZipMap and its scikit-learn converters take int64 labels then)."""
    classes = getattr(operator.raw_operator, "classes_", None)
    return ("Cast" if output.name == "label" and classes is not None
            and np.asarray(classes).dtype == bool else "Identity")


def calculate_output_types(operator) -> None:
    """skl2onnx's shape calculator: each output's type and shape, from the traced graph."""
    from skl2onnx.common.data_types import _guess_type_proto

    batch = operator.inputs[0].get_first_dimension()
    for variable, output in zip(operator.outputs, _traced(operator).graph.output):
        tensor = output.type.tensor_type
        dims = [batch, *(dim.dim_value or None for dim in tensor.shape.dim[1:])]
        element = INT64 if _joins(operator, output) == "Cast" else tensor.elem_type
        variable.type = _guess_type_proto(element, dims)


def convert(scope, operator, container) -> None:
    """skl2onnx's converter: the traced graph's nodes, renamed, between two Identities."""
    compose = require("onnx.compose")
    proto = _traced(operator)
    prefix = scope.get_unique_variable_name(f"{operator.full_name}_") + "_"
    graph = compose.add_prefix(proto, prefix).graph
    container.add_node("Identity", [operator.inputs[0].full_name], [graph.input[0].name],
                       name=scope.get_unique_operator_name(f"{prefix}in"))
    container.nodes.extend(graph.node)
    container.initializers.extend(graph.initializer)
    container.node_domain_version_pair_sets.update(
        (opset.domain, opset.version) for opset in proto.opset_import)
    for variable, output, traced in zip(operator.outputs, graph.output, proto.graph.output):
        join = _joins(operator, traced)
        container.add_node(join, [output.name], [variable.full_name],
                           name=scope.get_unique_operator_name(f"{prefix}out"),
                           **({"to": INT64} if join == "Cast" else {}))

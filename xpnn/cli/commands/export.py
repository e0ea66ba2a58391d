"""``xpnn export MODEL --out FILE``: the model as ONNX, its preprocessing in the graph.

The ONNX model takes raw rows (N, n_features) in the model's dtype, as ``xpnn predict``
reads them, and answers what predict writes: "label" and "probabilities" (a regressor's
file: "predictions"). Written atomically: a failed run leaves no file.
"""
from __future__ import annotations

from .common import check_output_path, say


def run(args) -> int:
    from ...saving.checkpoint import load_model
    from ...onnx import to_onnx

    out_path = check_output_path(args.out, "--out", [("MODEL", args.model)])
    model, preprocessing, _ = load_model(args.model, device="cpu")
    proto = to_onnx(model, out_path, preprocessing=preprocessing)
    outputs = ", ".join(output.name for output in proto.graph.output)
    say(args, f"xpnn export: {args.model} written to {out_path} ({out_path.stat().st_size} "
              f"bytes; input X (N, {model.n_features_in_}) {model.dtype_}, raw rows as "
              f"xpnn predict reads them; outputs {outputs})")
    return 0

"""``xpnn evaluate MODEL --data ...``: loss, accuracy, per-class report, confusion matrix."""
from __future__ import annotations

import math

from ...backend.devices import as_host_array
from ...errors import XpnnDataError
from .common import check_known_labels, load_for_model, model_inputs, print_json, quiet_numerics
from .report import classification_summary, write_plots


def run(args) -> int:
    from ...saving.checkpoint import load_model

    if args.plots:
        from ...reports.plots import require_matplotlib

        require_matplotlib()
    clf, preprocessing, info = load_model(args.model, device=args.device)
    data = load_for_model(args, clf.n_features_in_, need_labels=True, info=info)
    check_known_labels(clf, data)
    X = model_inputs(clf, preprocessing, data)
    with quiet_numerics():
        loss, accuracy = clf.evaluate(X, data.y)
        predicted = as_host_array(clf.predict(X))
    if not math.isfinite(loss):
        raise XpnnDataError(f"{data.source}: the model's loss on these rows is {loss}; their "
                            "features are far outside the range the model was trained on")
    cm, report, table = classification_summary(clf, data, predicted)
    result = {"model": args.model, "data": data.source, "rows": len(data), "loss": loss,
              "accuracy": accuracy, "per_class": report, "confusion_matrix": cm.tolist(),
              "device": clf.backend_.label}
    if args.plots:
        result["plots"] = write_plots(args.plots, clf, data, predicted, history=False)
    if args.json:
        print_json(result)
    else:
        print(f"{data.source}: {len(data)} rows  loss {loss:.4f}  accuracy {accuracy:.4f}\n")
        print(table)
    return 0

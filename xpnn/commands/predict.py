"""``xpnn predict MODEL --data FILE --out FILE``: labels (and probabilities) as CSV.

The output is Kaggle's submission format, ``ImageId,Label`` with ImageId from 1, plus
``prob_<class>`` columns with ``--proba``. Written atomically at the end: a failed run
leaves no file and never a half-written one.
"""
from __future__ import annotations

from ..backend import as_host_array
from ..checkpoint_io import write_file_atomic
from .common import check_output_path, load_for_model, say
from .report import class_names


def run(args) -> int:
    from ..checkpoint import load_model

    out_path = check_output_path(args.out, "--out")
    clf, preprocessing, _ = load_model(args.model, device=args.device)
    data = load_for_model(args, clf.n_features_in_, need_labels=False)
    X = clf.backend_.asarray(preprocessing.apply(data.X, clf.dtype))
    labels = as_host_array(clf.predict(X))
    header = ["ImageId", "Label"]
    rows = [f"{image_id},{label}" for image_id, label in enumerate(labels.tolist(), start=1)]
    if args.proba:
        probs = as_host_array(clf.predict_proba(X))
        header += [f"prob_{name}" for name in class_names(clf)]
        rows = [row + "," + ",".join(f"{p:.6g}" for p in prob_row)
                for row, prob_row in zip(rows, probs.tolist())]
    write_file_atomic(out_path, ("\n".join([",".join(header), *rows]) + "\n").encode())
    say(args, f"xpnn predict: {len(labels)} predictions for {data.source} written to {out_path}")
    return 0

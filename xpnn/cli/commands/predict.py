"""``xpnn predict MODEL --data FILE --out FILE``: labels (and probabilities) as CSV.

The output is Kaggle's submission format, ``ImageId,Label`` with ImageId from 1, plus
``prob_<class>`` columns with ``--proba``. Labels are written as the model's classes are:
numbers, or class names verbatim (quoted as CSV needs when a name holds a comma or a
quote). Written atomically at the end: a failed run leaves no file and never a
half-written one.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from ...backend.devices import as_host_array
from ...errors import XpnnDataError
from ...files.fileio import write_file_atomic
from .common import check_output_path, load_for_model, model_inputs, quiet_numerics, say
from .report import class_names


def run(args) -> int:
    from ...saving.checkpoint import load_model

    out_path = check_output_path(args.out, "--out",
                                 [("MODEL", args.model), ("--data", args.data)])
    clf, preprocessing, _ = load_model(args.model, device=args.device)
    if clf.n_outputs_ > 1 and clf.out_activation_ == "logistic":
        raise XpnnDataError(f"{args.model}: a multi-label model; xpnn predict writes one label "
                            f"per row: use the library's predict for its indicator matrix")
    data = load_for_model(args, clf.n_features_in_, need_labels=False)
    X = model_inputs(clf, preprocessing, data)
    with quiet_numerics():
        labels = as_host_array(clf.predict(X))
        # (rows, classes); a one-class model's (1 - p, p): its class's column is the first
        probs = as_host_array(clf.predict_proba(X))[:, :len(clf.classes_)]
    finite_rows = np.isfinite(probs).all(axis=1)
    if not finite_rows.all():
        row = int(np.argmin(finite_rows))
        raise XpnnDataError(f"{data.source}, row {row} (from 0): the model's outputs are not "
                            "finite; its features are far outside the range the model was "
                            "trained on")
    header = ["ImageId", "Label"]
    if args.proba:
        header += [f"prob_{name}" for name in class_names(clf)]
    write_file_atomic(out_path, submission_csv(header, labels, probs if args.proba else None))
    say(args, f"xpnn predict: {len(labels)} predictions for {data.source} written to {out_path}")
    return 0


def submission_csv(header, labels, probs=None) -> bytes:
    """``ImageId,Label[,prob_...]`` lines, ImageId from 1; labels verbatim (str() of each)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for image_id, label in enumerate(labels.tolist(), start=1):
        row = [image_id, label]
        if probs is not None:
            row += [f"{p:.6g}" for p in probs[image_id - 1].tolist()]
        writer.writerow(row)
    return text.getvalue().encode("utf-8")

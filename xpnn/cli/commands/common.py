"""What several commands share: loading a data source, preprocessing it, writing outputs."""
from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from ...errors import XpnnDataError


def load_for_model(args, n_features, need_labels, info=None):
    """The evaluation/prediction rows of --data/--dataset, checked against the model.

    A source with a test split (IDX directory, mnist, fashion-mnist) gives its test split.
    The very source the model was trained on (``info`` from its checkpoint) gives the same
    held-out rows ``xpnn train`` tested on; any other single file gives all its rows.
    """
    from ...data.sources import load_source
    from ...data.split import holdout_split

    if args.data is None and args.dataset is None:
        raise XpnnDataError("give the data to use: --data PATH or --dataset NAME")
    splits = load_source(args.data, args.dataset, label_column=args.label_column,
                         n_features=n_features, need_labels=need_labels,
                         offline=args.offline, progress=not getattr(args, "quiet", False))
    data = splits.test if splits.test is not None else splits.train  # n_features checked
    info = info or {}
    trained_here = (args.data, args.dataset) == (info.get("data"), info.get("dataset"))
    if splits.test is None and trained_here and need_labels and "seed" in info:
        _, data = holdout_split(data, info["test_split"], info["seed"])
    return data


def model_inputs(clf, preprocessing, data):
    """``data``'s features, preprocessed as at training, on the model's device.

    A value that does not fit the model's dtype after scaling is an error naming the file,
    the row and the feature, not a numeric warning followed by garbage predictions.
    """
    with quiet_numerics():
        X = preprocessing.apply(data.X, clf.dtype_)
    finite = np.isfinite(X)
    if not finite.all():
        row, col = (int(i) for i in np.argwhere(~finite)[0])
        raise XpnnDataError(
            f"{data.source}, row {row} (from 0), feature {col}: {data.X[row, col]!r} is outside "
            f"the range {clf.dtype_} can hold after scaling as at training"
        )
    return clf.backend_.asarray(X)


def check_known_labels(clf, data):
    """Every label of ``data`` is one of the model's classes (same kind: numbers or names)."""
    from ...backend.devices import as_host_array

    classes = as_host_array(clf.classes_)
    names = {"U": "class names", "S": "class names"}
    data_kind = names.get(data.y.dtype.kind, "class numbers")
    model_kind = names.get(classes.dtype.kind, "class numbers")
    if data_kind != model_kind:
        raise XpnnDataError(f"{data.source}: the labels are {data_kind}, but the model's "
                            f"classes are {model_kind} ({_shown(classes)})")
    _refuse_labels_outside(data, classes, f"the model's {classes.size} classes",
                           "the model does not know")


def check_test_labels(train, test, split="test"):
    """Every label of a source's own test (or the given validation) split is a class of its
    training split: checked when the data is loaded, before any training (evaluation would
    fail after it)."""
    _refuse_labels_outside(test, np.unique(train.y), "the training split's classes",
                           f"the training data lacks: give a {split} split from the same "
                           f"classes")


def _refuse_labels_outside(data, classes, whose: str, consequence: str):
    """One line naming the labels' file, the first record whose label is not in ``classes``,
    that label as written, and how many records share the problem."""
    unknown = ~np.isin(data.y, classes)
    if unknown.any():
        first = int(np.argmax(unknown))
        raise XpnnDataError(
            f"{data.labels_source or data.source}, {data.record} {first} (from 0): label "
            f"{as_written(data.y[first])} is not one of {whose} ({_shown(classes)}); "
            f"{int(unknown.sum())} {data.record}s have labels {consequence}")


def as_written(value) -> str:
    """A label as the user wrote it: 11, not np.int64(11); names quoted."""
    value = value.item() if hasattr(value, "item") else value
    return repr(value) if isinstance(value, str) else str(value)


def _shown(values, limit=10):
    items = [as_written(value) for value in values[:limit].tolist()]
    return ", ".join(items) + (", ..." if values.size > limit else "")


@contextlib.contextmanager
def quiet_numerics():
    """No numeric warning reaches the terminal; results are checked by the caller instead."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def check_output_path(path, flag, inputs=()):
    """Fail before any work when an output's directory does not exist, or when the output
    is one of the command's ``inputs`` ((flag, path) pairs: the model, the data), which
    writing it would destroy."""
    if path is None:
        return None
    path = Path(path)
    if not path.parent.exists():
        raise XpnnDataError(f"{flag} {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise XpnnDataError(f"{flag} {path}: is a directory; give a file name")
    for input_flag, input_path in inputs:
        if input_path is not None and path.exists() and path.samefile(input_path):
            raise XpnnDataError(f"{flag} {path}: is the {input_flag} file itself; writing "
                                f"there would destroy it: give another name")
    return path


def print_json(obj):
    print(json.dumps(obj, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def say(args, message):
    """A progress line on stderr unless --quiet or --json."""
    if not (getattr(args, "quiet", False) or getattr(args, "json", False)):
        print(message, file=sys.stderr)

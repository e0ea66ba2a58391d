"""One entry point for the CLI: a path (format detected) or a named dataset -> train/test."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import XpnnDataError, spelled
from .csv import load_csv
from .dataset import Dataset
from .digits import load_digits
from .download import DATASET_NAMES, locate_dataset
from .idx import has_idx_magic, read_idx, labels_file_beside, load_idx, load_idx_dir
from .npz import load_npz

NAMED_DATASETS = ("digits",) + DATASET_NAMES
CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".txt.gz")


@dataclass(frozen=True)
class DataSplits:
    """A source's splits; ``test`` is None when the source has no test split (caller splits)."""

    train: Dataset | None
    test: Dataset | None


def load_source(
    data: str | Path | None = None, dataset: str | None = None, *,
    label_column: str | None = None, n_features: int | None = None,
    n_classes: int | None = None, need_labels: bool = True,
    offline: bool = False, cache_dir: str | Path | None = None, mirrors=None,
    progress: bool = False,
) -> DataSplits:
    """Load ``data`` (a file or directory) or ``dataset`` (a name); exactly one of them.

    Paths: a directory of IDX files -> train and test; ``.npz``; ``.csv``/``.txt``
    (optionally ``.gz``); an IDX file, raw or gzip, recognised by its magic number.
    Single files give train only.

    Parameters
    ----------
    data : str or Path or None, default=None
        A file or directory.
    dataset : str or None, default=None
        A named dataset: "digits", "mnist" or "fashion-mnist".
    label_column : str or None, default=None
        A CSV's label column, by header name.
    n_features : int or None, default=None
        The model's input size (at predict time), checked against the data.
    n_classes : int or None, default=None
        The model's class count (at predict time): labels must be below it.
    need_labels : bool, default=True
        Labels are required.
    offline : bool, default=False
        Never download a named dataset.
    cache_dir : str or Path or None, default=None
        Where named datasets are cached (default: ``$XPNN_DATA``, else the user cache).
    mirrors : sequence of str or None, default=None
        Download mirrors tried first.
    progress : bool, default=False
        Show a download's progress bar (only when stderr is a terminal).

    Returns
    -------
    DataSplits
        ``train`` and ``test`` (None when the source has no test split: the caller
        splits).

    Raises
    ------
    XpnnDataError
        For no source or two, an unknown format or dataset, data that cannot be read, or
        data that does not fit the model.
    """
    _check_one_source(data, dataset, label_column)
    if dataset is not None:
        splits = _load_named(dataset, n_classes, offline, cache_dir, mirrors, progress)
    else:
        splits = _load_path(Path(data), label_column, n_features, n_classes, need_labels)
    for part in (splits.train, splits.test):
        if part is not None:
            _check_against_model(part, n_features, need_labels)
    return splits


def _check_one_source(data, dataset, label_column) -> None:
    """A path or a dataset name, not both nor neither; a label column only for a CSV."""
    if (data is None) == (dataset is None):
        raise XpnnDataError(
            f"give exactly one data source: a path ({spelled('data')}) or a named dataset "
            f"({spelled('dataset', '|'.join(NAMED_DATASETS))})"
        )
    if label_column is not None and not _is_csv(Path(data) if data is not None else None):
        where = data if data is not None else spelled("dataset", dataset)
        raise XpnnDataError(f"{where}: a label column name ({spelled('label_column')}) only "
                            f"applies to CSV files")


def _load_named(dataset, n_classes, offline, cache_dir, mirrors, progress) -> DataSplits:
    name = dataset.strip().lower().replace("_", "-")
    if name == "digits":
        return DataSplits(train=load_digits(n_classes=n_classes), test=None)
    if name not in DATASET_NAMES:
        choices = ", ".join(NAMED_DATASETS)
        raise XpnnDataError(f"unknown dataset {dataset!r}; choose one of {choices}")
    directory = locate_dataset(
        name, offline=offline, cache_dir=cache_dir, mirrors=mirrors, progress=progress
    )
    train, test = load_idx_dir(directory, n_classes=n_classes)
    return DataSplits(train=train, test=test)


def _load_path(path: Path, label_column, n_features, n_classes, need_labels) -> DataSplits:
    if not path.exists():
        raise XpnnDataError(f"{path}: no such file or directory")
    if path.is_dir():
        train, test = load_idx_dir(path, n_classes=n_classes)
        return DataSplits(train=train, test=test)
    if path.name.lower().endswith(".npz"):
        return DataSplits(load_npz(path, n_classes=n_classes, need_labels=need_labels), None)
    if _is_csv(path):
        loaded = load_csv(
            path, label_column=label_column, n_features=n_features, n_classes=n_classes,
            need_labels=need_labels,
        )
        return DataSplits(train=loaded, test=None)
    if has_idx_magic(path) or _named_like_idx(path):  # a bad magic in an IDX name: say so
        labels_path = labels_file_beside(path)
        if labels_path is None and need_labels:
            read_idx(path)  # a corrupt file is the first thing to report
            raise XpnnDataError(
                f"{path}: no labels file beside it (expected the same name with 'labels'/'idx1' "
                "for 'images'/'idx3', raw or .gz), and labels are needed here"
            )
        return DataSplits(train=load_idx(path, labels_path, n_classes=n_classes), test=None)
    raise XpnnDataError(
        f"{path}: unknown format; expected a directory of IDX files, a .npz, a .csv/.txt, "
        "or an IDX file (raw or .gz)"
    )


def _named_like_idx(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(("-ubyte", "-ubyte.gz", ".idx", ".idx.gz"))


def _is_csv(path: Path | None) -> bool:
    return path is not None and path.name.lower().endswith(CSV_SUFFIXES)


def _check_against_model(part: Dataset, n_features, need_labels) -> None:
    """Checks every format shares: labels present, feature count as expected.

    Labels against ``n_classes`` are checked once, by each loader (``arrays_to_dataset``),
    where the message can name the line or record.
    """
    if need_labels and part.y is None:
        raise XpnnDataError(f"{part.source}: no labels, and labels are needed here")
    if n_features is not None and part.n_features != n_features:
        raise XpnnDataError(
            f"{part.source}: {part.n_features} features per sample, "
            f"but the model expects {n_features}"
        )

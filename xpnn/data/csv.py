"""CSV files in the Kaggle Digit Recognizer layout: ``label,pixel0,...,pixel783``.

The header row is optional (a first row that is not all numbers is a header).
The label is the first column, or the column named by ``label_column``; a file
without labels (Kaggle's test.csv) is accepted where labels are not needed.
Parsing is one ``np.loadtxt`` call (about a second for Kaggle's 42000 x 785);
only when something is wrong is the file scanned line by line, to name the line
(1-based, as an editor shows it) and the column.
"""
from __future__ import annotations

import gzip
import itertools
import warnings
import zlib
from pathlib import Path

import numpy as np

from ..errors import XpnnDataError
from .dataset import Dataset
from .npz import arrays_to_dataset, first_bad_label, first_non_finite

LABEL_HEADER = "label"  # a header whose first column has this name marks a labeled file
FEATURE_DTYPE = np.float32  # exact for pixels; CSV values are parsed straight into it
SCAN_CHUNK_LINES = 1000  # lines per np.loadtxt call when hunting for the bad line


def load_csv(
    path: str | Path,
    *,
    label_column: str | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
    need_labels: bool = True,
) -> Dataset:
    """Features (n, d) float32 and labels (n,) int64 (or None) from a CSV file.

    Which column holds the label, in order of precedence: ``label_column`` (by header
    name); a header whose first column is ``label``; ``n_features`` (the model's input
    size: ``n_features`` columns means unlabeled, ``n_features + 1`` means label first);
    otherwise the first column when ``need_labels``, else no label column.
    """
    source = str(path)
    try:
        return _load_csv(path, source, label_column, n_features, n_classes, need_labels)
    except (zlib.error, EOFError) as exc:  # a corrupt or truncated .csv.gz, at any read
        raise XpnnDataError(f"{source}: corrupt or truncated gzip data ({exc})") from exc


def _load_csv(path, source, label_column, n_features, n_classes, need_labels) -> Dataset:
    header, table = _read_table(path, source)  # table: (rows, columns) float32
    n_columns = table.shape[1]
    label_index = _label_index(source, header, n_columns, label_column, n_features, need_labels)

    bad_cell = first_non_finite(table)
    if bad_cell is not None:
        row, col = bad_cell
        line_no, cells = _data_line(path, header is not None, row)
        cell = _cell_text(cells, col)
        overflows = _is_number(cell) and np.isfinite(float(cell))  # e.g. 1e300 in float32
        overflow = " (too large for float32)" if overflows else ""
        raise XpnnDataError(
            f"{source}, line {line_no}, {_column_name(col, header)}: "
            f"{cell!r} is not a finite number{overflow}"
        )

    if label_index is None:
        if need_labels:
            raise XpnnDataError(
                f"{source}: no label column ({n_columns} columns, all features) but labels are "
                "needed; put the label first, or name its column with label_column / --label-column"
            )
        return arrays_to_dataset(table, None, source, n_classes=n_classes)

    labels = table[:, label_index]
    features = np.ascontiguousarray(np.delete(table, label_index, axis=1))  # (rows, columns - 1)
    if features.shape[1] == 0:
        raise XpnnDataError(f"{source}: only a label column, no feature columns")
    if n_features is not None and features.shape[1] != n_features:
        raise XpnnDataError(
            f"{source}: {features.shape[1]} feature columns (besides the label), "
            f"but the model expects {n_features} features"
        )
    bad_label = first_bad_label(labels, n_classes)
    if bad_label is not None:
        row, problem = bad_label
        line_no, _ = _data_line(path, header is not None, row)
        raise XpnnDataError(f"{source}, line {line_no}: {problem}")
    return arrays_to_dataset(features, labels, source, n_classes=n_classes)


def _label_index(source, header, n_columns, label_column, n_features, need_labels) -> int | None:
    """Which column holds the labels, or None for an unlabeled file (see load_csv)."""
    if label_column is not None:
        if header is None:
            raise XpnnDataError(
                f"{source}: label column {label_column!r} was named, but the file has no header "
                "row (its first line is all numbers)"
            )
        if label_column not in header:
            shown = ", ".join(header[:5]) + (", ..." if len(header) > 5 else "")
            raise XpnnDataError(
                f"{source}: no column named {label_column!r} in the header (columns: {shown})"
            )
        return header.index(label_column)
    if header is not None and header[0].lower() == LABEL_HEADER:
        return 0
    if n_features is not None:
        if n_columns == n_features:
            return None
        if n_columns == n_features + 1:
            return 0
        raise XpnnDataError(
            f"{source}: {n_columns} columns, but the model expects {n_features} features, so "
            f"{n_features} columns (unlabeled) or {n_features + 1} (label first)"
        )
    return 0 if need_labels else None


def _read_table(path, source) -> tuple[list[str] | None, np.ndarray]:
    """(header names or None, all data rows as float32); format errors name the line."""
    try:
        with _open_text(path) as lines:
            header_line_no, first_line = _first_nonblank_line(lines)
            if first_line is None:
                raise XpnnDataError(f"{source}: the file is empty")
            first_cells = _split_cells(first_line)
            header = None if all(_is_number(cell) for cell in first_cells) else first_cells
            data_lines = lines if header is not None else itertools.chain([first_line], lines)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
                    table = np.loadtxt(
                        data_lines, delimiter=",", dtype=FEATURE_DTYPE, comments=None,
                        quotechar='"', ndmin=2,
                    )
                parse_failure = None
            except ValueError as exc:
                parse_failure = exc
    except FileNotFoundError as exc:
        raise XpnnDataError(f"{source}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise XpnnDataError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (OSError, EOFError) as exc:
        what = "corrupt or truncated gzip data" if source.endswith(".gz") else "cannot read"
        raise XpnnDataError(f"{source}: {what} ({exc})") from exc

    n_columns = len(first_cells)
    if parse_failure is None and table.shape[0] > 0 and table.shape[1] == n_columns:
        return header, table
    if parse_failure is None and table.shape[0] == 0:
        raise XpnnDataError(f"{source}: a header row (line {header_line_no}) but no data rows")
    problem = _first_format_problem(path, header is not None, n_columns, header)
    if problem is None:  # numpy refused something the line scan accepts
        problem = f"cannot parse as numbers ({parse_failure})"
    raise XpnnDataError(f"{source}, {problem}")


def _first_format_problem(path, has_header, n_columns, header) -> str | None:
    """'line L: ...' for the first line with a wrong column count or a non-number.

    Chunks of lines go through np.loadtxt; only a chunk it rejects is checked cell by cell.
    """
    numbered = _numbered_data_lines(path, has_header)
    while chunk := list(itertools.islice(numbered, SCAN_CHUNK_LINES)):
        problem = _chunk_problem(chunk, n_columns, header)
        if problem is not None:
            return problem
    return None


def _chunk_problem(chunk, n_columns, header) -> str | None:
    shape_problem, well_shaped = None, chunk
    for position, (line_no, line) in enumerate(chunk):
        found = line.count(",") + 1
        if found != n_columns:
            shape_problem = f"line {line_no}: {n_columns} columns expected, found {found}"
            well_shaped = chunk[:position]
            break
    if well_shaped and not _all_numbers([line for _, line in well_shaped]):
        for line_no, line in well_shaped:
            for col, cell in enumerate(_split_cells(line)):
                if not cell:
                    return f"line {line_no}, {_column_name(col, header)}: empty cell"
                if not _is_number(cell):
                    return f"line {line_no}, {_column_name(col, header)}: {cell!r} is not a number"
    return shape_problem


def _all_numbers(lines) -> bool:
    try:
        np.loadtxt(lines, delimiter=",", dtype=FEATURE_DTYPE, comments=None, quotechar='"')
    except ValueError:
        return False
    return True


def _data_line(path, has_header, row) -> tuple[int, list[str]]:
    """(1-based line number, cells) of data row ``row`` (0-based, blank lines skipped)."""
    line_no, line = next(itertools.islice(_numbered_data_lines(path, has_header), row, None))
    return line_no, _split_cells(line)


def _numbered_data_lines(path, has_header):
    """(line number, text) for every non-blank line after the header."""
    with _open_text(path) as lines:
        nonblank = ((n, line) for n, line in enumerate(lines, start=1) if line.strip())
        if has_header:
            next(nonblank, None)
        yield from nonblank


def _first_nonblank_line(lines) -> tuple[int, str | None]:
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            return line_no, line
    return 0, None


def _open_text(path):
    """The file as text lines, gunzipped when it is gzip; a BOM (Excel) is dropped."""
    with open(path, "rb") as probe:
        is_gzip = probe.read(2) == b"\x1f\x8b"
    if is_gzip:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline=None)
    return open(path, encoding="utf-8-sig", newline=None)


def _split_cells(line: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in line.rstrip("\r\n").split(",")]


def _is_number(text: str) -> bool:
    if not text or "_" in text:  # float() accepts "1_0"; numpy does not
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_name(col: int, header: list[str] | None) -> str:
    """'column 3 (pixel1)': 1-based, with the header name when there is one."""
    name = f"column {col + 1}"
    if header is not None and col < len(header) and header[col]:
        name += f" ({header[col]})"
    return name


def _cell_text(cells: list[str], col: int) -> str:
    return cells[col] if col < len(cells) else "?"

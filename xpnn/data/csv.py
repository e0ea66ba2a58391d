"""CSV files in the Kaggle Digit Recognizer layout: ``label,pixel0,...,pixel783``.

Rules, in the order they apply:

- The file is UTF-8 (a BOM is dropped), optionally gzip-compressed. Line numbers are
  1-based, as an editor shows them (``\\n``, ``\\r\\n`` and ``\\r`` end a line).
- A line that is empty or holds only whitespace is skipped, wherever it is.
- The first line is a header when it has a cell that is not a number where the line
  after it has a number (so a first row whose only text is a class name is data).
- The label column: ``label_column`` (by header name); else the header's column named
  ``label`` (two such columns are an error); else decided by ``n_features``; else the
  first column when labels are needed.
- Features are parsed into float32 by one ``np.loadtxt`` call; only when something is
  wrong is the file scanned chunk by chunk, to name the line and the column.
- Labels are parsed exactly, never through a float: all integers -> int64; any cell
  that is not a number -> the column is class names (text, kept verbatim); a number
  that is not an integer (``2.5``) is an error naming its line.
"""
from __future__ import annotations

import codecs
import gzip
import warnings
import zlib
from pathlib import Path

import numpy as np

from ..errors import XpnnDataError, spelled
from .dataset import Dataset
from .labels import check_labels, parse_label_cells
from .npz import arrays_to_dataset, first_non_finite

LABEL_HEADER = "label"  # a header column with this name (any case) holds the labels
FEATURE_DTYPE = np.float32  # exact for pixels; CSV values are parsed straight into it
SCAN_CHUNK_LINES = 1000  # lines per np.loadtxt call when hunting for the bad line
GZIP_MAGIC = b"\x1f\x8b"


def load_csv(
    path: str | Path,
    *,
    label_column: str | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
    need_labels: bool = True,
) -> Dataset:
    """Features (n, d) float32 and labels (n,) (int64 or class names, or None) from a CSV.

    Which column holds the label, in order of precedence: ``label_column`` (by header
    name); a header column named ``label``; ``n_features`` (the model's input size:
    ``n_features`` columns means unlabeled, ``n_features + 1`` means label first);
    otherwise the first column when ``need_labels``, else no label column.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    label_column : str or None, default=None
        The label column's header name.
    n_features : int or None, default=None
        The model's input size, checked against the data.
    n_classes : int or None, default=None
        The model's class count (at predict time): labels must be below it.
    need_labels : bool, default=True
        Labels are required.

    Returns
    -------
    Dataset
        The validated data.

    Raises
    ------
    XpnnDataError
        For an empty or malformed file (naming the line), a missing label column where labels
        are needed, or features or labels that do not fit the model.
    """
    source = str(path)
    lines = _read_lines(path, source)  # [(line number, text)], blank lines dropped
    header, rows, n_columns = _header_and_rows(source, lines)
    label_index = _label_index(source, header, n_columns, label_column, n_features, need_labels)

    if label_index is None:
        if need_labels:
            raise XpnnDataError(
                f"{source}: no label column ({n_columns} columns, all features) but labels are "
                f"needed; put the label first, or name its column with {spelled('label_column')}"
            )
        features = _features(source, rows, list(range(n_columns)), header)
        return arrays_to_dataset(features, None, source, n_classes=n_classes)

    feature_columns = _feature_columns(source, n_columns, label_index, n_features)
    features = _features(source, rows, feature_columns, header)
    labels = _labels(source, rows, label_index, n_classes)
    return arrays_to_dataset(features, labels, source, n_classes=n_classes)


# ---------------------------------------------------------------- reading the text


def _read_lines(path, source) -> list[tuple[int, str]]:
    """(1-based line number, text) of every line that is not blank."""
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except FileNotFoundError as exc:
        raise XpnnDataError(f"{source}: no such file") from exc
    except OSError as exc:
        raise XpnnDataError(f"{source}: cannot read ({exc.strerror or exc})") from exc
    if content[:2] == GZIP_MAGIC:
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise XpnnDataError(
                f"{source}: corrupt or truncated gzip data ({' '.join(str(exc).split())})"
            ) from exc
    if content.startswith(codecs.BOM_UTF8):  # Excel writes one
        content = content[len(codecs.BOM_UTF8):]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = len(_split_lines(content[: exc.start].decode("utf-8")))
        raise XpnnDataError(
            f"{source}, line {line_no}: not UTF-8 text (byte 0x{content[exc.start]:02x}: "
            f"{exc.reason})"
        ) from exc
    return [(n, line) for n, line in enumerate(_split_lines(text), start=1) if line.strip()]


def _split_lines(text: str) -> list[str]:
    """Lines as a text-mode file reads them (universal newlines), without their endings."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _header(lines) -> list[str] | None:
    """The first line's cells when it is a header (a non-number above a number), else None."""
    first = _split_cells(lines[0][1])
    if all(_is_number(cell) for cell in first):
        return None
    if len(lines) == 1:
        return first
    below = _split_cells(lines[1][1])
    for cell, cell_below in zip(first, below):
        if not _is_number(cell) and _is_number(cell_below):
            return first
    return None


def _header_and_rows(source, lines) -> tuple[list[str] | None, list[tuple[int, str]], int]:
    """(header cells or None, the data rows, the column count every row must have)."""
    if not lines:
        raise XpnnDataError(f"{source}: the file is empty")
    header = _header(lines)
    rows = lines[1:] if header is not None else lines
    if not rows:
        raise XpnnDataError(f"{source}: a header row (line {lines[0][0]}) but no data rows")
    n_columns = _column_count(lines[0][1])
    for line_no, text in rows:
        found = _column_count(text)
        if found != n_columns:
            raise XpnnDataError(
                f"{source}, line {line_no}: {n_columns} columns expected, found {found}"
            )
    return header, rows, n_columns


def _label_index(source, header, n_columns, label_column, n_features, need_labels) -> int | None:
    """Which column holds the labels, or None for an unlabeled file (see load_csv)."""
    if label_column is not None:
        if header is None:
            raise XpnnDataError(
                f"{source}: label column {label_column!r} was named, but the file has no header "
                "row (its first line is data)"
            )
        if label_column not in header:
            shown = ", ".join(header[:5]) + (", ..." if len(header) > 5 else "")
            raise XpnnDataError(
                f"{source}: no column named {label_column!r} in the header (columns: {shown})"
            )
        return header.index(label_column)
    if header is not None:
        named = [col for col, name in enumerate(header) if name.lower() == LABEL_HEADER]
        if len(named) > 1:
            columns = " and ".join(str(col + 1) for col in named)
            raise XpnnDataError(
                f"{source}: columns {columns} are all named {LABEL_HEADER!r}; rename all but "
                f"one (or name the label column with {spelled('label_column')})"
            )
        if named:
            return named[0]
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


# ---------------------------------------------------------------- features and labels


def _feature_columns(source, n_columns, label_index, n_features) -> list[int]:
    """Every column but the label's; as many as the model's inputs when it has some."""
    feature_columns = [col for col in range(n_columns) if col != label_index]
    if not feature_columns:
        raise XpnnDataError(f"{source}: only a label column, no feature columns")
    if n_features is not None and len(feature_columns) != n_features:
        raise XpnnDataError(
            f"{source}: {len(feature_columns)} feature columns (besides the label), "
            f"but the model expects {n_features} features"
        )
    return feature_columns


def _features(source, rows, columns, header) -> np.ndarray:
    """The feature cells of ``rows`` as float32 (rows, len(columns)), finite."""
    texts = [text for _, text in rows]
    try:
        table = _parse(texts, columns)
    except ValueError as exc:
        problem = _first_cell_problem(rows, columns, header)
        if problem is None:  # numpy refused something the cell scan accepts
            problem = f"cannot parse as numbers ({' '.join(str(exc).split())})"
        raise XpnnDataError(f"{source}, {problem}") from exc
    if table.shape != (len(rows), len(columns)):  # e.g. a quoted comma that numpy reads as text
        raise XpnnDataError(
            f"{source}: cannot parse as a table of {len(columns)} feature columns "
            f"(found shape {table.shape})"
        )
    bad_cell = first_non_finite(table)
    if bad_cell is not None:
        row, col = bad_cell
        line_no, text = rows[row]
        cell = _cell(text, columns[col])
        overflows = _is_number(cell) and np.isfinite(float(cell))  # e.g. 1e300 in float32
        overflow = " (too large for float32)" if overflows else ""
        raise XpnnDataError(
            f"{source}, line {line_no}, {_column_name(columns[col], header)}: "
            f"{cell!r} is not a finite number{overflow}"
        )
    return table


def _parse(texts, columns) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # numpy's "input contained no data" and the like
        return np.loadtxt(texts, delimiter=",", dtype=FEATURE_DTYPE, comments=None,
                          quotechar='"', ndmin=2, usecols=columns)


def _first_cell_problem(rows, columns, header) -> str | None:
    """'line L, column C: ...' for the first feature cell that is empty or not a number.

    Chunks of lines go through np.loadtxt; only a chunk it rejects is checked cell by cell.
    """
    for start in range(0, len(rows), SCAN_CHUNK_LINES):
        chunk = rows[start:start + SCAN_CHUNK_LINES]
        try:
            _parse([text for _, text in chunk], columns)
            continue
        except ValueError:
            pass
        for line_no, text in chunk:
            cells = _split_cells(text)
            for col in columns:
                where = f"line {line_no}, {_column_name(col, header)}"
                if not cells[col]:
                    return f"{where}: empty cell"
                if not _is_number(cells[col]):
                    return f"{where}: {cells[col]!r} is not a number"
    return None


def _labels(source, rows, label_index, n_classes) -> np.ndarray:
    """The label column, parsed exactly (see ``labels.parse_label_cells``)."""
    cells = [_cell(text, label_index) for _, text in rows]
    labels, bad_index, problem = parse_label_cells(cells)
    if problem is not None:
        raise XpnnDataError(f"{source}, line {rows[bad_index][0]}: {problem}")
    return check_labels(labels, len(rows), source, n_classes,
                        where=lambda index: f"line {rows[index][0]}")


# ---------------------------------------------------------------- cells


def _column_count(text: str) -> int:
    return text.count(",") + 1


def _cell(text: str, col: int) -> str:
    """Cell ``col`` of a line (the line has at least col + 1 cells), stripped."""
    return _strip_cell(text.split(",", col + 1)[col])


def _split_cells(line: str) -> list[str]:
    return [_strip_cell(cell) for cell in line.split(",")]


def _strip_cell(cell: str) -> str:
    return cell.strip().strip('"').strip()


def _is_number(text: str) -> bool:
    """What np.loadtxt reads as a float: ASCII, no '_' (float() would take '1_0' and '١')."""
    if not text or "_" in text or not text.isascii():
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
        name += f" ({header[col]!r})" if not header[col].isprintable() else f" ({header[col]})"
    return name


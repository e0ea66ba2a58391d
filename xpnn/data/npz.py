"""NumPy ``.npz`` archives holding ``X`` (and optionally ``y``), plus the array checks
every loader shares: finite features, labels (class numbers or names), the value range.

Archives are read member by member with :mod:`zipfile` and a small ``.npy`` header
parser of our own (never pickle): the header's shape and dtype are checked against the
member's real size before anything is allocated, so a damaged header is an error, not a
728 TiB allocation.

The shared checks live here because an ``.npz`` file *is* just the two arrays; the
CSV and IDX loaders run their own format-specific checks first (to name a line or
a record) and then build their Dataset through :func:`arrays_to_dataset`.
"""
from __future__ import annotations

import ast
import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import XpnnDataError
from .dataset import Dataset
from .labels import check_labels, first_bad_label  # noqa: F401  (first_bad_label: re-export)

PIXEL_MAX = 255.0  # value_range of integer pixel data in [0, 255]


def value_range_of(features: np.ndarray) -> float:
    """The data's real range: 255 for uint8 pixels, else max |x| (1.0 if all zero).

    Kaggle's pixel CSVs reach 255; digits exported as CSV stay 0..16 and are scaled by 16.
    """
    if features.size == 0:
        return 1.0
    if features.dtype == np.uint8:
        return PIXEL_MAX
    low, high = float(features.min()), float(features.max())
    largest = max(abs(low), abs(high))
    return largest if largest > 0.0 else 1.0


def first_non_finite(features: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first NaN or inf in a 2-D array, or None when all finite."""
    if features.dtype.kind != "f":
        return None
    bad = ~np.isfinite(features)
    if not bad.any():
        return None
    row, col = np.argwhere(bad)[0]
    return int(row), int(col)



def arrays_to_dataset(
    features: np.ndarray,
    labels: np.ndarray | None,
    source: str,
    *,
    n_classes: int | None = None,
    image_shape: tuple[int, int] | None = None,
    record: str = "row",
    labels_source: str | None = None,
) -> Dataset:
    """Check host arrays and wrap them: X 2-D numeric finite, y labels (n,) or None.

    Labels are int64 class numbers or a unicode array of class names (see ``labels``).
    ``record`` names a row in error messages ("row", "record"); indices count from 0.
    """
    if features.dtype.kind == "b":
        features = features.astype(np.uint8)
    if features.dtype.kind not in "iuf":
        raise XpnnDataError(f"{source}: X has dtype {features.dtype}; expected numbers")
    if features.ndim != 2:
        raise XpnnDataError(
            f"{source}: X must be 2-D (samples, features), got shape {features.shape}"
        )
    n_samples, n_features = features.shape
    if n_samples == 0:
        raise XpnnDataError(f"{source}: no samples (X has 0 rows)")
    if n_features == 0:
        raise XpnnDataError(f"{source}: no features (X has 0 columns)")
    bad_cell = first_non_finite(features)
    if bad_cell is not None:
        row, col = bad_cell
        raise XpnnDataError(
            f"{source}, {record} {row} (from 0), feature {col}: "
            f"{features[row, col]} is not a finite number"
        )
    if labels is not None:
        labels = check_labels(labels, n_samples, source, n_classes,
                              where=lambda index: f"{record} {index} (from 0)")
    return Dataset(
        X=features,
        y=labels,
        source=source,
        value_range=value_range_of(features),
        image_shape=image_shape,
        labels_source=labels_source,
        record=record,
    )


# ---------------------------------------------------------------- reading .npz archives

NPY_MAGIC = b"\x93NUMPY"
MAX_NPY_HEADER = 10_000  # bytes; NumPy's own limit for headers it reads without trust
# np.savez writes stored members, np.savez_compressed deflated ones; nothing else is an npz
READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
DEFLATE_MAX_RATIO = 1032  # deflate cannot expand data more than this (zlib's documented bound)
# What a damaged zip can raise from zipfile / zlib (CRC, truncation, bad headers, names)
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error,
              ValueError, NotImplementedError, RuntimeError, struct.error, OverflowError)
FEATURE_KINDS, LABEL_KINDS = "biuf", "biufU"


def load_npz(
    path: str | Path,
    *,
    n_classes: int | None = None,
    need_labels: bool = True,
) -> Dataset:
    """Arrays ``X`` (n, d) or (n, h, w) and optional ``y`` (n,) from an .npz; never unpickles.

    Parameters
    ----------
    path : str or Path
        The .npz archive.
    n_classes : int or None, default=None
        The model's class count (at predict time): labels must be below it.
    need_labels : bool, default=True
        A ``y`` array is required.

    Returns
    -------
    Dataset
        The validated data; (n, h, w) images are flattened, ``image_shape`` set.

    Raises
    ------
    XpnnDataError
        For a file that is not a readable .npz, no array ``X`` (or ``y`` where needed), or
        arrays of the wrong kind or shape.
    """
    source = str(path)
    if not _is_zip(path, source):
        raise XpnnDataError(
            f"{source}: not an .npz archive (a zip of .npy arrays, as np.savez writes)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = {_array_name(info.filename): info for info in archive.infolist()}
            if "X" not in members:
                listed = ", ".join(sorted(members)) if members else "none"
                raise XpnnDataError(f"{source}: no array named 'X' (arrays found: {listed})")
            features = _read_member(archive, members["X"], source, FEATURE_KINDS)
            labels = None
            if "y" in members:
                labels = _read_member(archive, members["y"], source, LABEL_KINDS)
    except ZIP_ERRORS as exc:
        raise XpnnDataError(f"{source}: not a readable .npz archive ({_one_line(exc)})") from exc

    if labels is None and need_labels:
        raise XpnnDataError(f"{source}: no array named 'y', and labels are needed here")
    image_shape = None
    if features.ndim == 3:  # (n, h, w) images
        image_shape = (int(features.shape[1]), int(features.shape[2]))
        if features.shape[0] == 0:
            raise XpnnDataError(f"{source}: no samples (X has shape {features.shape})")
        features = features.reshape(features.shape[0], -1)
    elif features.ndim != 2:
        raise XpnnDataError(
            f"{source}: X must be 2-D (samples, features) or 3-D (samples, height, width), "
            f"got shape {features.shape}"
        )
    return arrays_to_dataset(features, labels, source, n_classes=n_classes, image_shape=image_shape)


def _array_name(member_name: str) -> str:
    return member_name[:-4] if member_name.endswith(".npy") else member_name


def _read_member(archive, info, source, kinds) -> np.ndarray:
    """One ``.npy`` member as a native, writable array; every size checked before allocating."""
    where = f"{source}, member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise XpnnDataError(f"{where}: encrypted; an .npz member must be plain")
    method = READABLE_METHODS.get(info.compress_type)
    if method is None:
        raise XpnnDataError(
            f"{where}: compression method {info.compress_type} is not one an .npz uses "
            "(stored or deflated)"
        )
    most = info.compress_size if method == "stored" else info.compress_size * DEFLATE_MAX_RATIO
    if info.file_size > most + 1024:
        raise XpnnDataError(
            f"{where}: claims {info.file_size} bytes from {info.compress_size} {method} bytes; "
            "the archive is corrupt"
        )
    with archive.open(info) as member:
        dtype, shape, fortran_order, header_size = _npy_header(member, where)
        if dtype.kind not in kinds:
            raise XpnnDataError(f"{where}: dtype {dtype} is not supported here (expected numbers"
                                + (" or text)" if "U" in kinds else ")"))
        n_bytes = math.prod(shape) * dtype.itemsize
        available = info.file_size - header_size
        if n_bytes != available:
            raise XpnnDataError(
                f"{where}: the header says shape {shape} of {dtype} ({n_bytes} bytes), "
                f"the member holds {max(available, 0)} bytes of data"
            )
        data = member.read(n_bytes + 1)  # reading to the end makes zipfile check the CRC
        if len(data) != n_bytes:
            raise XpnnDataError(
                f"{where}: {len(data)} bytes of data where the header says {n_bytes}; "
                "the archive is corrupt"
            )
    values = np.frombuffer(data, dtype=dtype)
    values = values.reshape(shape, order="F" if fortran_order else "C")
    return np.ascontiguousarray(values).astype(dtype.newbyteorder("="), copy=True)


def _npy_header(member, where) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, fortran_order, header bytes) from a .npy header, strictly checked."""
    start = member.read(len(NPY_MAGIC) + 2)
    if len(start) < len(NPY_MAGIC) + 2 or start[: len(NPY_MAGIC)] != NPY_MAGIC:
        raise XpnnDataError(f"{where}: not a .npy array (no NumPy magic at its start)")
    major = start[len(NPY_MAGIC)]
    length_format = {1: "<H", 2: "<I", 3: "<I"}.get(major)
    if length_format is None:
        raise XpnnDataError(f"{where}: unknown .npy format version {major}")
    length_bytes = member.read(struct.calcsize(length_format))
    if len(length_bytes) != struct.calcsize(length_format):
        raise XpnnDataError(f"{where}: truncated .npy header")
    (header_length,) = struct.unpack(length_format, length_bytes)
    if header_length > MAX_NPY_HEADER:
        raise XpnnDataError(f"{where}: .npy header of {header_length} bytes; not a plain array")
    raw = member.read(header_length)
    if len(raw) != header_length:
        raise XpnnDataError(f"{where}: truncated .npy header")
    header = _header_dict(raw, major, where)
    descr, shape, fortran_order = header["descr"], header["shape"], header["fortran_order"]
    if not isinstance(descr, str):
        raise XpnnDataError(f"{where}: a structured array; expected plain numbers")
    if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
        raise XpnnDataError(f"{where}: bad shape {shape!r} in the .npy header")
    if not isinstance(fortran_order, bool):
        raise XpnnDataError(f"{where}: bad fortran_order {fortran_order!r} in the .npy header")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError) as exc:
        raise XpnnDataError(f"{where}: bad dtype {descr!r} in the .npy header") from exc
    if dtype.hasobject:
        raise XpnnDataError(f"{where}: cannot read the arrays safely (dtype {descr!r} holds "
                            "objects, which would need pickle; never used here)")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.itemsize == 0:
        raise XpnnDataError(f"{where}: dtype {descr!r} is not plain numbers or text")
    return dtype, shape, fortran_order, len(start) + len(length_bytes) + header_length


def _header_dict(raw: bytes, major: int, where) -> dict:
    try:
        text = raw.decode("utf-8" if major >= 3 else "latin1")
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise XpnnDataError(f"{where}: unreadable .npy header") from exc
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise XpnnDataError(f"{where}: unreadable .npy header")
    return header


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _is_zip(path, source) -> bool:
    try:
        with open(path, "rb") as raw:
            return raw.read(4) in (b"PK\x03\x04", b"PK\x05\x06")  # a zip, or an empty zip
    except FileNotFoundError as exc:
        raise XpnnDataError(f"{source}: no such file") from exc
    except OSError as exc:
        raise XpnnDataError(f"{source}: cannot read ({exc.strerror or exc})") from exc

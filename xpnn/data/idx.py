"""IDX files, the MNIST / Fashion-MNIST format, raw or gzip-compressed.

An IDX file is a 4-byte magic (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values, row-major.
Images are 0x0803 (uint8, 3 dims), labels 0x0801 (uint8, 1 dim).
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import XpnnDataError
from .dataset import Dataset
from .labels import first_bad_label
from .npz import arrays_to_dataset

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian dtype, as the format defines them
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# split -> (images stem, labels stem) of the four standard files
SPLIT_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def has_idx_magic(path: str | Path) -> bool:
    """True when the file (raw or gzip) starts like an IDX file; never raises."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(4)
        if head[:2] == GZIP_MAGIC:
            with gzip.open(path, "rb") as unzipped:
                head = unzipped.read(4)
    except (OSError, EOFError, zlib.error):
        return False
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in IDX_DTYPES and head[3] > 0


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in one IDX file (gzip detected by content), native byte order."""
    return parse_idx(_read_bytes(path), str(path))


def parse_idx(content: bytes, source: str) -> np.ndarray:
    """Decode IDX bytes; the header's sizes must match the data exactly."""
    if len(content) < 4:
        raise XpnnDataError(f"{source}: {len(content)} bytes is too short for an IDX header")
    zeros, type_code, n_dims = content[:2], content[2], content[3]
    if zeros != b"\0\0" or type_code not in IDX_DTYPES or n_dims == 0:
        raise XpnnDataError(
            f"{source}: bad magic number 0x{content[:4].hex()}; not an IDX file "
            "(expected 0x00000801 for labels or 0x00000803 for images)"
        )
    header_size = 4 + 4 * n_dims
    if len(content) < header_size:
        raise XpnnDataError(
            f"{source}: truncated header: {n_dims} dimensions need {header_size} bytes, "
            f"the file has {len(content)}"
        )
    dims = struct.unpack(f">{n_dims}I", content[4:header_size])
    dtype = IDX_DTYPES[type_code]
    n_values = math.prod(dims)
    expected_bytes = n_values * dtype.itemsize
    found_bytes = len(content) - header_size
    shape_text = " x ".join(str(d) for d in dims)
    if found_bytes < expected_bytes:
        raise XpnnDataError(
            f"{source}: truncated: the header says {shape_text} values ({expected_bytes} bytes), "
            f"the file has {found_bytes} bytes of data"
        )
    if found_bytes > expected_bytes:
        raise XpnnDataError(
            f"{source}: size mismatch: the header says {shape_text} values "
            f"({expected_bytes} bytes), the file has {found_bytes - expected_bytes} bytes more"
        )
    values = np.frombuffer(content, dtype=dtype, count=n_values, offset=header_size)
    return values.reshape(dims).astype(dtype.newbyteorder("="))  # a native, writable copy


def load_idx(
    images_path: str | Path,
    labels_path: str | Path | None = None,
    *,
    n_classes: int | None = None,
) -> Dataset:
    """Images (n, rows, cols) flattened to (n, rows*cols), with labels (n,) when given.

    Parameters
    ----------
    images_path : str or Path
        The IDX images file, raw or gzip.
    labels_path : str or Path or None, default=None
        The IDX labels file, or None: no labels.
    n_classes : int or None, default=None
        The model's class count (at predict time): labels must be below it.

    Returns
    -------
    Dataset
        The validated data (the file's dtype, uint8 for pixels; ``image_shape`` set for
        3-D images).

    Raises
    ------
    XpnnDataError
        For a corrupt or truncated file, a labels file where images were expected (or the
        reverse), or labels that do not match the images in count or type.
    """
    features, image_shape = _idx_images(images_path)
    labels = None
    if labels_path is not None:
        labels = _idx_labels(labels_path, images_path, len(features), n_classes)
    source = str(images_path)
    return arrays_to_dataset(
        features, labels, source, n_classes=n_classes, image_shape=image_shape, record="record",
        labels_source=None if labels_path is None else str(labels_path))


def _idx_images(images_path: str | Path) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The images flattened to (n, rows*cols), and (rows, cols) when the file is 3-D."""
    images = read_idx(images_path)
    if images.ndim < 2:
        raise XpnnDataError(
            f"{images_path}: holds labels (1 dimension), not images; pass the images file"
        )
    n_images = images.shape[0]
    if n_images == 0:
        raise XpnnDataError(f"{images_path}: the header says 0 images; there is nothing to load")
    image_shape = (int(images.shape[1]), int(images.shape[2])) if images.ndim == 3 else None
    return images.reshape(n_images, -1), image_shape


def _idx_labels(labels_path: str | Path, images_path: str | Path, n_images: int,
                n_classes: int | None) -> np.ndarray:
    """The labels (n,), one integer per image, each a valid class."""
    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise XpnnDataError(
            f"{labels_path}: expected labels (1 dimension), found {labels.ndim} dimensions"
        )
    if labels.dtype.kind not in "iu":
        raise XpnnDataError(
            f"{labels_path}: labels stored as {labels.dtype}; expected an integer type"
        )
    if labels.shape[0] != n_images:
        raise XpnnDataError(
            f"{labels_path}: {labels.shape[0]} labels for {n_images} images in {images_path}; "
            "the counts must match"
        )
    bad_label = first_bad_label(labels, n_classes)
    if bad_label is not None:
        index, problem = bad_label
        raise XpnnDataError(f"{labels_path}, record {index} (from 0): {problem}")
    return labels


def find_idx_file(directory: str | Path, stem: str) -> Path | None:
    """``stem`` in ``directory``, raw or .gz, or spelled with a dot (train-images.idx3-ubyte)."""
    directory = Path(directory)
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def missing_idx_files(directory: str | Path) -> list[str]:
    """Names of the four standard files not found in ``directory`` (raw or .gz)."""
    stems = [stem for pair in SPLIT_STEMS.values() for stem in pair]
    return [stem + ".gz" for stem in stems if find_idx_file(directory, stem) is None]


def load_idx_dir(
    directory: str | Path, *, n_classes: int | None = None
) -> tuple[Dataset, Dataset]:
    """(train, test) from a directory holding the four standard MNIST-style files.

    Parameters
    ----------
    directory : str or Path
        Holds train-images, train-labels, t10k-images, t10k-labels (raw or .gz).
    n_classes : int or None, default=None
        The model's class count (at predict time): labels must be below it.

    Returns
    -------
    train, test : Dataset
        The two splits.

    Raises
    ------
    XpnnDataError
        For a missing file, a bad one, or splits whose image sizes differ.
    """
    missing = missing_idx_files(directory)
    if missing:
        raise XpnnDataError(
            f"{directory}: missing {', '.join(missing)} (raw or .gz); an IDX directory needs "
            "the four files train-images, train-labels, t10k-images, t10k-labels"
        )
    splits = []
    for images_stem, labels_stem in (SPLIT_STEMS["train"], SPLIT_STEMS["test"]):
        splits.append(
            load_idx(
                find_idx_file(directory, images_stem),
                find_idx_file(directory, labels_stem),
                n_classes=n_classes,
            )
        )
    train, test = splits
    if train.n_features != test.n_features:
        raise XpnnDataError(
            f"{directory}: train images have {train.n_features} pixels, test images "
            f"{test.n_features}; they must match"
        )
    return train, test


def labels_file_beside(images_path: str | Path) -> Path | None:
    """The labels file matching an images file (``*-images-idx3*`` -> ``*-labels-idx1*``)."""
    images_path = Path(images_path)
    name = images_path.name.removesuffix(".gz")
    if "images" not in name:
        return None
    stem = name.replace("images", "labels").replace("idx3", "idx1")
    for candidate_name in (stem, stem + ".gz"):
        candidate = images_path.with_name(candidate_name)
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed when it is gzip; damage becomes XpnnDataError."""
    try:
        with open(path, "rb") as raw:
            content = raw.read()
    except FileNotFoundError as exc:
        raise XpnnDataError(f"{path}: no such file") from exc
    except OSError as exc:
        raise XpnnDataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if content[:2] != GZIP_MAGIC:
        return content
    try:
        return gzip.decompress(content)
    except EOFError as exc:
        raise XpnnDataError(f"{path}: corrupt gzip: the compressed data is truncated") from exc
    except (OSError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise XpnnDataError(f"{path}: corrupt gzip ({exc})") from exc

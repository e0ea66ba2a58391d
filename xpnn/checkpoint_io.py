"""Host-side checkpoint files: NumPy arrays + JSON metadata in one safetensors file.

The file is plain safetensors (readable by ``safetensors.numpy.load_file`` and any
other safetensors tool; never pickle). The header's ``__metadata__`` holds
``format="xpnn"``, ``format_version="1"`` and ``xpnn=<one JSON string>`` with the
caller's metadata. Writes are atomic: a crash or Ctrl-C mid-save leaves the
previous file byte-identical. Device arrays are converted to NumPy by the caller.
"""
from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile

import numpy as np

from xpnn.errors import XpnnCheckpointError

FORMAT_NAME = "xpnn"
FORMAT_VERSION = 1

_METADATA_KEY = "xpnn"
_HEADER_LEN_BYTES = 8  # little-endian u64 length of the JSON header that follows
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit; larger means "not safetensors"
# dtypes safetensors.numpy can write and read back (numpy dtype names).
_SUPPORTED_DTYPES = {
    "float64", "float32", "float16", "int64", "uint64", "int32", "uint32",
    "int16", "uint16", "int8", "uint8", "bool", "complex64",
}


# --------------------------------------------------------------------------- save


def save_checkpoint(path, tensors: dict[str, np.ndarray], metadata: dict) -> None:
    """Write ``tensors`` and JSON-serialisable ``metadata`` to ``path`` atomically."""
    path = os.fspath(path)
    tensors = _checked_tensors(path, tensors)
    metadata_json = _metadata_to_json(path, metadata)

    from safetensors.numpy import save as safetensors_save

    header_metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        _METADATA_KEY: metadata_json,
    }
    file_bytes = safetensors_save(tensors, metadata=header_metadata)

    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise XpnnCheckpointError(
            f"cannot save checkpoint {path}: directory {parent} does not exist; create it first"
        )
    try:
        write_file_atomic(path, file_bytes)
    except OSError as err:
        raise XpnnCheckpointError(
            f"cannot save checkpoint {path}: {err.strerror or err}; "
            "any previous checkpoint there is unchanged"
        ) from err


def write_file_atomic(path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never half.

    Writes a temp file in the same directory, fsyncs it, ``os.replace``s it onto
    ``path`` and fsyncs the directory. On any exception (KeyboardInterrupt too) the
    temp file is removed and the exception re-raised; ``path`` is then untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _mode_for(path)
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            tmp_file.write(data)
            tmp_file.flush()
            os.fsync(tmp_file.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    _fsync_directory(directory)


def _mode_for(path):
    """Keep an existing file's permissions; new files get rw-r--r-- (mkstemp would give rw-------)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o644


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX only; Windows cannot open directories)."""
    if os.name != "posix":
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _checked_tensors(path, tensors):
    """Validate names and dtypes; return C-contiguous arrays (safetensors copies raw memory)."""
    if not isinstance(tensors, dict):
        raise XpnnCheckpointError(
            f"cannot save checkpoint {path}: tensors must be a dict of name -> numpy array, "
            f"got {type(tensors).__name__}"
        )
    checked = {}
    for name, array in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise XpnnCheckpointError(
                f"cannot save checkpoint {path}: tensor name {name!r} is not allowed "
                "(use a non-empty string other than '__metadata__')"
            )
        if not isinstance(array, np.ndarray):
            raise XpnnCheckpointError(
                f"cannot save checkpoint {path}: tensor {name!r} is a {type(array).__name__}, "
                "not a numpy array; move it to the host first"
            )
        if array.dtype.name not in _SUPPORTED_DTYPES:
            raise XpnnCheckpointError(
                f"cannot save checkpoint {path}: tensor {name!r} has dtype {array.dtype}, "
                f"which safetensors cannot store (use one of {sorted(_SUPPORTED_DTYPES)})"
            )
        # Not np.ascontiguousarray: it turns 0-d arrays into shape (1,).
        checked[name] = array if array.flags.c_contiguous else array.copy(order="C")
    return checked


def _metadata_to_json(path, metadata):
    if not isinstance(metadata, dict):
        raise XpnnCheckpointError(
            f"cannot save checkpoint {path}: metadata must be a dict, got {type(metadata).__name__}"
        )
    try:
        return json.dumps(metadata)
    except (TypeError, ValueError) as err:
        raise XpnnCheckpointError(
            f"cannot save checkpoint {path}: metadata is not JSON-serialisable ({err}); "
            "convert numpy scalars/arrays to Python ints, floats and lists"
        ) from err


# --------------------------------------------------------------------------- load


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by ``save_checkpoint``: (tensors as writable arrays, metadata)."""
    path = os.fspath(path)
    file_bytes = _read_file(path)
    header = _parse_header(path, file_bytes)
    metadata = _xpnn_metadata(path, header)

    from safetensors.numpy import load as safetensors_load

    try:
        views = safetensors_load(file_bytes)
    except Exception as err:  # safetensors raises its own SafetensorError
        raise XpnnCheckpointError(
            f"checkpoint {path} is corrupt ({err}); re-save it or use an earlier checkpoint"
        ) from err
    tensors = {name: np.array(view, copy=True) for name, view in views.items()}
    return tensors, metadata


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise XpnnCheckpointError(
            f"checkpoint {path} does not exist; check the path or train a model first"
        ) from None
    except IsADirectoryError:
        raise XpnnCheckpointError(
            f"checkpoint {path} is a directory, not a file; give the checkpoint file's path"
        ) from None
    except OSError as err:
        raise XpnnCheckpointError(
            f"cannot read checkpoint {path}: {err.strerror or err}"
        ) from err


def _parse_header(path, file_bytes):
    """Check the layout by hand so truncation and foreign files get a clear message.

    Layout: u64 header length N, N bytes of JSON, then the tensor data whose
    extent the header's ``data_offsets`` give.
    """
    size = len(file_bytes)
    not_safetensors = XpnnCheckpointError(
        f"{path} is not a safetensors checkpoint (unrecognised header); "
        "give a checkpoint file saved by xpnn"
    )
    if size < _HEADER_LEN_BYTES:
        if size == 0:
            raise XpnnCheckpointError(
                f"checkpoint {path} is empty (0 bytes); the save was interrupted, "
                "use an earlier checkpoint"
            )
        raise not_safetensors
    (header_len,) = struct.unpack("<Q", file_bytes[:_HEADER_LEN_BYTES])
    header_start = _HEADER_LEN_BYTES
    if header_len == 0 or header_len > _MAX_HEADER_BYTES:
        raise not_safetensors
    if file_bytes[header_start:header_start + 1] != b"{":
        raise not_safetensors
    data_start = header_start + header_len
    if data_start > size:
        raise _truncated(path, expected=data_start, actual=size)
    try:
        header = json.loads(file_bytes[header_start:data_start].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise not_safetensors from None
    if not isinstance(header, dict):
        raise not_safetensors

    data_len = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            _begin, end = entry["data_offsets"]
            data_len = max(data_len, int(end))
        except (TypeError, KeyError, ValueError):
            raise not_safetensors from None
    expected_size = data_start + data_len
    if expected_size > size:
        raise _truncated(path, expected=expected_size, actual=size)
    if expected_size < size:
        raise XpnnCheckpointError(
            f"checkpoint {path} has {size - expected_size} unexpected bytes after the tensor data; "
            "it is corrupt, use an earlier checkpoint"
        )
    return header


def _truncated(path, *, expected, actual):
    return XpnnCheckpointError(
        f"checkpoint {path} is truncated ({actual} of {expected} bytes); "
        "the save or copy was interrupted, use an earlier checkpoint"
    )


def _xpnn_metadata(path, header):
    """The caller's metadata dict, after checking this is an xpnn file we can read."""
    header_metadata = header.get("__metadata__") or {}
    if not isinstance(header_metadata, dict) or header_metadata.get("format") != FORMAT_NAME:
        raise XpnnCheckpointError(
            f"{path} is a safetensors file but not an xpnn checkpoint (no xpnn metadata); "
            "give a checkpoint saved by xpnn"
        )
    version_text = header_metadata.get("format_version")
    try:
        version = int(version_text)
    except (TypeError, ValueError):
        raise XpnnCheckpointError(
            f"checkpoint {path} has an unreadable format_version {version_text!r}; "
            "it is corrupt, use an earlier checkpoint"
        ) from None
    if version > FORMAT_VERSION:
        raise XpnnCheckpointError(
            f"checkpoint {path} was written by a newer xpnn (format {version}); "
            f"this xpnn reads format {FORMAT_VERSION} or older: upgrade xpnn"
        )
    if _METADATA_KEY not in header_metadata:
        raise XpnnCheckpointError(
            f"checkpoint {path} has no '{_METADATA_KEY}' metadata entry; "
            "it is corrupt, use an earlier checkpoint"
        )
    try:
        metadata = json.loads(header_metadata[_METADATA_KEY])
    except (TypeError, ValueError) as err:
        raise XpnnCheckpointError(
            f"checkpoint {path} has corrupt metadata JSON ({err}); "
            "it is corrupt, use an earlier checkpoint"
        ) from None
    if not isinstance(metadata, dict):
        raise XpnnCheckpointError(
            f"checkpoint {path} has metadata that is a {type(metadata).__name__}, not an object; "
            "it is corrupt, use an earlier checkpoint"
        )
    return metadata

"""Host-side checkpoint files: NumPy arrays + JSON metadata in one safetensors file.

The file is plain safetensors (readable by ``safetensors.numpy.load_file`` and any
other safetensors tool; never pickle). The header's ``__metadata__`` holds
``format="xpnn"``, ``format_version="2"`` and ``xpnn=<one JSON string>`` with the
caller's metadata, and ``xpnn_sha256``: an integrity record, the SHA-256 digest of
every tensor's name, dtype, shape and bytes and of the other metadata entries. Loading
parses the safetensors layout itself (every offset, shape and dtype checked against
the file's real size before any array is built), verifies the digest when the file has
one (files saved before it existed still load) and refuses non-finite float tensors:
any byte sequence ends in the arrays or in one XpnnCheckpointError. Writes are atomic:
a crash or Ctrl-C mid-save leaves the previous file byte-identical. Device arrays are
converted to NumPy by the caller.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct

import numpy as np

from ..errors import XpnnCheckpointError
from .fileio import write_file_atomic

FORMAT_NAME = "xpnn"
FORMAT_VERSION = 2  # 2: scikit-learn's parameter names, MLPRegressor
OLDEST_FORMAT = 2  # format 1: development versions before the first release, not read

_METADATA_KEY = "xpnn"
_DIGEST_KEY = "xpnn_sha256"
_HEADER_LEN_BYTES = 8  # little-endian u64 length of the JSON header that follows
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit; larger means "not safetensors"
# dtypes safetensors.numpy can write and read back (numpy dtype names).
_SUPPORTED_DTYPES = {
    "float64", "float32", "float16", "int64", "uint64", "int32", "uint32",
    "int16", "uint16", "int8", "uint8", "bool", "complex64",
}
# safetensors' dtype codes -> little-endian numpy dtypes (the ones above)
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "U64": "<u8", "I32": "<i4",
    "U32": "<u4", "I16": "<i2", "U16": "<u2", "I8": "i1", "U8": "u1", "BOOL": "?", "C64": "<c8",
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
    header_metadata[_DIGEST_KEY] = integrity_digest(tensors, header_metadata)
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
        non_finite = _first_non_finite(array)
        if non_finite is not None:
            raise XpnnCheckpointError(
                f"cannot save checkpoint {path}: tensor {name!r} holds {non_finite} values; "
                "a checkpoint keeps finite numbers only (it would be refused on load)"
            )
        if array.dtype.byteorder == ">":  # safetensors is little-endian
            array = array.astype(array.dtype.newbyteorder("<"))
        # Not np.ascontiguousarray: it turns 0-d arrays into shape (1,).
        checked[name] = array if array.flags.c_contiguous else array.copy(order="C")
    return checked


def integrity_digest(tensors: dict[str, np.ndarray], header_metadata: dict) -> str:
    """SHA-256 (hex) of every tensor's name, dtype, shape and bytes, then of the metadata.

    Tensors go in name order, each as length-prefixed fields, so no two different
    checkpoints hash the same bytes; the metadata (every ``__metadata__`` entry except
    the digest itself) as canonical JSON.
    """
    digest = hashlib.sha256(b"xpnn-checkpoint-v1\0")
    for name in sorted(tensors):
        array = tensors[name]
        fields = (name.encode("utf-8"), array.dtype.name.encode(), json.dumps(array.shape).encode(),
                  np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())
        for field in fields:
            digest.update(len(field).to_bytes(8, "little"))
            digest.update(field)
    rest = {key: value for key, value in header_metadata.items() if key != _DIGEST_KEY}
    digest.update(json.dumps(rest, sort_keys=True, ensure_ascii=True).encode())
    return digest.hexdigest()


def _first_non_finite(array) -> str | None:
    """'NaN' or 'infinite' when a float/complex array holds such a value, else None."""
    if array.dtype.kind not in "fc" or array.size == 0:
        return None
    if np.isnan(array).any():
        return "NaN"
    if np.isinf(array).any():
        return "infinite"
    return None


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
    """Read a file written by ``save_checkpoint``: (tensors as writable arrays, metadata).

    Any content ends in the arrays or in one XpnnCheckpointError: the layout is checked
    entry by entry, the integrity record (when present) verified, and every float
    tensor must be finite.
    """
    path = os.fspath(path)
    file_bytes = _read_file(path)
    header, data_start = _parse_header(path, file_bytes)
    metadata = _xpnn_metadata(path, header)
    tensors = {}
    for name, (dtype, shape, begin, _end) in _tensor_entries(path, header).items():
        count = math.prod(shape)
        flat = np.frombuffer(file_bytes, dtype=dtype, count=count, offset=data_start + begin)
        tensors[name] = flat.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    _verify_digest(path, header["__metadata__"], tensors)
    for name, array in tensors.items():
        non_finite = _first_non_finite(array)
        if non_finite is not None:
            raise XpnnCheckpointError(
                f"checkpoint {path}: tensor {name!r} holds {non_finite} values; "
                "it is corrupt, use an earlier checkpoint"
            )
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
    """(header dict, offset of the data) after checking the layout by hand.

    Layout: u64 header length N, N bytes of JSON, then the tensor data whose extent the
    header's ``data_offsets`` give. Truncation and foreign files get a clear message.
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
        header = json.loads(file_bytes[header_start:data_start].decode("utf-8"),
                            object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
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
        except (TypeError, KeyError, ValueError, OverflowError):
            raise not_safetensors from None
    expected_size = data_start + data_len
    if expected_size > size:
        raise _truncated(path, expected=expected_size, actual=size)
    if expected_size < size:
        raise XpnnCheckpointError(
            f"checkpoint {path} has {size - expected_size} unexpected bytes after the tensor data; "
            "it is corrupt, use an earlier checkpoint"
        )
    return header, data_start


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key in the header")  # one name, two tensors: corrupt
    return dict(pairs)


def _tensor_entries(path, header) -> dict[str, tuple[np.dtype, tuple[int, ...], int, int]]:
    """name -> (dtype, shape, begin, end), every entry consistent with the data it covers.

    The entries must tile the data exactly, as safetensors writes them: in order, from
    0, without gaps or overlaps, each exactly as long as its shape and dtype say.
    """
    def corrupt(name, what):
        return XpnnCheckpointError(
            f"checkpoint {path} is corrupt: tensor {name!r} {what}; use an earlier checkpoint"
        )

    entries = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise corrupt(name, "has a malformed header entry")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in _SAFETENSORS_DTYPES:
            raise corrupt(name, f"has dtype {code!r}, which xpnn does not read")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            raise corrupt(name, f"has a bad shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise corrupt(name, f"has bad data offsets {offsets!r}")
        dtype = np.dtype(_SAFETENSORS_DTYPES[code])
        n_bytes = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != n_bytes:
            raise corrupt(name, f"has {offsets[1] - offsets[0]} bytes of data where its shape "
                                f"{tuple(shape)} of {code} needs {n_bytes}")
        entries[name] = (dtype, tuple(shape), offsets[0], offsets[1])
    position = 0
    for name, (_dtype, _shape, begin, end) in sorted(entries.items(), key=lambda e: e[1][2:]):
        if begin != position:
            raise corrupt(name, f"starts at byte {begin} of the data, not {position} "
                                "(overlapping or missing data)")
        position = end
    return entries


def _verify_digest(path, header_metadata, tensors) -> None:
    """Compare the integrity record with the content; files saved without one pass."""
    recorded = header_metadata.get(_DIGEST_KEY)
    if recorded is None:
        return
    if recorded != integrity_digest(tensors, header_metadata):
        raise XpnnCheckpointError(
            f"{path}: checkpoint is corrupt (checksum mismatch: its tensors or metadata "
            "changed after it was saved); use an earlier checkpoint"
        )


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
    if not all(isinstance(value, str) for value in header_metadata.values()):
        raise XpnnCheckpointError(
            f"checkpoint {path} has header metadata that is not all text; "
            "it is corrupt, use an earlier checkpoint"
        )
    version_text = header_metadata.get("format_version")
    try:
        version = int(version_text)
        if version < 1 or version_text != str(version):
            raise ValueError(version_text)
    except (TypeError, ValueError):
        raise XpnnCheckpointError(
            f"checkpoint {path} has an unreadable format_version {version_text!r}; "
            "it is corrupt, use an earlier checkpoint"
        ) from None
    if version < OLDEST_FORMAT:
        raise XpnnCheckpointError(
            f"checkpoint {path} is format {version}, written by a development version of "
            f"xpnn before its first release; this xpnn reads format {OLDEST_FORMAT}"
            + (f" to {FORMAT_VERSION}" if FORMAT_VERSION > OLDEST_FORMAT else "")
            + ": train the model again"
        )
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
    except (TypeError, ValueError, RecursionError) as err:
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

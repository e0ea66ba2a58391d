"""Small data files for the data-loader tests: IDX (raw/gzip), CSV, and their digests."""
from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}

STANDARD_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: magic, big-endian dims, big-endian values."""
    array = np.asarray(array)
    type_code = IDX_TYPE_CODES[array.dtype]
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_bytes(path: Path, content: bytes, *, gz: bool = False) -> Path:
    """Write ``content`` (gzip-compressed with a fixed mtime when ``gz``) and return the path."""
    if gz:
        content = gzip.compress(content, mtime=0)
    path.write_bytes(content)
    return path


def write_idx(path: Path, array: np.ndarray, *, gz: bool = False) -> Path:
    return write_bytes(path, idx_bytes(array), gz=gz)


def make_images(rng: np.random.Generator, n: int, rows: int = 4, cols: int = 3) -> np.ndarray:
    return rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def make_labels(rng: np.random.Generator, n: int, n_classes: int = 10) -> np.ndarray:
    return rng.integers(0, n_classes, size=n, dtype=np.uint8)


def write_idx_dir(directory: Path, *, gz: bool = True, n_train: int = 12, n_test: int = 5,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """The four standard MNIST-style files in ``directory``; returns the arrays by role."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": make_images(rng, n_train),
        "train_labels": make_labels(rng, n_train),
        "test_images": make_images(rng, n_test),
        "test_labels": make_labels(rng, n_test),
    }
    for role, array in arrays.items():
        name = STANDARD_NAMES[role] + (".gz" if gz else "")
        write_idx(directory / name, array, gz=gz)
    return arrays


def write_csv(path: Path, rows, header=None) -> Path:
    """Rows of cells (numbers or strings) as comma-separated lines, header first if given."""
    lines = [] if header is None else [",".join(header)]
    lines += [",".join(str(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def kaggle_header(n_pixels: int, labeled: bool = True) -> list[str]:
    return (["label"] if labeled else []) + [f"pixel{i}" for i in range(n_pixels)]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- mutation fuzzing

MUTATION_KINDS = ("flip", "set", "insert", "delete", "truncate", "duplicate", "cell")
# what a "cell" mutation writes over one CSV cell: edge values a loader must get right
CELL_TOKENS = (b"0", b"2", b"255", b"1e39", b"1e-40", b"nan", b"-inf", b"-1", b"2.5", b"2.0",
               b"16777217", b"cat", b"", b" ", b"label", b'"7"', b"1_0", b"9" * 25, b"\xff")


def mutate(content: bytes, operations) -> bytes:
    """Apply byte-level ``operations`` in order: (kind, position, payload bytes).

    ``position`` wraps around the current length; ``payload`` gives the bytes inserted
    or written (its first byte is the XOR mask for a flip, never 0).
    """
    data = bytearray(content)
    for kind, position, payload in operations:
        at = position % (len(data) + 1)
        if kind == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= payload[0] or 0x01
        elif kind == "set" and data:
            at = min(at, len(data) - 1)
            data[at:at + len(payload)] = payload[: len(data) - at]
        elif kind == "insert":
            data[at:at] = payload
        elif kind == "delete":
            del data[at:at + len(payload)]
        elif kind == "truncate":
            del data[at:]
        elif kind == "duplicate":  # a chunk repeated in place: records counted twice
            data[at:at] = data[at:at + 4 * len(payload)]
        elif kind == "cell":  # the text between the separators around ``at`` replaced
            start = max(data.rfind(b",", 0, at), data.rfind(b"\n", 0, at)) + 1
            ends = [end for end in (data.find(b",", at), data.find(b"\n", at)) if end >= 0]
            data[start:min(ends, default=len(data))] = payload
    return bytes(data)


TEXT_BYTES = np.frombuffer(b"0123456789,.-+e \n\r\"ax", dtype=np.uint8)


def random_operations(rng: np.random.Generator, length: int, max_operations: int = 3,
                      text: bool = False):
    """1..max_operations random mutations for a file of ``length`` bytes (seeded).

    ``text``: half the mutations replace a CSV cell with an edge value (CELL_TOKENS), most
    others write CSV-like characters: they reach deeper into a CSV parser than random
    bytes, which mostly break UTF-8.
    """
    operations = []
    for _ in range(int(rng.integers(1, max_operations + 1))):
        kind = MUTATION_KINDS[int(rng.integers(len(MUTATION_KINDS)))]
        position = int(rng.integers(0, max(length, 1) + 1))
        size = int(rng.integers(1, 9))
        if text and rng.random() < 0.5:
            kind = "cell"
            payload = CELL_TOKENS[int(rng.integers(len(CELL_TOKENS)))]
        elif text and rng.random() < 0.6:
            payload = rng.choice(TEXT_BYTES, size=size).tobytes()
            if kind == "flip":  # a flip that keeps ASCII: low bits only
                payload = bytes([int(rng.integers(1, 8))])
        else:
            payload = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        operations.append((kind, position, payload))
    return operations


def fuzz_seed_arrays(seed: int = 0, n: int = 30):
    """Images (n, 4, 3) uint8 and labels 0..2 (n,): the content every seed file shares."""
    rng = np.random.default_rng(seed)
    images = make_images(rng, n)
    labels = (np.arange(n) % 3).astype(np.uint8)
    return images, labels


def csv_bytes(images: np.ndarray, labels: np.ndarray | None) -> bytes:
    """Kaggle-style CSV: header, then label (when given) and pixels per row."""
    pixels = images.reshape(images.shape[0], -1)
    header = kaggle_header(pixels.shape[1], labeled=labels is not None)
    lines = [",".join(header)]
    for i, row in enumerate(pixels):
        cells = ([str(int(labels[i]))] if labels is not None else []) + [str(int(v)) for v in row]
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def npz_bytes(tmp_dir: Path, compressed: bool = False, **arrays) -> bytes:
    path = Path(tmp_dir) / "seed.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path.read_bytes()

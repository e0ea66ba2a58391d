"""Files that appear whole or not at all: a temp file beside the target, fsync, os.replace.

A reader sees the old file or the new one, never half of one; a crash or Ctrl-C
mid-write leaves the old file byte-identical and no temp file behind. The bottom
layer: nothing here imports the rest of xpnn.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

_NEW_FILE_MODE = 0o644  # rw-r--r--, what a plain open() gives under the usual umask


def write_file_atomic(path, data: bytes) -> None:
    """Replace ``path`` with ``data``: written beside it, fsynced, then renamed onto it.

    On any exception (KeyboardInterrupt too) the temp file is removed and the
    exception re-raised; ``path`` is then untouched.
    """
    path = os.fspath(path)
    fd, temp = _make_temp(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as temp_file:
            temp_file.write(data)
            flush_to_disk(temp_file)
        move_into_place(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_directory(os.path.dirname(os.path.abspath(path)))


def temp_path_beside(target, suffix: str = ".tmp") -> Path:
    """A new empty file ``.<name>.XXXX<suffix>`` in ``target``'s directory, for a streamed write.

    Same directory, so same filesystem: ``move_into_place`` is then an atomic rename.
    The caller removes it if the write fails.
    """
    fd, temp = _make_temp(os.fspath(target), suffix)
    os.close(fd)
    return Path(temp)


def flush_to_disk(file) -> None:
    """Flush Python's buffer and fsync, so the bytes are on disk before a rename publishes them."""
    file.flush()
    os.fsync(file.fileno())


def move_into_place(temp, target) -> None:
    """Rename the finished ``temp`` onto ``target``, keeping target's permissions (new: 0644)."""
    os.chmod(temp, _mode_for(target))
    os.replace(temp, target)


def fsync_directory(directory) -> None:
    """Make renames in ``directory`` durable, where the platform can open and fsync a directory."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # some filesystems refuse fsync on a directory; the rename is done anyway
        pass
    finally:
        os.close(dir_fd)


def _make_temp(path: str, suffix: str):
    """(fd, path) of a new file ``.<name>.XXXX<suffix>`` beside ``path`` (mode 0600 until moved)."""
    directory = os.path.dirname(os.path.abspath(path))
    return tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=suffix)


def _mode_for(path) -> int:
    """An existing file's permission bits; a new file gets rw-r--r-- (mkstemp would give rw-------)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return _NEW_FILE_MODE

"""fileio: whole files or none, permissions as a plain write gives them, temp files cleaned up."""
import os

import pytest

from xpnn.files import fileio


def test_new_file_is_rw_r__r__(tmp_path):
    path = tmp_path / "out.csv"
    fileio.write_file_atomic(path, b"a,b\n")
    assert path.read_bytes() == b"a,b\n"
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_replacing_keeps_the_old_permissions(tmp_path):
    path = tmp_path / "out.csv"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    fileio.write_file_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["out.csv"]


def test_streamed_temp_moves_into_place(tmp_path):
    target = tmp_path / "data.gz"
    temp = fileio.temp_path_beside(target, suffix=".part")
    assert temp.parent == tmp_path and temp.name.startswith(".data.gz.") and temp.suffix == ".part"
    with open(temp, "wb") as out:
        out.write(b"payload")
        fileio.flush_to_disk(out)
    fileio.move_into_place(temp, target)
    fileio.fsync_directory(tmp_path)
    assert target.read_bytes() == b"payload"
    assert os.stat(target).st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["data.gz"]


@pytest.mark.parametrize("failing_call", ["open", "fsync"])
def test_directory_fsync_tolerates_platforms_that_refuse(tmp_path, monkeypatch, failing_call):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fileio.os, failing_call, refuse)
    fileio.fsync_directory(tmp_path)  # no exception: the rename it follows is already done

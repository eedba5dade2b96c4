"""Atomic writes: readable by others as a plain open() would make them, on disk before the rename."""

import os
import stat

import pytest

from tnd import atomic


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    paths = [atomic.write_text(tmp_path / "a.txt", "x"), atomic.write_json(tmp_path / "b.json", {"a": 1}),
             atomic.write_bytes(tmp_path / "c.bin", b"\0"), atomic.torch_save(tmp_path / "d.pt", {"w": 1}),
             atomic.save_with(tmp_path / "e.png", lambda p: p.write_bytes(b"png"))]
    assert [stat.S_IMODE(p.stat().st_mode) for p in paths] == [mode] * 5
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(plain.stat().st_mode) == mode


def test_the_file_is_synced_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.stat(src).st_ino))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic.write_json(tmp_path / "result.json", {"a": 1})
    renamed = next(ino for kind, ino in events if kind == "replace")
    synced_before = [ino for kind, ino in events[: events.index(("replace", renamed))] if kind == "fsync"]
    assert renamed in synced_before, f"the new file's data must be on disk before the rename: {events}"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.json"
    atomic.write_text(target, "old")

    def broken(p):
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.save_with(target, broken)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["table.json"]

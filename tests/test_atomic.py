from __future__ import annotations

import pytest

from sambook.atomic import atomic_path


def test_file_appears_whole(tmp_path):
    final = tmp_path / "sub" / "volume.nii.gz"
    with atomic_path(final) as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent != final.parent
        tmp.write_bytes(b"abc")
        assert not final.exists()
    assert final.read_bytes() == b"abc"
    assert [p.name for p in final.parent.iterdir()] == ["volume.nii.gz"]


def test_failure_leaves_nothing(tmp_path):
    final = tmp_path / "case"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as tmp:
            tmp.mkdir()
            (tmp / "half.nii.gz").write_bytes(b"x")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_version(tmp_path):
    final = tmp_path / "report.json"
    final.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(final) as tmp:
            tmp.write_text("new, half")
            raise KeyboardInterrupt
    assert final.read_text() == "old"


def test_directory_replaces_directory(tmp_path):
    final = tmp_path / "case"
    final.mkdir()
    (final / "stale.txt").write_text("stale")
    with atomic_path(final) as tmp:
        tmp.mkdir()
        (tmp / "fresh.txt").write_text("fresh")
    assert sorted(p.name for p in final.iterdir()) == ["fresh.txt"]

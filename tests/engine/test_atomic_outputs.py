import os

import pytest

from troi.engine import atomic_file, atomic_folder


def test_file_appears_only_when_complete(tmp_path):
    path = tmp_path / "out" / "result.mp4"
    with atomic_file(str(path)) as temporary:
        assert temporary.endswith(".mp4") and os.path.dirname(temporary) == str(path.parent)
        with open(temporary, "w") as handle:
            handle.write("done")
        assert not path.exists()
    assert path.read_text() == "done" and oct(path.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(path.parent) == ["result.mp4"]


def test_failed_file_leaves_nothing_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(str(path)) as temporary:
            with open(temporary, "w") as handle:
                handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["result.json"]


def test_folder(tmp_path):
    path = tmp_path / "points"
    with atomic_folder(str(path)) as staging:
        open(os.path.join(staging, "a.png"), "w").close()
        assert not path.exists()
    assert os.listdir(path) == ["a.png"] and os.listdir(tmp_path) == ["points"]
    with pytest.raises(RuntimeError):
        with atomic_folder(str(path)) as staging:
            open(os.path.join(staging, "b.png"), "w").close()
            raise RuntimeError("interrupted")
    assert os.listdir(path) == ["a.png"] and os.listdir(tmp_path) == ["points"]
    with atomic_folder(None) as nothing:
        assert nothing is None

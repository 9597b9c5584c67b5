import errno
import json
import os
import subprocess

import pytest

from troi.utils import atomic_file, atomic_folder, atomic_outputs, write_json_atomically


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
    assert oct(path.stat().st_mode & 0o777) == "0o755"
    with pytest.raises(RuntimeError):
        with atomic_folder(str(path)) as staging:
            open(os.path.join(staging, "b.png"), "w").close()
            raise RuntimeError("interrupted")
    assert os.listdir(path) == ["a.png"] and os.listdir(tmp_path) == ["points"]
    with atomic_folder(str(path)) as staging:  # into the existing folder
        open(os.path.join(staging, "b.png"), "w").close()
    assert sorted(os.listdir(path)) == ["a.png", "b.png"]
    with atomic_folder(None) as nothing:
        assert nothing is None


def test_folder_that_must_not_exist(tmp_path):
    path = tmp_path / "dataset"
    with pytest.raises(FileExistsError, match="dataset"):
        with atomic_folder(str(path), exist_ok=False):
            path.mkdir()  # another process got there first
            (path / "theirs").write_text("")
    assert os.listdir(tmp_path) == ["dataset"] and os.listdir(path) == ["theirs"]
    with pytest.raises(FileExistsError, match="dataset"):
        with atomic_folder(str(path), exist_ok=False):
            pass


def test_group_is_checked_up_front_and_committed_together(tmp_path):
    (tmp_path / "a_folder").mkdir()
    work = []
    with pytest.raises(IsADirectoryError, match="a_folder"):
        with atomic_outputs() as outputs:
            outputs.file(str(tmp_path / "video.mp4"))
            outputs.file(str(tmp_path / "a_folder"))
            work.append("inference")  # never reached: the bad path fails first
    assert work == [] and os.listdir(tmp_path) == ["a_folder"]
    with pytest.raises(ValueError, match="two outputs"):
        with atomic_outputs() as outputs:
            outputs.file(str(tmp_path / "x.json"))
            outputs.folder(str(tmp_path / "x.json"))
    with atomic_outputs() as outputs:
        for name in ("video.mp4", "stats.json"):
            with open(outputs.file(str(tmp_path / name)), "w") as f:
                f.write(name)
        open(os.path.join(outputs.folder(str(tmp_path / "points")), "p.png"), "w").close()
        assert not (tmp_path / "video.mp4").exists() and not (tmp_path / "points").exists()
    assert sorted(os.listdir(tmp_path)) == ["a_folder", "points", "stats.json", "video.mp4"]


def test_failed_move_takes_back_the_others_and_restores_what_they_replaced(tmp_path, monkeypatch):
    (tmp_path / "first.json").write_text("old first")
    real_replace = os.replace

    def replace(source, destination):
        if os.path.basename(destination) == "second.json":
            raise OSError(errno.EIO, "I/O error")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="second.json"):
        with atomic_outputs() as outputs:
            for name in ("first.json", "second.json", "third.json"):
                with open(outputs.file(str(tmp_path / name)), "w") as f:
                    f.write("new")
    assert os.listdir(tmp_path) == ["first.json"] and (tmp_path / "first.json").read_text() == "old first"


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder no one can create files in: read-only, or for root immutable (chattr +i)."""
    folder = tmp_path / "unwritable"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.access(folder, os.W_OK):  # root ignores the mode
        immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        if not immutable:
            pytest.skip("no way to make a folder unwritable here")
    yield folder
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_errors_name_the_output_not_the_temporary_file(unwritable_folder):
    for make in (atomic_file, atomic_folder):
        with pytest.raises(PermissionError) as raised:
            with make(str(unwritable_folder / "video.mp4")):
                pass
        assert raised.value.filename == str(unwritable_folder / "video.mp4") and ".tmp-" not in str(raised.value)


def test_error_while_writing_names_the_output(tmp_path):
    with pytest.raises(OSError) as raised:
        with atomic_outputs() as outputs:
            temporary = outputs.file(str(tmp_path / "video.mp4"))
            raise OSError(errno.ENOSPC, "No space left on device", temporary)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "video.mp4")
    assert os.listdir(tmp_path) == []


def test_write_json_atomically(tmp_path):
    write_json_atomically({"a": 1}, str(tmp_path / "out" / "a.json"))
    assert json.loads((tmp_path / "out" / "a.json").read_text()) == {"a": 1}

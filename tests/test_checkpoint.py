import os

import pytest
import torch

from troi.checkpoint import AtomicCheckpointer


def checkpointer(tmp_path, value=1.0):
    model = torch.nn.Linear(2, 1)
    torch.nn.init.constant_(model.weight, value)
    return AtomicCheckpointer(model, str(tmp_path))


def test_saves_whole_checkpoints_and_resumes_from_the_last(tmp_path):
    checkpointer(tmp_path, 1.0).save("model_0000019")
    checkpointer(tmp_path, 2.0).save("model_0000039")
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000019.pth", "model_0000039.pth"]
    loading = checkpointer(tmp_path, 0.0)
    loading.resume_or_load("", resume=True)
    assert loading.model.weight.tolist() == [[2.0, 2.0]]


def test_a_save_killed_midway_leaves_the_earlier_checkpoint_to_resume_from(tmp_path, monkeypatch):
    checkpointer(tmp_path, 1.0).save("model_0000019")
    real_save = torch.save

    def killed_while_writing(data, f):
        real_save(data, f)
        f.truncate(f.tell() // 2)
        raise KeyboardInterrupt  # killed, or the disk filled up, halfway through the file

    monkeypatch.setattr(torch, "save", killed_while_writing)
    with pytest.raises(KeyboardInterrupt):
        checkpointer(tmp_path, 2.0).save("model_0000039")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000019.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000019.pth"
    loading = checkpointer(tmp_path, 0.0)
    loading.resume_or_load("", resume=True)
    assert loading.model.weight.tolist() == [[1.0, 1.0]]


def test_a_truncated_checkpoint_is_named(tmp_path):
    checkpointer(tmp_path).save("model_0000019")
    path = tmp_path / "model_0000019.pth"
    path.write_bytes(path.read_bytes()[:100])  # as an earlier version left it
    with pytest.raises(ValueError, match=f"cannot load checkpoint {path} \\(truncated or corrupt\\?\\)"):
        checkpointer(tmp_path).resume_or_load("", resume=True)


def test_a_last_checkpoint_naming_no_file_is_named(tmp_path):
    checkpointer(tmp_path).save("model_0000019")
    (tmp_path / "last_checkpoint").write_text("")  # an earlier version, killed while it rewrote the file
    with pytest.raises(
        FileNotFoundError,
        match=r"last_checkpoint names '', which is not a file; the checkpoints in "
        r".* are \['model_0000019.pth'\]: write the name",
    ):
        checkpointer(tmp_path).resume_or_load("", resume=True)

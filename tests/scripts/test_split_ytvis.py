import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from troi.evaluation.ytvis_evaluation import evaluate_ytvis

SCRIPT = Path(__file__).resolve().parents[2] / "datasets" / "split_ytvis.py"
_spec = importlib.util.spec_from_file_location("split_ytvis", SCRIPT)
split_ytvis = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(split_ytvis)

GT = FIXTURES / "ytvis_small_gt.json"


def run(tmp_path, *args, json_path=GT):
    return split_ytvis.main(["--json", str(json_path), "--output-dir", str(tmp_path / "split"), *args])


def read_split(tmp_path):
    return [json.loads((tmp_path / "split" / name).read_text()) for name in split_ytvis.OUTPUT_NAMES]


def test_split_is_a_partition_of_whole_videos(tmp_path):
    dataset = json.loads(GT.read_text())
    assert run(tmp_path, "--holdout-fraction", "0.25", "--seed", "3") == 0
    train, holdout = read_split(tmp_path)
    train_ids = {video["id"] for video in train["videos"]}
    holdout_ids = {video["id"] for video in holdout["videos"]}
    assert len(holdout_ids) == 3  # round(0.25 * 12)
    assert train_ids.isdisjoint(holdout_ids)
    assert train_ids | holdout_ids == {video["id"] for video in dataset["videos"]}
    for split, video_ids in ((train, train_ids), (holdout, holdout_ids)):
        assert split["annotations"] == [a for a in dataset["annotations"] if a["video_id"] in video_ids]
        assert split["videos"] == [v for v in dataset["videos"] if v["id"] in video_ids]  # the input's order
        for key in set(dataset) - {"videos", "annotations"}:  # info, licenses, categories
            assert split[key] == dataset[key]


def test_outputs_are_evaluable_ytvis_jsons(tmp_path):
    assert run(tmp_path, "--holdout-videos", "4") == 0
    holdout_path = tmp_path / "split" / "holdout.json"
    holdout = json.loads(holdout_path.read_text())
    perfect = [
        {"video_id": a["video_id"], "category_id": a["category_id"], "score": 1.0, "segmentations": a["segmentations"]}
        for a in holdout["annotations"]
    ]
    assert evaluate_ytvis(holdout_path, perfect)["AP"] == pytest.approx(100.0)


def test_deterministic_for_a_seed(tmp_path):
    def holdout_ids(seed):
        assert run(tmp_path, "--holdout-videos", "5", "--seed", str(seed)) == 0
        return {video["id"] for video in read_split(tmp_path)[1]["videos"]}

    assert holdout_ids(7) == holdout_ids(7)
    assert len({frozenset(holdout_ids(seed)) for seed in range(5)}) > 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--holdout-videos", "12"], "--holdout-videos 12 of 12 videos"),
        (["--holdout-videos", "0"], "--holdout-videos 0 of 12 videos"),
        (["--holdout-fraction", "0.01"], "holds out 0"),
        (["--holdout-fraction", "1.5"], "must be in (0, 1)"),
    ],
)
def test_bad_holdout_size(tmp_path, capsys, args, message):
    assert run(tmp_path, *args) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "split").exists()


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda dataset: dataset.pop("categories"), "has no top-level 'categories' list"),
        (lambda dataset: dataset["videos"][2].pop("id"), "videos[2] has no 'id'"),
        (lambda dataset: dataset["annotations"][1].pop("video_id"), "annotations[1] has no 'video_id'"),
        (
            lambda dataset: dataset["annotations"][1].update(video_id=99),
            "annotations[1] (id 2) has video_id 99, which is not in the videos",
        ),
        (lambda dataset: dataset["videos"][1].update(id=1), "video ids [1] appear more than once"),
    ],
)
def test_bad_input(tmp_path, capsys, corrupt, message):
    dataset = json.loads(GT.read_text())
    corrupt(dataset)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dataset))
    assert run(tmp_path, "--holdout-videos", "2", json_path=bad) == 1
    assert message in capsys.readouterr().err


def test_unreadable_input(tmp_path, capsys):
    not_json = tmp_path / "train.json"
    not_json.write_text("{not json")
    assert run(tmp_path, "--holdout-videos", "2", json_path=not_json) == 1
    assert "is not valid json" in capsys.readouterr().err
    assert run(tmp_path, "--holdout-videos", "2", json_path=tmp_path / "missing.json") == 1
    assert "missing.json" in capsys.readouterr().err


def test_refuses_to_overwrite_its_input(tmp_path, capsys):
    train = tmp_path / "split" / "train.json"
    train.parent.mkdir()
    train.write_text(GT.read_text())
    assert run(tmp_path, "--holdout-videos", "2", json_path=train) == 1
    assert "would overwrite the input" in capsys.readouterr().err
    assert train.read_text() == GT.read_text()


def test_failure_while_writing_leaves_no_output(tmp_path, monkeypatch):
    """The second file fails half-way: neither output, nor a temporary file, remains."""
    real_dump, calls = json.dump, []

    def dump_then_fail(data, f):
        calls.append(data)
        if len(calls) == 2:
            f.write('{"videos": [')
            raise OSError("disk full")
        real_dump(data, f)

    monkeypatch.setattr(split_ytvis.json, "dump", dump_then_fail)
    assert run(tmp_path, "--holdout-videos", "3") == 1
    assert len(calls) == 2
    assert list((tmp_path / "split").iterdir()) == []


def test_failure_while_renaming_leaves_no_output(tmp_path, monkeypatch):
    """The second rename fails: the first output, already in place, is removed too, so a
    new file never stands beside a stale one."""
    real_replace = os.replace

    def replace_once(source, destination):
        if Path(destination).name == "holdout.json":
            raise OSError("rename failed")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace_once)
    assert run(tmp_path, "--holdout-videos", "3") == 1
    assert list((tmp_path / "split").iterdir()) == []


def test_command_line(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--json",
            str(GT),
            "--output-dir",
            str(tmp_path),
            "--holdout-fraction",
            "0.5",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "holdout.json: 6 videos" in completed.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == ["holdout.json", "train.json"]

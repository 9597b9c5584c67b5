import importlib.util
import json
import os
from pathlib import Path

import pytest

from troi.data.datasets import load_coco_vid_json

SCRIPT = Path(__file__).resolve().parents[2] / "datasets" / "prepare_imagenet_vid.py"
spec = importlib.util.spec_from_file_location("prepare_imagenet_vid", SCRIPT)
prepare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare)

AIRPLANE, ZEBRA, BEAR, TENCH = "n02691156", "n02391049", "n02131653", "n01440764"  # TENCH: not a VID class
TRAIN_SNIPPET = "train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000"
SHORT_SNIPPET = "train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000001"
VAL_SNIPPET = "val/ILSVRC2015_val_00000000"


def _object_xml(wnid, box, trackid=None, occluded=0, generated=0):
    xmin, ymin, xmax, ymax = box
    track = (
        ""
        if trackid is None
        else (f"<trackid>{trackid}</trackid><occluded>{occluded}</occluded><generated>{generated}</generated>")
    )
    return (
        f"<object>{track}<name>{wnid}</name><bndbox><xmax>{xmax}</xmax><xmin>{xmin}</xmin>"
        f"<ymax>{ymax}</ymax><ymin>{ymin}</ymin></bndbox></object>"
    )


def _write_xml(path, objects=(), size=(64, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<annotation><folder>x</folder><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"</size>{''.join(objects)}</annotation>"
    )


@pytest.fixture
def ilsvrc(tmp_path):
    """A tiny ILSVRC2015 tree: 2 train snippets (20 and 3 frames), 1 val snippet, 4 DET images."""
    root = tmp_path / "ILSVRC"
    for directory in ("Data/VID/train", "Data/VID/val", "Data/DET/train"):
        (root / directory).mkdir(parents=True)
    vid = root / "Annotations" / "VID"
    for frame in range(20):
        objects = [_object_xml(AIRPLANE, (frame, 2, frame + 10, 12), trackid=0, occluded=frame % 2)]
        if frame >= 5:
            objects.append(_object_xml(ZEBRA, (30, 30, 40, 44), trackid=1, generated=1))
        _write_xml(vid / TRAIN_SNIPPET / f"{frame:06d}.xml", objects)
    for frame in range(3):
        _write_xml(vid / SHORT_SNIPPET / f"{frame:06d}.xml", [_object_xml(BEAR, (1, 1, 5, 5), trackid=0)])
    for frame in range(4):
        _write_xml(
            vid / VAL_SNIPPET / f"{frame:06d}.xml",
            [] if frame == 2 else [_object_xml(ZEBRA, (3, 4, 13, 24), trackid=0)],
            size=(80, 60),
        )
    det = root / "Annotations" / "DET" / "train"
    _write_xml(det / "ILSVRC2013_train" / AIRPLANE / f"{AIRPLANE}_1.xml", [_object_xml(AIRPLANE, (0, 0, 9, 9))])
    _write_xml(det / "ILSVRC2013_train" / AIRPLANE / f"{AIRPLANE}_2.xml", [_object_xml(AIRPLANE, (1, 1, 9, 9))])
    _write_xml(det / "ILSVRC2013_train" / TENCH / f"{TENCH}_1.xml", [_object_xml(TENCH, (0, 0, 5, 5))])
    _write_xml(
        det / "ILSVRC2014_train_0000" / "ILSVRC2014_train_00000001.xml",
        [_object_xml(TENCH, (0, 0, 5, 5)), _object_xml(ZEBRA, (2, 3, 12, 13))],
    )
    return root


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_vid_jsons_without_split_lists(ilsvrc, tmp_path):
    written = prepare.convert(str(ilsvrc), str(tmp_path / "out"), show_progress=False)
    assert sorted(os.listdir(tmp_path / "out")) == [
        "imagenet_det_30cls_train.json",
        "imagenet_vid_train.json",
        "imagenet_vid_val.json",
    ]
    train = _load(written["vid_train"])
    assert [c["name"] for c in train["categories"]][:3] == ["airplane", "antelope", "bear"]
    assert [v["name"] for v in train["videos"]] == [TRAIN_SNIPPET, SHORT_SNIPPET]
    long_frames = [image for image in train["images"] if image["video_id"] == 1]
    assert long_frames[3]["file_name"] == f"{TRAIN_SNIPPET}/000003.JPEG"
    assert [image["frame_id"] for image in long_frames if image["is_vid_train_frame"]] == prepare.even_key_frames(20)
    assert len(prepare.even_key_frames(20)) == 15
    assert all(image["is_vid_train_frame"] for image in train["images"] if image["video_id"] == 2)

    airplane = [a for a in train["annotations"] if a["image_id"] == long_frames[3]["id"] and a["category_id"] == 1]
    assert airplane == [
        {
            "id": airplane[0]["id"],
            "image_id": long_frames[3]["id"],
            "video_id": 1,
            "instance_id": 1,
            "category_id": 1,
            "bbox": [3, 2, 10, 10],
            "area": 100,
            "iscrowd": 0,
            "occluded": True,
            "generated": False,
        }
    ]
    tracks = {(a["video_id"], a["category_id"]): set() for a in train["annotations"]}
    for annotation in train["annotations"]:
        tracks[(annotation["video_id"], annotation["category_id"])].add(annotation["instance_id"])
    assert tracks == {(1, 1): {1}, (1, 30): {2}, (2, 3): {3}}  # one id per track, unique across snippets

    val = _load(written["vid_val"])
    assert len(val["images"]) == 4 and all(image["is_vid_train_frame"] for image in val["images"])
    assert (val["images"][0]["width"], val["images"][0]["height"]) == (80, 60)
    assert len(val["annotations"]) == 3

    records = load_coco_vid_json(written["vid_train"], str(ilsvrc / "Data" / "VID"), check_files=False)
    assert len(records) == 23 and sum(r["is_key_frame"] for r in records) == 18
    assert records[0]["file_name"] == str(ilsvrc / "Data" / "VID" / TRAIN_SNIPPET / "000000.JPEG")


def test_det_json_keeps_vid_classes_and_balances_them(ilsvrc, tmp_path):
    det = _load(prepare.convert(str(ilsvrc), str(tmp_path), ["det_train"], show_progress=False)["det_train"])
    names = [video["name"] for video in det["videos"]]
    assert names == [
        "train/ILSVRC2013_train/n02691156/n02691156_1",
        "train/ILSVRC2013_train/n02691156/n02691156_2",
        "train/ILSVRC2014_train_0000/ILSVRC2014_train_00000001",
    ]
    assert all(image["frame_id"] == 0 and image["is_vid_train_frame"] for image in det["images"])
    assert det["images"][2]["file_name"] == "train/ILSVRC2014_train_0000/ILSVRC2014_train_00000001.JPEG"
    assert [(a["image_id"], a["category_id"], a["bbox"]) for a in det["annotations"]] == [
        (1, 1, [0, 0, 9, 9]),
        (2, 1, [1, 1, 8, 8]),
        (3, 30, [2, 3, 10, 10]),
    ]
    assert len({a["instance_id"] for a in det["annotations"]}) == 3

    one_per_class = prepare.convert(
        str(ilsvrc), str(tmp_path), ["det_train"], det_images_per_class=1, show_progress=False
    )
    assert [v["name"] for v in _load(one_per_class["det_train"])["videos"]] == [names[0], names[2]]
    assert len(load_coco_vid_json(one_per_class["det_train"], "", check_files=False)) == 2


def test_fgfa_split_lists(ilsvrc, tmp_path):
    lists = ilsvrc / "Lists"
    lists.mkdir()
    (lists / "VID_train_15frames.txt").write_text(f"{TRAIN_SNIPPET} 1 2 20\n{TRAIN_SNIPPET} 2 11 20\n")
    (lists / "DET_train_30classes.txt").write_text(
        f"train/ILSVRC2013_train/{TENCH}/{TENCH}_1 1\ntrain/ILSVRC2014_train_0000/ILSVRC2014_train_00000001 2\n"
    )
    written = prepare.convert(str(ilsvrc), str(tmp_path), ["vid_train", "det_train"], show_progress=False)
    train = _load(written["vid_train"])
    assert [(image["video_id"], image["frame_id"]) for image in train["images"] if image["is_vid_train_frame"]] == [
        (1, 1),
        (1, 10),
    ]  # 1-based frame numbers in the list; a snippet not listed gets no key frame
    det = _load(written["det_train"])
    assert [video["name"] for video in det["videos"]] == [
        f"train/ILSVRC2013_train/{TENCH}/{TENCH}_1",
        "train/ILSVRC2014_train_0000/ILSVRC2014_train_00000001",
    ]
    assert [a["image_id"] for a in det["annotations"]] == [2]  # the listed tench image is kept, empty


def test_list_that_disagrees_with_the_tree(ilsvrc, tmp_path):
    (ilsvrc / "Lists").mkdir()
    (ilsvrc / "Lists" / "VID_train_15frames.txt").write_text(f"{TRAIN_SNIPPET} 1 2 21\n")
    with pytest.raises(ValueError, match="gives snippet .*00000000 21 frames, Annotations/VID has 20"):
        prepare.convert(str(ilsvrc), str(tmp_path), ["vid_train"], show_progress=False)
    (ilsvrc / "Lists" / "VID_train_15frames.txt").write_text("train/nowhere 1 2 20\n")
    with pytest.raises(ValueError, match="names snippet train/nowhere, which has no XMLs"):
        prepare.convert(str(ilsvrc), str(tmp_path), ["vid_train"], show_progress=False)


def test_malformed_xml_names_the_file(ilsvrc, tmp_path):
    broken = ilsvrc / "Annotations" / "VID" / VAL_SNIPPET / "000001.xml"
    broken.write_text("<annotation><size><width>8</width>")
    with pytest.raises(ValueError, match=f"malformed XML {broken}"):
        prepare.convert(str(ilsvrc), str(tmp_path), ["vid_val"], show_progress=False)
    broken.write_text(
        "<annotation><size><width>8</width><height>8</height></size><object><name>n02391049</name>"
        "</object></annotation>"
    )
    with pytest.raises(ValueError, match=f"{broken}: <object> #0 has no <bndbox>"):
        prepare.convert(str(ilsvrc), str(tmp_path), ["vid_val"], show_progress=False)
    assert not any(name.startswith("imagenet_vid_val") for name in os.listdir(tmp_path))


def test_a_json_the_loader_would_refuse_is_not_written(ilsvrc, tmp_path):
    _write_xml(ilsvrc / "Annotations" / "VID" / VAL_SNIPPET / "000001.xml", [_object_xml(ZEBRA, (13, 4, 3, 24))])
    with pytest.raises(
        ValueError,
        match=r"annotations\[1\] \(id 2\) in .*imagenet_vid_val.json: bbox \[13, 4, -10, "
        r"20\] has a negative width",
    ):
        prepare.convert(str(ilsvrc), str(tmp_path), ["vid_val"], show_progress=False)
    assert not any(name.startswith("imagenet_vid_val") for name in os.listdir(tmp_path))


def test_missing_directories(ilsvrc, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere does not exist"):
        prepare.convert(str(tmp_path / "nowhere"), str(tmp_path / "out"), show_progress=False)
    (ilsvrc / "Data" / "DET" / "train").rmdir()
    with pytest.raises(FileNotFoundError, match=r"Data/DET/train does not exist: .*datasets/README.md"):
        prepare.convert(str(ilsvrc), str(tmp_path / "out"), ["det_train"], show_progress=False)


def test_command_line(ilsvrc, capsys):
    assert prepare.main(["--ilsvrc-root", str(ilsvrc), "--splits", "vid_val", "--no-progress"]) == 0
    assert os.listdir(ilsvrc / "annotations") == ["imagenet_vid_val.json"]  # written atomically, nothing else
    assert "vid_val: 1 videos, 4 images (4 key frames), 3 objects" in capsys.readouterr().out
    assert prepare.main(["--ilsvrc-root", str(ilsvrc / "missing"), "--no-progress"]) == 1
    assert "error: " in capsys.readouterr().err

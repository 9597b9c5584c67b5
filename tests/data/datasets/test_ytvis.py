import copy
import json
import logging
import os

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from pycocotools import mask as mask_util

from troi.data.datasets import load_ytvis_json, register_ytvis_instances

HEIGHT, WIDTH = 6, 8


def _mask(y0, x0, y1, x1):
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def _compressed(mask):
    rle = mask_util.encode(np.asfortranarray(mask))
    return {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode("ascii")}


def _uncompressed(mask):
    """Column-major run lengths, zeros first, as in the YouTube-VIS 2019 train json."""
    flat = mask.flatten(order="F")
    runs = np.diff(np.r_[0, np.flatnonzero(np.diff(flat)) + 1, flat.size]).tolist()
    return {"size": [HEIGHT, WIDTH], "counts": ([0] if flat[0] else []) + runs}


YTVIS = {
    "videos": [
        {"id": 9, "width": WIDTH, "height": HEIGHT, "length": 2, "file_names": ["b/0.jpg", "b/1.jpg"]},
        {"id": 4, "width": WIDTH, "height": HEIGHT, "length": 3, "file_names": ["a/0.jpg", "a/1.jpg", "a/2.jpg"]},
    ],
    "annotations": [
        {
            "id": 40,
            "video_id": 4,
            "category_id": 8,
            "iscrowd": 0,
            "segmentations": [_compressed(_mask(1, 2, 3, 5)), None, _uncompressed(_mask(0, 1, 4, 3))],
            "bboxes": [[2, 1, 3, 2], None, None],
            "areas": [6, None, 8],
        },
        {
            "id": 41,
            "video_id": 4,
            "category_id": 3,
            "iscrowd": 0,
            "segmentations": [None, [[1, 1, 5, 1, 5, 4, 1, 4]], _compressed(_mask(2, 2, 6, 8))],
            "areas": [None, 12, 24],
        },
        {
            "id": 90,
            "video_id": 9,
            "category_id": 3,
            "iscrowd": 1,
            "segmentations": [_compressed(_mask(0, 0, 2, 2)), _compressed(_mask(0, 0, 2, 3))],
            "bboxes": [[0, 0, 2, 2], [0, 0, 3, 2]],
            "areas": [4, 6],
        },
    ],
    "categories": [{"id": 8, "name": "person"}, {"id": 3, "name": "cat"}],
}


def _write(tmp_path, content, name="ytvis.json"):
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return str(path)


def _frames(tmp_path, content=YTVIS):
    """An image root holding (empty) files for the frames of ``content``."""
    root = tmp_path / "frames"
    for video in content["videos"]:
        for file_name in video["file_names"]:
            (root / file_name).parent.mkdir(parents=True, exist_ok=True)
            (root / file_name).touch()
    return str(root)


def _broken(change):
    content = copy.deepcopy(YTVIS)
    change(content)
    return content


def test_one_dict_per_frame_with_tracks(tmp_path):
    root = _frames(tmp_path)
    records = load_ytvis_json(_write(tmp_path, YTVIS), root, "test_ytvis_frames")
    assert [(r["video_id"], r["frame_id"], r["image_id"]) for r in records] == [
        (4, 0, 1),
        (4, 1, 2),
        (4, 2, 3),
        (9, 0, 4),
        (9, 1, 5),
    ]
    assert records[0]["file_name"] == f"{root}/a/0.jpg"
    assert all(r["is_key_frame"] and (r["height"], r["width"]) == (HEIGHT, WIDTH) for r in records)
    first, second, third = (r["annotations"] for r in records[:3])
    assert first == [
        {
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": 1,
            "instance_id": 40,
            "iscrowd": 0,
            "segmentation": YTVIS["annotations"][0]["segmentations"][0],
            "bbox": [2, 1, 3, 2],
        }
    ]
    assert [obj["instance_id"] for obj in second] == [41]
    assert second[0]["segmentation"] == [[1, 1, 5, 1, 5, 4, 1, 4]]
    assert second[0]["bbox"] == pytest.approx([1, 1, 4, 3])  # computed from the polygon
    assert [obj["instance_id"] for obj in third] == [40, 41]
    assert third[0]["bbox"] == [1, 0, 2, 4]  # computed from the uncompressed RLE
    assert third[0]["segmentation"] == _compressed(_mask(0, 1, 4, 3))  # compressed, as load_coco_json does
    assert third[1]["bbox"] == [2, 2, 6, 4]
    assert records[3]["annotations"][0]["iscrowd"] == 1
    metadata = MetadataCatalog.get("test_ytvis_frames")
    assert metadata.thing_classes == ["cat", "person"]
    assert metadata.thing_dataset_id_to_contiguous_id == {3: 0, 8: 1}


def test_unlabeled_json_without_annotations(tmp_path):
    records = load_ytvis_json(_write(tmp_path, _broken(lambda c: c.pop("annotations"))), _frames(tmp_path))
    assert len(records) == 5 and all(r["annotations"] == [] for r in records)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: c["annotations"][0]["segmentations"].pop(),
            r"annotations\[0\] \(id 40\): 'segmentations' has 2 entries but video 4 has 3 frames in .*ytvis.json",
        ),
        (
            lambda c: c["annotations"][2].update(bboxes=[[0, 0, 1, 1]]),
            r"annotations\[2\] \(id 90\): 'bboxes' has 1 entries",
        ),
        (lambda c: c["videos"][0].pop("file_names"), r"videos\[0\] has no 'file_names' in .*ytvis.json"),
        (lambda c: c["videos"][0].update(file_names=[], length=0), r"video 9 has no frames"),
        (lambda c: c["videos"][1].update(length=5), r"video 4 has length 5 but 3 file_names"),
        (lambda c: c["videos"][1].update(id=9), r"videos\[1\] repeats video id 9"),
        (
            lambda c: c["annotations"][1].update(video_id=5),
            r"annotations\[1\] \(id 41\) has video_id 5, which is not in the videos of .*ytvis.json",
        ),
        (
            lambda c: c["annotations"][1].update(category_id=1),
            r"annotations\[1\] \(id 41\) has category_id 1, which is not in the categories of",
        ),
        (
            lambda c: c["annotations"][1].pop("segmentations"),
            r"annotations\[1\] \(id 41\) has neither 'segmentations' nor 'bboxes' in .*ytvis.json",
        ),
        (
            lambda c: c["annotations"][0]["segmentations"].__setitem__(0, {"counts": "x"}),
            r"annotations\[0\] \(id 40\), frame 0 in .*ytvis.json: segmentation \{'counts': 'x'\} "
            r"is neither an RLE dict \('size', 'counts'\) nor polygons",
        ),
        (lambda c: c["annotations"][0].pop("video_id"), r"annotations\[0\] has no 'video_id'"),
        (
            lambda c: c["annotations"][0]["bboxes"].__setitem__(0, [2, 1, -3, 2]),
            r"annotations\[0\] \(id 40\), frame 0 in .*ytvis.json: bbox \[2, 1, -3, 2\] has a negative width",
        ),
        (
            lambda c: c["annotations"][2]["bboxes"].__setitem__(1, [0, 0, float("inf"), 2]),
            r"annotations\[2\] \(id 90\), frame 1 in .*ytvis.json: bbox \[0, 0, inf, 2\] is not finite",
        ),
    ],
)
def test_clear_errors(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        load_ytvis_json(_write(tmp_path, _broken(change)), "")


def test_empty_boxes_are_skipped_and_logged(tmp_path, caplog):
    content = _broken(lambda c: c["annotations"][2]["bboxes"].__setitem__(1, [8, 0, 2, 2]))  # right of the image
    content["annotations"][0]["segmentations"][2] = _compressed(np.zeros((HEIGHT, WIDTH), dtype=np.uint8))
    with caplog.at_level(logging.WARNING, logger="troi"):
        records = load_ytvis_json(_write(tmp_path, content), _frames(tmp_path))
    assert [obj["instance_id"] for obj in records[2]["annotations"]] == [41]  # 40's mask is empty in frame 2
    assert records[4]["annotations"] == []
    assert (
        "skipped 2 annotations whose box has zero width or height or lies outside the image: 40 (frame 2), "
        "90 (frame 1)" in caplog.text
    )


def test_missing_frames_are_named_when_the_dataset_loads(tmp_path):
    root = _frames(tmp_path)
    os.remove(os.path.join(root, "a", "2.jpg"))
    with pytest.raises(FileNotFoundError, match=r"1 of the 5 frames listed in .*ytvis.json do not exist"):
        load_ytvis_json(_write(tmp_path, YTVIS), root)


def test_register_is_lazy(tmp_path):
    path = str(tmp_path / "later.json")
    root = _frames(tmp_path)
    register_ytvis_instances("test_ytvis_lazy", {}, path, root)
    try:
        metadata = MetadataCatalog.get("test_ytvis_lazy")
        assert (metadata.json_file, metadata.image_root, metadata.evaluator_type) == (path, root, "ytvis")
        with pytest.raises(FileNotFoundError, match="later.json does not exist"):
            DatasetCatalog.get("test_ytvis_lazy")
        _write(tmp_path, YTVIS, name="later.json")
        assert len(DatasetCatalog.get("test_ytvis_lazy")) == 5
        assert metadata.thing_classes == ["cat", "person"]
    finally:
        DatasetCatalog.remove("test_ytvis_lazy")
        MetadataCatalog.remove("test_ytvis_lazy")

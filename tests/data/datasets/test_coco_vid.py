import copy
import json
import logging
import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from troi.data.datasets import load_coco_vid_json, register_coco_vid_instances

RLE = {"size": [4, 6], "counts": "82M00000"}

COCO_VID = {
    "videos": [{"id": 7, "name": "seven"}, {"id": 3, "name": "three"}],
    "images": [
        {
            "id": 12,
            "video_id": 7,
            "frame_id": 1,
            "file_name": "seven/1.jpg",
            "height": 4,
            "width": 6,
            "is_vid_train_frame": False,
            "degraded": True,
            "degradation": "defocus",
        },
        {
            "id": 11,
            "video_id": 7,
            "frame_id": 0,
            "file_name": "seven/0.jpg",
            "height": 4,
            "width": 6,
            "is_vid_train_frame": True,
            "degraded": False,
            "degradation": None,
        },
        {"id": 31, "video_id": 3, "frame_id": 0, "file_name": "three/0.jpg", "height": 4, "width": 6},
    ],
    "annotations": [
        {
            "id": 1,
            "image_id": 11,
            "video_id": 7,
            "instance_id": 70,
            "category_id": 5,
            "bbox": [1, 1, 2, 2],
            "area": 4,
            "iscrowd": 0,
            "occluded": False,
            "segmentation": RLE,
        },
        {
            "id": 2,
            "image_id": 12,
            "video_id": 7,
            "instance_id": 70,
            "category_id": 5,
            "bbox": [2, 1, 2, 2],
            "area": 4,
            "iscrowd": 0,
        },
        {
            "id": 3,
            "image_id": 12,
            "video_id": 7,
            "instance_id": 71,
            "category_id": 2,
            "bbox": [0, 0, 1, 1],
            "area": 1,
            "iscrowd": False,
        },
    ],
    "categories": [{"id": 5, "name": "zebra"}, {"id": 2, "name": "bear"}],
}


def _write(tmp_path, content, name="vid.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _frames(tmp_path, content=COCO_VID):
    """An image root holding (empty) files for the frames of ``content``."""
    root = tmp_path / "images"
    for image in content["images"]:
        (root / image["file_name"]).parent.mkdir(parents=True, exist_ok=True)
        (root / image["file_name"]).touch()
    return str(root)


def _broken(change):
    """A copy of COCO_VID modified in place by ``change``."""
    content = copy.deepcopy(COCO_VID)
    change(content)
    return content


def test_one_dict_per_frame_sorted_by_video_and_frame(tmp_path):
    root = _frames(tmp_path)
    records = load_coco_vid_json(_write(tmp_path, COCO_VID), root, "test_coco_vid_sorted")
    assert [(r["video_id"], r["frame_id"]) for r in records] == [(3, 0), (7, 0), (7, 1)]
    first, key, support = records
    assert first == {
        "file_name": f"{root}/three/0.jpg",
        "height": 4,
        "width": 6,
        "image_id": 31,
        "video_id": 3,
        "frame_id": 0,
        "is_key_frame": True,
        "annotations": [],
    }
    assert (key["is_key_frame"], key["degraded"], key["degradation"]) == (True, False, None)
    assert (support["is_key_frame"], support["degraded"], support["degradation"]) == (False, True, "defocus")
    assert key["annotations"] == [
        {
            "bbox": [1, 1, 2, 2],
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": 1,
            "instance_id": 70,
            "iscrowd": 0,
            "occluded": False,
            "segmentation": RLE,
        }
    ]
    assert [(obj["category_id"], obj["instance_id"], obj["iscrowd"]) for obj in support["annotations"]] == [
        (1, 70, 0),
        (0, 71, 0),
    ]
    metadata = MetadataCatalog.get("test_coco_vid_sorted")
    assert metadata.thing_classes == ["bear", "zebra"]
    assert metadata.thing_dataset_id_to_contiguous_id == {2: 0, 5: 1}


def test_unlabeled_json_without_annotations(tmp_path):
    content = _broken(lambda c: c.pop("annotations"))
    records = load_coco_vid_json(_write(tmp_path, content), _frames(tmp_path))
    assert [r["annotations"] for r in records] == [[], [], []]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["images"][1].pop("video_id"), r"images\[1\] has no 'video_id' in .*vid.json"),
        (lambda c: c["annotations"][2].pop("bbox"), r"annotations\[2\] has no 'bbox'"),
        (lambda c: c.pop("videos"), r"no top-level 'videos' list"),
        (
            lambda c: c["images"][0].update(video_id=9),
            r"images\[0\] \(id 12\) has video_id 9, which is not in the videos",
        ),
        (lambda c: c["videos"].append({"id": 4, "name": "four"}), r"video 4 \('four'\) has no frames in .*vid.json"),
        (lambda c: c["annotations"][0].update(image_id=99), r"image_id 99, which is not in the images of .*vid.json"),
        (
            lambda c: c["annotations"][0].update(category_id=1),
            r"annotations\[0\] \(id 1\) has category_id 1, which is not in the categories of .*vid.json",
        ),
        (lambda c: c["images"][0].update(frame_id=0), r"video 7 has two images with frame_id 0"),
        (lambda c: c["images"][0].update(id=11), r"image ids \[11\] appear more than once"),
        (lambda c: c["categories"].append({"id": 5, "name": "again"}), r"category ids \[5\] appear more than once"),
        (
            lambda c: c["annotations"][1].update(bbox=[113, 43, -59, 53]),
            r"annotations\[1\] \(id 2\) in .*vid.json: bbox \[113, 43, -59, 53\] has a negative width",
        ),
        (lambda c: c["annotations"][1].update(bbox=[1, 1, 2, -1]), r"annotations\[1\] \(id 2\).*negative height"),
        (
            lambda c: c["annotations"][0].update(bbox=[1, float("nan"), 2, 2]),
            r"annotations\[0\] \(id 1\) in .*vid.json: bbox \[1, nan, 2, 2\] is not finite",
        ),
        (lambda c: c["annotations"][0].update(bbox=[1, 1, "2", 2]), r"annotations\[0\] \(id 1\).*is not \[x, y, width"),
        (lambda c: c["annotations"][0].update(bbox=[1, 1, 2]), r"annotations\[0\] \(id 1\).*is not \[x, y, width"),
    ],
)
def test_clear_errors(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        load_coco_vid_json(_write(tmp_path, _broken(change)), "")


def test_malformed_or_missing_json(tmp_path):
    path = _write(tmp_path, '{"videos": [', name="bad.json")
    with pytest.raises(ValueError, match=r"annotation file .*bad.json is not valid json \(truncated"):
        load_coco_vid_json(path, "")
    with pytest.raises(ValueError, match="must hold a json object"):
        load_coco_vid_json(_write(tmp_path, "[]", name="list.json"), "")
    with pytest.raises(FileNotFoundError, match=r"missing.json does not exist: see datasets/README.md"):
        load_coco_vid_json(str(tmp_path / "missing.json"), "")


def test_empty_boxes_are_skipped_and_logged(tmp_path, caplog):
    content = copy.deepcopy(COCO_VID)
    content["annotations"][0]["bbox"] = [1, 1, 0, 2]  # zero width
    content["annotations"][2]["bbox"] = [6, 0, 3, 3]  # right of the 6 px wide image
    with caplog.at_level(logging.WARNING, logger="troi"):
        records = load_coco_vid_json(_write(tmp_path, content), _frames(tmp_path))
    assert [len(r["annotations"]) for r in records] == [0, 0, 1]
    assert (
        "vid.json: skipped 2 annotations whose box has zero width or height or lies outside the image: 3, 1"
        in caplog.text
    )


def test_missing_frames_are_named_when_the_dataset_loads(tmp_path):
    root = _frames(tmp_path)
    os.remove(os.path.join(root, "seven", "1.jpg"))
    with pytest.raises(
        FileNotFoundError,
        match=r"1 of the 3 frames listed in .*vid.json do not exist, e.g. "
        r"\['.*seven/1.jpg'\]",
    ):
        load_coco_vid_json(_write(tmp_path, COCO_VID), root)
    assert len(load_coco_vid_json(_write(tmp_path, COCO_VID), root, check_files=False)) == 3


def test_a_taken_name_or_other_classes_are_named(tmp_path):
    path = _write(tmp_path, COCO_VID)
    with pytest.raises(
        ValueError,
        match=r"cannot register .*vid.json as dataset 'imagenet_vid_train': that name is "
        r"taken \(by .*imagenet_vid_train.json\)",
    ):
        register_coco_vid_instances("imagenet_vid_train", {}, path, "")
    with pytest.raises(
        ValueError,
        match=r"vid.json has 2 categories \(bear, zebra, ...\) but dataset "
        r"'imagenet_vid_val' is registered with 30 others \(airplane, antelope",
    ):
        load_coco_vid_json(path, _frames(tmp_path), "imagenet_vid_val")  # e.g. a custom json at the builtin path


def test_register_is_lazy(tmp_path):
    path = str(tmp_path / "later.json")
    root = _frames(tmp_path)
    register_coco_vid_instances("test_coco_vid_lazy", {"thing_classes": ["bear", "zebra"]}, path, root)
    try:
        metadata = MetadataCatalog.get("test_coco_vid_lazy")
        assert (metadata.json_file, metadata.image_root, metadata.evaluator_type) == (path, root, "vid")
        _write(tmp_path, COCO_VID, name="later.json")
        assert len(DatasetCatalog.get("test_coco_vid_lazy")) == 3
        assert metadata.thing_dataset_id_to_contiguous_id == {2: 0, 5: 1}
    finally:
        DatasetCatalog.remove("test_coco_vid_lazy")
        MetadataCatalog.remove("test_coco_vid_lazy")

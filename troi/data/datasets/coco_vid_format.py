"""COCO-VID json, and the detections evaluated on it: read and checked once, for the
dataset loader (:mod:`.coco_vid`), the evaluator (:mod:`troi.evaluation.vid_evaluation`)
and the scripts (``datasets/prepare_imagenet_vid.py`` checks what it writes).

The format (mmtracking's ImageNet VID jsons, ``datasets/prepare_imagenet_vid.py``, the
synthetic videos)::

    videos:      [{id, name, ...}]
    images:      [{id, video_id, frame_id, file_name, height, width,
                   optional: is_vid_train_frame, degraded, degradation}]
    annotations: [{id, image_id, video_id, instance_id, category_id, bbox [x, y, w, h],
                   area, iscrowd, optional: occluded, segmentation}]   (absent: unlabeled)
    categories:  [{id, name}]

Each use needs some of these keys (:data:`LOADER_NEEDS`, :data:`EVALUATION_NEEDS`,
:data:`WRITER_NEEDS`); what a json has is checked wherever it is: ids are ints or
strings, unique per list (where the use needs them); ``frame_id`` is an int, ``height``
and ``width`` positive ints, ``file_name`` a string; ``bbox`` 4 finite numbers with a
width and a height >= 0, ``area`` a finite number, ``iscrowd`` 0 or 1; an image's
``video_id``, an annotation's ``image_id`` and ``category_id`` name entries of those
lists; every video has images, no two of them with the same ``frame_id``.

Detections (:func:`read_detections`) are COCO results: a list of ``{image_id,
category_id, bbox [x, y, w, h], score}``, with the ground truth's image and category ids,
a finite score and a box of 4 finite numbers with a positive width and height.

Json, python and numpy, without detectron2.
"""

import os
from typing import Collection, Optional, Union

import numpy as np

from ...utils import read_json
from .annotation_boxes import checked_box
from .annotation_json import (
    Needs,
    check_references,
    check_values,
    entry_where,
    in_file,
    is_id,
    is_int,
    is_number,
    is_positive_int,
    json_lists,
    read_json_object,
    unique_ids,
)

__all__ = [
    "DETECTION_KEYS",
    "EVALUATION_NEEDS",
    "LOADER_NEEDS",
    "WRITER_NEEDS",
    "check_coco_vid",
    "read_coco_vid_json",
    "read_detections",
]

LOADER_NEEDS = Needs(
    keys={
        "categories": ("id", "name"),
        "videos": ("id",),
        "images": ("id", "video_id", "frame_id", "file_name", "height", "width"),
        "annotations": ("image_id", "category_id", "instance_id", "bbox"),
    },
    optional=frozenset({"annotations"}),
)
"""What :func:`~.coco_vid.load_coco_vid_json` reads: the annotations may be absent (unlabeled)."""

EVALUATION_NEEDS = Needs(
    keys={
        "categories": ("id", "name"),
        "videos": ("id",),
        "images": ("id", "video_id", "frame_id"),
        "annotations": ("id", "image_id", "category_id", "instance_id", "bbox", "area", "iscrowd"),
    },
    optional=frozenset({"videos"}),
)
"""What the box evaluation reads: COCO's annotation fields plus the track (``instance_id``)
and the frame (``video_id``, ``frame_id``); ``videos`` may be absent."""

WRITER_NEEDS = Needs(
    keys={
        name: tuple(dict.fromkeys(LOADER_NEEDS.keys[name] + EVALUATION_NEEDS.keys[name])) for name in LOADER_NEEDS.keys
    }
)
"""What a json written for troi has: every key the loader and the box evaluation read."""

DETECTION_KEYS = ("image_id", "category_id", "bbox", "score")
"""The keys of a detection (a COCO result)."""

_VALUE_CHECKS = {
    "images": (
        ("video_id", is_id, "an int or a string"),
        ("frame_id", is_int, "an int"),
        ("height", is_positive_int, "a positive int"),
        ("width", is_positive_int, "a positive int"),
        ("file_name", lambda value: isinstance(value, str), "a string"),
    ),
    "annotations": (
        ("instance_id", is_id, "an int or a string"),
        ("area", is_number, "a finite number"),
        ("iscrowd", lambda value: value in (0, 1), "0 or 1"),
    ),
}


def read_coco_vid_json(
    path: Union[str, os.PathLike], needs: Needs, what: str = "COCO-VID json", missing_hint: Optional[str] = None
) -> dict:
    """The content of the COCO-VID json ``path``, checked (:func:`check_coco_vid`).

    Args:
        needs: the lists and keys the caller reads (:data:`LOADER_NEEDS`, :data:`EVALUATION_NEEDS`).
        what: names the file in errors (``"annotation file"``, ``"ground-truth json"``).
        missing_hint: follows the error of a file that does not exist.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not valid json or not a COCO-VID json with what ``needs``
            says (the message names the file, the list, the entry and the key).
    """
    data = read_json_object(path, what, missing_hint)
    check_coco_vid(data, needs, os.fspath(path))
    return data


def check_coco_vid(data: dict, needs: Needs, source: str) -> None:
    """Check the COCO-VID content ``data`` of ``source`` (see the module docstring): a
    ValueError names the first problem."""
    lists = json_lists(data, needs, source)
    by_id = {
        name: unique_ids(lists[name], name, noun, source)
        for name, noun in (
            ("categories", "category"),
            ("videos", "video"),
            ("images", "image"),
            ("annotations", "annotation"),
        )
        if needs.needs(name, "id")
    }
    images, annotations = lists["images"], lists["annotations"]
    for list_name, checks in _VALUE_CHECKS.items():
        for key, is_valid, description in checks:
            check_values(lists[list_name], key, is_valid, description, list_name, source)
    for index, annotation in enumerate(annotations):
        if "bbox" in annotation:
            checked_box(annotation["bbox"], f"{entry_where('annotations', index, annotation)}{in_file(source)}")
    if "videos" in data:
        check_references(images, "video_id", by_id["videos"], "images", f"the videos of {source}")
    check_references(annotations, "image_id", by_id["images"], "annotations", f"the images of {source}")
    check_references(annotations, "category_id", by_id["categories"], "annotations", f"the categories of {source}")
    _check_frames(images, lists["videos"], source)


def _check_frames(images: list, videos: list, source: str) -> None:
    """Every video has images, no two of them with the same frame_id."""
    frames = {}
    for index, image in enumerate(images):
        frame = image["video_id"], image["frame_id"]
        if frame in frames:
            first = entry_where("images", frames[frame], images[frames[frame]])
            raise ValueError(
                f"video {frame[0]!r} has two images with frame_id {frame[1]} ({first} and "
                f"{entry_where('images', index, image)}) in {source}"
            )
        frames[frame] = index
    with_frames = {video_id for video_id, _ in frames}
    for video in videos:
        if video["id"] not in with_frames:
            raise ValueError(f"video {video['id']!r} ({video.get('name', video['id'])!r}) has no frames in {source}")


def read_detections(results: Union[str, os.PathLike, list], image_ids: Collection, category_ids: Collection) -> list:
    """The detections ``results`` (a json file of them, or the list itself), checked
    against a ground truth with the ids ``image_ids`` and ``category_ids``.

    Every detection is checked before any is used: it is a json object with
    :data:`DETECTION_KEYS`, a finite score, a box ``[x, y, width, height]`` of 4 finite
    numbers with a positive width and height, and ids of the ground truth. The list is
    returned as it is, not copied.

    Raises:
        FileNotFoundError: the json file does not exist.
        ValueError: the file is not valid json, or not a list of detections; a message
            names the file (or ``results``), the entry and the field, e.g.
            ``"results[4] has image_id 999, which is not in the ground truth"``.
    """
    source = "results"
    if isinstance(results, (str, os.PathLike)):
        source = os.fspath(results)
        results = read_json(source, "results json")
    if not isinstance(results, list):
        raise ValueError(f"{source}: expected a list of detection dicts, got a {type(results).__name__}")
    for index, detection in enumerate(results):
        _check_detection(detection, f"{source}[{index}]")
    check_references(results, "image_id", image_ids, source, "the ground truth")
    check_references(results, "category_id", category_ids, source, "the ground truth")
    return results


def _check_detection(detection, where: str) -> None:
    """ValueError starting with ``where`` unless ``detection`` has every key, a finite score
    and a box of 4 finite numbers with a positive width and height."""
    if not isinstance(detection, dict):
        raise ValueError(f"{where} is a {type(detection).__name__}, not a detection dict")
    for key in DETECTION_KEYS:
        if key not in detection:
            raise ValueError(f"{where} has no key {key!r}; a detection has {list(DETECTION_KEYS)}")
    score, bbox = detection["score"], detection["bbox"]
    if not is_number(score):
        raise ValueError(f"{where} has score {score!r}; a score must be a finite number")
    if not (
        isinstance(bbox, (list, tuple, np.ndarray))
        and len(bbox) == 4
        and all(map(is_number, bbox))
        and bbox[2] > 0
        and bbox[3] > 0
    ):
        raise ValueError(
            f"{where} has bbox {bbox!r}; expected [x, y, width, height], finite, with a positive width and height"
        )

"""YouTube-VIS (2019 / 2021) json, and the predicted tracks evaluated on it: read and
checked once, for the dataset loader (:mod:`.ytvis`), the evaluator
(:mod:`troi.evaluation.ytvis_evaluation`) and ``datasets/split_ytvis.py``.

The format::

    videos:      [{id, width, height, length, file_names: [path of each frame]}]
    annotations: [{id, video_id, category_id, iscrowd,
                   segmentations: [per frame: RLE dict | polygons | null],
                   bboxes: [per frame: [x, y, w, h] | null], areas: [per frame | null]}]
                 (absent from the test/val jsons)
    categories:  [{id, name}]

Each annotation is a track: one instance through the frames of its video. Each use needs
some of these keys (:data:`LOADER_NEEDS`, :data:`EVALUATION_NEEDS`, :data:`SPLIT_NEEDS`);
what a json has is checked wherever it is: ids are ints or strings, unique per list
(where the use needs them); ``height`` and ``width`` are positive ints, ``file_names`` a
non-empty list of strings and ``length`` its length; a track's ``video_id`` and
``category_id`` name entries of those lists; a track has ``segmentations`` or
``bboxes``, and each per-frame list has one entry per frame of its video: a box of 4
finite numbers with a width and a height >= 0, an RLE dict of the video's size or
polygons, an area that is a finite number (or null).

Predicted tracks (:func:`read_ytvis_results`) are a list of ``{video_id, category_id,
score, segmentations}``, of the ground truth's videos and categories, with a finite score
and one RLE of the video's size (or null) per frame of the video.

Json, python and pycocotools' RLE, without detectron2.
"""

import os
from typing import Any, Collection, Mapping, Optional, Sequence, Union

from pycocotools import mask as mask_util

from ...utils import read_json
from .annotation_boxes import checked_box
from .annotation_json import (
    Needs,
    check_references,
    check_values,
    entry_where,
    in_file,
    is_int,
    is_known,
    is_number,
    is_positive_int,
    json_lists,
    read_json_object,
    unique_ids,
)

__all__ = [
    "EVALUATION_NEEDS",
    "LOADER_NEEDS",
    "PER_FRAME_KEYS",
    "RESULT_KEYS",
    "SPLIT_NEEDS",
    "check_mask_size",
    "check_per_frame_lists",
    "check_ytvis",
    "num_frames",
    "read_ytvis_json",
    "read_ytvis_results",
]

LOADER_NEEDS = Needs(
    keys={
        "categories": ("id", "name"),
        "videos": ("id", "height", "width", "file_names"),
        "annotations": ("id", "video_id", "category_id"),
    },
    optional=frozenset({"annotations"}),
)
"""What :func:`~.ytvis.load_ytvis_json` reads: a track's id is its instance id; the
annotations may be absent (the val/test jsons)."""

EVALUATION_NEEDS = Needs(
    keys={
        "categories": ("id",),
        "videos": ("id", "height", "width", "length"),
        "annotations": ("video_id", "category_id", "segmentations"),
    },
)
"""What the mask evaluation reads (it numbers the tracks itself)."""

SPLIT_NEEDS = Needs(keys={"categories": (), "videos": ("id",), "annotations": ("video_id",)})
"""What ``datasets/split_ytvis.py`` reads: whole videos with their tracks."""

PER_FRAME_KEYS = ("segmentations", "bboxes", "areas")
"""The keys of a track that hold one entry per frame of its video."""

RESULT_KEYS = ("video_id", "category_id", "score", "segmentations")
"""The keys of a predicted track."""

# The characters of COCO's compressed RLE strings (6 bits each, offset by 48).
_RLE_FIRST, _RLE_LAST = ord("0"), ord("0") + 63


def num_frames(video: dict) -> Optional[int]:
    """The frames of a checked video: its number of ``file_names``, else its ``length``,
    else None (unknown)."""
    if "file_names" in video:
        return len(video["file_names"])
    return video.get("length")


def read_ytvis_json(
    path: Union[str, os.PathLike], needs: Needs, what: str = "YouTube-VIS json", missing_hint: Optional[str] = None
) -> dict:
    """The content of the YouTube-VIS json ``path``, checked (:func:`check_ytvis`).

    Args:
        needs: the lists and keys the caller reads (:data:`LOADER_NEEDS`,
            :data:`EVALUATION_NEEDS`, :data:`SPLIT_NEEDS`).
        what: names the file in errors (``"annotation file"``, ``"ground-truth json"``).
        missing_hint: follows the error of a file that does not exist.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not valid json or not a YouTube-VIS json with what
            ``needs`` says (the message names the file, the list, the entry and the key).
    """
    data = read_json_object(path, what, missing_hint)
    check_ytvis(data, needs, os.fspath(path))
    return data


def check_ytvis(data: dict, needs: Needs, source: str) -> None:
    """Check the YouTube-VIS content ``data`` of ``source`` (see the module docstring): a
    ValueError names the first problem."""
    lists = json_lists(data, needs, source)
    categories, videos, tracks = lists["categories"], lists["videos"], lists["annotations"]
    category_ids = unique_ids(categories, "categories", "category", source) if needs.needs("categories", "id") else {}
    videos_by_id = unique_ids(videos, "videos", "video", source)
    if needs.needs("annotations", "id"):
        unique_ids(tracks, "annotations", "annotation", source)
    _check_videos(videos, source)
    check_values(tracks, "iscrowd", lambda value: value in (0, 1), "0 or 1", "annotations", source)
    check_references(tracks, "video_id", videos_by_id, "annotations", f"the videos of {source}")
    if needs.needs("annotations", "category_id"):
        check_references(tracks, "category_id", category_ids, "annotations", f"the categories of {source}")
    for index, track in enumerate(tracks):
        where = entry_where("annotations", index, track)
        if track.get("segmentations") is None and track.get("bboxes") is None:
            raise ValueError(f"{where} has neither 'segmentations' nor 'bboxes' in {source}")
        video = videos_by_id[track["video_id"]]
        check_per_frame_lists(track, where, video, source)
        _check_frame_entries(track, where, video, source)


def _check_videos(videos: list, source: str) -> None:
    """Sizes, frame lists and lengths of the videos."""
    for key in ("height", "width"):
        check_values(videos, key, is_positive_int, "a positive int", "videos", source)
    check_values(videos, "length", lambda value: is_int(value) and value >= 0, "an int >= 0", "videos", source)
    check_values(
        videos,
        "file_names",
        lambda value: isinstance(value, list) and all(map(_is_str, value)),
        "a list of frame paths",
        "videos",
        source,
    )
    for video in videos:
        frames = num_frames(video)
        if frames == 0:
            empty = "'file_names' is empty" if "file_names" in video else "its length is 0"
            raise ValueError(f"video {video['id']!r} has no frames ({empty}) in {source}")
        if "file_names" in video and video.get("length", frames) != frames:
            raise ValueError(f"video {video['id']!r} has length {video['length']} but {frames} file_names in {source}")


def check_per_frame_lists(
    track: dict, where: str, video: dict, source: Optional[str], keys: Sequence[str] = PER_FRAME_KEYS
) -> None:
    """ValueError starting with ``where`` unless each of ``keys`` that ``track`` has (not
    null) is a list with one entry per frame of ``video`` (when its frames are known)."""
    frames = num_frames(video)
    for key in keys:
        per_frame = track.get(key)
        if per_frame is None:
            continue
        if not isinstance(per_frame, list):
            raise ValueError(
                f"{where}: {key!r} must be a list with one entry per frame{in_file(source)}, found a "
                f"{type(per_frame).__name__}"
            )
        if frames is not None and len(per_frame) != frames:
            raise ValueError(
                f"{where}: {key!r} has {len(per_frame)} entries but video {video['id']!r} has {frames} "
                f"frames{in_file(source)}"
            )


def check_mask_size(segmentation: dict, video: dict, where: str) -> None:
    """ValueError starting with ``where`` unless the RLE ``segmentation`` has the size
    ``[height, width]`` of ``video`` (when the video has a size)."""
    if "height" not in video or "width" not in video:
        return
    size = [video["height"], video["width"]]
    if not isinstance(segmentation["size"], (list, tuple)) or list(segmentation["size"]) != size:
        raise ValueError(
            f"{where} has size {segmentation['size']!r} but video {video['id']!r} is {size} (height, width)"
        )


def _is_str(value) -> bool:
    return isinstance(value, str)


def _is_polygons(segmentation) -> bool:
    """Whether ``segmentation`` is a list of polygons of 3 or more ``(x, y)`` points each."""
    return isinstance(segmentation, list) and all(
        isinstance(polygon, list) and len(polygon) >= 6 and len(polygon) % 2 == 0 and all(map(is_number, polygon))
        for polygon in segmentation
    )


def _check_frame_entries(track: dict, where: str, video: dict, source: str) -> None:
    """The boxes, masks and areas of a track whose per-frame lists are checked."""
    for frame, bbox in enumerate(track.get("bboxes") or ()):
        if bbox is not None:
            checked_box(bbox, f"{where}, frame {frame} in {source}")
    for frame, segmentation in enumerate(track.get("segmentations") or ()):
        frame_where = f"{where}, frame {frame} in {source}: segmentation"
        if (
            isinstance(segmentation, dict)
            and "size" in segmentation
            and isinstance(segmentation.get("counts"), (str, list))
        ):
            check_mask_size(segmentation, video, frame_where)
        elif segmentation is not None and not _is_polygons(segmentation):
            raise ValueError(
                f"{frame_where} {str(segmentation)[:60]} is neither an RLE dict ('size', 'counts') nor polygons"
            )
    for frame, area in enumerate(track.get("areas") or ()):
        if area is not None and not is_number(area):
            raise ValueError(f"{where}, frame {frame} in {source}: area {area!r} is not a finite number")


def read_ytvis_results(
    results: Union[str, os.PathLike, list], videos: Mapping[Any, dict], category_ids: Collection
) -> list:
    """The predicted tracks ``results`` (a json file of them, or the list itself), checked
    against a ground truth with the (checked) ``videos`` by id and ``category_ids``.

    Every track is checked before any is used: it is a json object with
    :data:`RESULT_KEYS`, of a video and a category of the ground truth, with a finite score
    and one segmentation per frame of its video, each null or a well-formed RLE of the
    video's size (:func:`_check_result_rle`). The list is returned as it is, not copied.

    Raises:
        FileNotFoundError: the json file does not exist.
        ValueError: the file is not valid json, or not a list of predicted tracks; a
            message names the entry and the field, e.g. ``"results[1] has score nan; a
            score must be a finite number"``.
    """
    if isinstance(results, (str, os.PathLike)):
        results = read_json(results, "results json")
    if not isinstance(results, list):
        raise ValueError(f"results must be a list of predicted tracks, got {type(results).__name__}")
    for index, track in enumerate(results):
        _check_result(track, f"results[{index}]", videos, category_ids)
    return results


def _check_result(track, where: str, videos: Mapping[Any, dict], category_ids: Collection) -> None:
    """ValueError starting with ``where`` unless ``track`` is a well-formed predicted track."""
    if not isinstance(track, dict):
        raise ValueError(f"{where} must be a json object, got {type(track).__name__}")
    for key in RESULT_KEYS:
        if key not in track:
            raise ValueError(f"{where} is missing key {key!r}")
    if not is_known(track["video_id"], videos):
        raise ValueError(f"{where} refers to video_id {track['video_id']!r}, which is not a ground-truth video")
    if not is_known(track["category_id"], category_ids):
        raise ValueError(f"{where} refers to category_id {track['category_id']!r}, which is not a category")
    video, segmentations = videos[track["video_id"]], track["segmentations"]
    if not isinstance(segmentations, list):
        raise ValueError(f"{where}: 'segmentations' must be a list with one entry per frame")
    if len(segmentations) != num_frames(video):
        raise ValueError(
            f"{where}: video {video['id']!r} has {num_frames(video)} frames, but the track has "
            f"{len(segmentations)} per-frame segmentations"
        )
    if not is_number(track["score"]):
        raise ValueError(f"{where} has score {track['score']!r}; a score must be a finite number")
    for frame, segmentation in enumerate(segmentations):
        _check_result_rle(segmentation, video, f"{where}: segmentations[{frame}]")


def _check_result_rle(segmentation, video: dict, where: str) -> None:
    """ValueError starting with ``where`` unless ``segmentation`` is None or a well-formed
    RLE of the video's size: ``{"size": [height, width], "counts": ...}`` with compressed
    counts (a str of COCO's RLE alphabet, whose mask lies within the frame) or run lengths
    (non-negative ints adding up to ``height * width``)."""
    if segmentation is None:
        return
    if not (isinstance(segmentation, dict) and "size" in segmentation and "counts" in segmentation):
        raise ValueError(
            f"{where} is a {type(segmentation).__name__}, not an RLE dict with 'size' and 'counts' (or null)"
        )
    check_mask_size(segmentation, video, where)
    height, width = video["height"], video["width"]
    counts = segmentation["counts"]
    if isinstance(counts, list):
        if not all(is_int(run) and run >= 0 for run in counts) or sum(counts) != height * width:
            raise ValueError(f"{where}: run lengths 'counts' must be non-negative ints adding up to {height} * {width}")
        return
    text = counts.encode("ascii", "replace") if isinstance(counts, str) else counts
    if not isinstance(text, bytes) or not text or any(not _RLE_FIRST <= char <= _RLE_LAST for char in text):
        raise ValueError(f"{where}: 'counts' {str(counts)[:40]!r} is not a compressed COCO RLE string")
    rle = {"size": [height, width], "counts": text}
    x, y, box_width, box_height = mask_util.toBbox(rle).tolist()
    if not (0 <= mask_util.area(rle) <= height * width and x + box_width <= width and y + box_height <= height):
        raise ValueError(
            f"{where}: 'counts' {str(counts)[:40]!r} decodes to a mask outside the "
            f"{width}x{height} frame (a corrupt RLE)"
        )

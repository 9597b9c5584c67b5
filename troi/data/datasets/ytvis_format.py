"""YouTube-VIS (2019 / 2021) json: read and checked once, for the dataset loader
(:mod:`.ytvis`), the evaluator (:mod:`troi.evaluation.ytvis_evaluation`) and
``datasets/split_ytvis.py``.

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
polygons, an area that is a finite number (or null). Pure json/python, without detectron2.
"""
import os
from typing import Optional, Sequence, Union

from .annotation_boxes import checked_box
from .annotation_json import (
    Needs,
    check_references,
    check_values,
    entry_where,
    in_file,
    is_int,
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
    "SPLIT_NEEDS",
    "check_mask_size",
    "check_per_frame_lists",
    "check_ytvis",
    "num_frames",
    "read_ytvis_json",
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


def num_frames(video: dict) -> Optional[int]:
    """The frames of a checked video: its number of ``file_names``, else its ``length``,
    else None (unknown)."""
    if "file_names" in video:
        return len(video["file_names"])
    return video.get("length")


def read_ytvis_json(path: Union[str, os.PathLike], needs: Needs, what: str = "YouTube-VIS json",
                    missing_hint: Optional[str] = None) -> dict:
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
    check_values(videos, "file_names", lambda value: isinstance(value, list) and all(map(_is_str, value)),
                 "a list of frame paths", "videos", source)
    for video in videos:
        frames = num_frames(video)
        if frames == 0:
            empty = "'file_names' is empty" if "file_names" in video else "its length is 0"
            raise ValueError(f"video {video['id']!r} has no frames ({empty}) in {source}")
        if "file_names" in video and video.get("length", frames) != frames:
            raise ValueError(f"video {video['id']!r} has length {video['length']} but {frames} file_names in {source}")


def check_per_frame_lists(track: dict, where: str, video: dict, source: Optional[str],
                          keys: Sequence[str] = PER_FRAME_KEYS) -> None:
    """ValueError starting with ``where`` unless each of ``keys`` that ``track`` has (not
    null) is a list with one entry per frame of ``video`` (when its frames are known)."""
    frames = num_frames(video)
    for key in keys:
        per_frame = track.get(key)
        if per_frame is None:
            continue
        if not isinstance(per_frame, list):
            raise ValueError(f"{where}: {key!r} must be a list with one entry per frame{in_file(source)}, found a "
                             f"{type(per_frame).__name__}")
        if frames is not None and len(per_frame) != frames:
            raise ValueError(f"{where}: {key!r} has {len(per_frame)} entries but video {video['id']!r} has {frames} "
                             f"frames{in_file(source)}")


def check_mask_size(segmentation: dict, video: dict, where: str) -> None:
    """ValueError starting with ``where`` unless the RLE ``segmentation`` has the size
    ``[height, width]`` of ``video`` (when the video has a size)."""
    if "height" not in video or "width" not in video:
        return
    size = [video["height"], video["width"]]
    if not isinstance(segmentation["size"], (list, tuple)) or list(segmentation["size"]) != size:
        raise ValueError(f"{where} has size {segmentation['size']!r} but video {video['id']!r} is {size} "
                         f"(height, width)")


def _is_str(value) -> bool:
    return isinstance(value, str)


def _is_polygons(segmentation) -> bool:
    """Whether ``segmentation`` is a list of polygons of 3 or more ``(x, y)`` points each."""
    return isinstance(segmentation, list) and all(
        isinstance(polygon, list) and len(polygon) >= 6 and len(polygon) % 2 == 0 and all(map(is_number, polygon))
        for polygon in segmentation)


def _check_frame_entries(track: dict, where: str, video: dict, source: str) -> None:
    """The boxes, masks and areas of a track whose per-frame lists are checked."""
    for frame, bbox in enumerate(track.get("bboxes") or ()):
        if bbox is not None:
            checked_box(bbox, f"{where}, frame {frame} in {source}")
    for frame, segmentation in enumerate(track.get("segmentations") or ()):
        frame_where = f"{where}, frame {frame} in {source}: segmentation"
        if isinstance(segmentation, dict) and "size" in segmentation \
                and isinstance(segmentation.get("counts"), (str, list)):
            check_mask_size(segmentation, video, frame_where)
        elif segmentation is not None and not _is_polygons(segmentation):
            raise ValueError(f"{frame_where} {str(segmentation)[:60]} is neither an RLE dict ('size', 'counts') "
                             f"nor polygons")
    for frame, area in enumerate(track.get("areas") or ()):
        if area is not None and not is_number(area):
            raise ValueError(f"{where}, frame {frame} in {source}: area {area!r} is not a finite number")

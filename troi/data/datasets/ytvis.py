"""YouTube-VIS (2019 / 2021) jsons, loaded as one detectron2 dict per frame.

The format, and the checks of a json, are :mod:`.ytvis_format`'s. Each annotation is a
track: its ``id`` becomes the ``instance_id`` of its per-frame objects.
"""

import os
from collections import defaultdict

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from pycocotools import mask as mask_util

from .annotation_boxes import is_empty_box, log_skipped_boxes
from .annotation_json import entry_where
from .coco_vid import MISSING_ANNOTATION_FILE_HINT, category_maps, check_unregistered, set_thing_metadata
from .frame_files import check_frame_files
from .ytvis_format import LOADER_NEEDS, read_ytvis_json

__all__ = ["load_ytvis_json", "register_ytvis_instances"]


def _compressed_rle(segmentation, height: int, width: int) -> dict:
    """A pycocotools RLE of an RLE dict (compressed or not) or a polygon list."""
    if isinstance(segmentation, dict):
        counts = segmentation["counts"]
        if isinstance(counts, list):
            return mask_util.frPyObjects(segmentation, *segmentation["size"])
        return {"size": segmentation["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
    return mask_util.merge(mask_util.frPyObjects(segmentation, height, width))


def _frame_object(track, where: str, frame_id: int, height: int, width: int, id_map: dict, skipped: list):
    """The detectron2 annotation of ``track`` (``where``: ``"annotations[3] (id 7)"``, the
    file) in frame ``frame_id``, or None where it is absent or its box is empty (zero size,
    outside the image: ``(track id, frame)`` goes to ``skipped``).

    Uncompressed RLE (``counts`` a list) is compressed, with ``counts`` as a str, as
    detectron2's ``load_coco_json`` does; compressed RLE and polygons are kept as given.
    The box is ``bboxes[frame_id]``, or the mask's box where that is missing.
    """
    segmentations, bboxes = track.get("segmentations"), track.get("bboxes")
    segmentation = segmentations[frame_id] if segmentations else None
    bbox = list(bboxes[frame_id]) if bboxes and bboxes[frame_id] is not None else None
    if not segmentation and bbox is None:  # an empty polygon list is absent, as in the official evaluator
        return None
    obj = {
        "bbox_mode": BoxMode.XYWH_ABS,
        "category_id": id_map[track["category_id"]],
        "instance_id": track["id"],
        "iscrowd": int(track.get("iscrowd", 0)),
    }
    if segmentation:
        try:
            rle = _compressed_rle(segmentation, height, width)
        except (TypeError, ValueError) as e:  # e.g. run lengths that are not ints
            raise ValueError(
                f"{where}, frame {frame_id}: segmentation does not decode ({type(e).__name__}: {e})"
            ) from None
        if bbox is None:
            bbox = mask_util.toBbox(rle).tolist()
        if isinstance(segmentation, dict) and isinstance(segmentation["counts"], list):
            segmentation = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
        obj["segmentation"] = segmentation
    if is_empty_box(bbox, width, height):
        skipped.append((track["id"], frame_id))
        return None
    obj["bbox"] = bbox
    return obj


def load_ytvis_json(json_file: str, image_root: str, dataset_name: str = None, check_files: bool = True) -> list:
    """Load a YouTube-VIS json as detectron2 dataset dicts, one per frame of every video.

    Args:
        json_file: path of the YouTube-VIS json.
        image_root: directory the videos' ``file_names`` are relative to.
        dataset_name: when given, ``thing_classes`` and ``thing_dataset_id_to_contiguous_id``
            are set in its metadata.
        check_files: check that every frame file exists (:func:`check_frame_files`).

    Returns:
        dicts sorted by (video id, frame index) with ``file_name``, ``height``, ``width``,
        ``image_id`` (``1 +`` the frame's position in that order: unique, and stable for a
        given json), ``video_id``, ``frame_id`` (index in the video's ``file_names``),
        ``is_key_frame`` (True) and ``annotations``: for each track present in the frame
        (non-null segmentation or box) ``{bbox, bbox_mode (XYWH_ABS), category_id
        (contiguous), instance_id (the track id), iscrowd, segmentation (when non-null)}``;
        a track's frames whose box has zero width or height or lies outside the image are
        skipped (and logged).

    Raises:
        FileNotFoundError: ``json_file`` or (with ``check_files``) frame files do not exist.
        ValueError: the json is not a YouTube-VIS json with the keys this loader reads
            (:func:`~.ytvis_format.check_ytvis`: e.g. a missing key, a track naming an unknown
            video or category, per-frame lists whose length is not the video's, a malformed
            box or segmentation), a segmentation does not decode, or the dataset is
            registered with other classes (each message names the file).
    """
    data = read_ytvis_json(json_file, LOADER_NEEDS, "annotation file", MISSING_ANNOTATION_FILE_HINT)
    thing_classes, id_map = category_maps(data["categories"])
    videos = sorted(data["videos"], key=lambda video: video["id"])
    tracks = defaultdict(list)
    for index, track in enumerate(data.get("annotations", [])):
        tracks[track["video_id"]].append((f"{entry_where('annotations', index, track)} in {json_file}", track))
    records, skipped = [], []
    for video in videos:
        height, width = video["height"], video["width"]
        for frame_id, file_name in enumerate(video["file_names"]):
            objects = (
                _frame_object(track, where, frame_id, height, width, id_map, skipped)
                for where, track in tracks[video["id"]]
            )
            records.append(
                {
                    "file_name": os.path.join(image_root, file_name),
                    "height": height,
                    "width": width,
                    "image_id": len(records) + 1,
                    "video_id": video["id"],
                    "frame_id": frame_id,
                    "is_key_frame": True,
                    "annotations": [obj for obj in objects if obj is not None],
                }
            )
    set_thing_metadata(dataset_name, thing_classes, id_map, json_file)
    log_skipped_boxes([f"{track_id} (frame {frame_id})" for track_id, frame_id in skipped], json_file)
    if check_files:
        check_frame_files((record["file_name"] for record in records), json_file)
    return records


def register_ytvis_instances(name: str, metadata: dict, json_file: str, image_root: str) -> None:
    """Register a YouTube-VIS dataset: loaded lazily by ``DatasetCatalog.get(name)``.

    Its metadata gets ``json_file``, ``image_root``, ``evaluator_type="ytvis"`` and ``metadata``.
    A name taken already (e.g. a builtin dataset's) is a ValueError.
    """
    check_unregistered(name, json_file)
    DatasetCatalog.register(name, lambda: load_ytvis_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="ytvis", **metadata)

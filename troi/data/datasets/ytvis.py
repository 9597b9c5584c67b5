"""YouTube-VIS (2019 / 2021) jsons, loaded as one detectron2 dict per frame.

The format::

    videos:      [{id, width, height, length, file_names: [path of each frame]}]
    annotations: [{id, video_id, category_id, iscrowd,
                   segmentations: [per frame: RLE dict | polygons | null],
                   bboxes: [per frame: [x, y, w, h] | null], areas: [per frame | null]}]
                 (absent from the test/val jsons)
    categories:  [{id, name}]

Each annotation is a track: its ``id`` becomes the ``instance_id`` of its per-frame objects.
"""
import os
from collections import defaultdict

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from pycocotools import mask as mask_util

from .coco_vid import category_maps, fields_reader, json_list, read_annotation_json, set_thing_metadata

__all__ = ["load_ytvis_json", "register_ytvis_instances"]

_VIDEO_KEYS = ("id", "height", "width", "file_names")
_TRACK_KEYS = ("id", "video_id", "category_id")
_PER_FRAME_KEYS = ("segmentations", "bboxes")


def _videos(videos: list, json_file: str) -> list:
    """The videos sorted by id, each checked to list its frames."""
    seen = set()
    read = fields_reader(_VIDEO_KEYS, "videos", json_file)
    for index, video in enumerate(videos):
        video_id, _, _, file_names = read(video, index)
        if video_id in seen:
            raise ValueError(f"videos[{index}] repeats video id {video_id} in {json_file}")
        seen.add(video_id)
        if not isinstance(file_names, list) or not file_names:
            raise ValueError(f"video {video_id} has no frames ('file_names' is empty) in {json_file}")
        if video.get("length", len(file_names)) != len(file_names):
            raise ValueError(
                f"video {video_id} has length {video['length']} but {len(file_names)} file_names "
                f"in {json_file}"
            )
    return sorted(videos, key=lambda video: video["id"])


def _tracks_by_video(annotations: list, num_frames: dict, id_map: dict, json_file: str) -> dict:
    """``{video id: [track annotation]}``, each track checked against its video's length."""
    tracks = defaultdict(list)
    read = fields_reader(_TRACK_KEYS, "annotations", json_file)
    for index, track in enumerate(annotations):
        track_id, video_id, category_id = read(track, index)
        if video_id not in num_frames:
            raise ValueError(
                f"annotation {track_id} has video_id {video_id}, which is not in the videos of {json_file}"
            )
        if category_id not in id_map:
            raise ValueError(
                f"annotation {track_id} has category_id {category_id}, which is not in the categories of {json_file}"
            )
        if all(track.get(key) is None for key in _PER_FRAME_KEYS):
            raise ValueError(f"annotation {track_id} has neither 'segmentations' nor 'bboxes' in {json_file}")
        for key in _PER_FRAME_KEYS:
            per_frame = track.get(key)
            if per_frame is not None and (not isinstance(per_frame, list) or len(per_frame) != num_frames[video_id]):
                length = len(per_frame) if isinstance(per_frame, list) else type(per_frame).__name__
                raise ValueError(
                    f"annotation {track_id}: {key!r} has {length} entries but video {video_id} has "
                    f"{num_frames[video_id]} frames in {json_file}"
                )
        tracks[video_id].append(track)
    return tracks


def _compressed_rle(segmentation, height: int, width: int) -> dict:
    """A pycocotools RLE of an RLE dict (compressed or not) or a polygon list."""
    if isinstance(segmentation, dict):
        counts = segmentation["counts"]
        if isinstance(counts, list):
            return mask_util.frPyObjects(segmentation, *segmentation["size"])
        return {"size": segmentation["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
    return mask_util.merge(mask_util.frPyObjects(segmentation, height, width))


def _frame_object(track, frame_id: int, height: int, width: int, id_map: dict, json_file: str):
    """The detectron2 annotation of ``track`` in frame ``frame_id``, or None where it is absent.

    Uncompressed RLE (``counts`` a list) is compressed, with ``counts`` as a str, as
    detectron2's ``load_coco_json`` does; compressed RLE and polygons are kept as given.
    The box is ``bboxes[frame_id]``, or the mask's box where that is missing.
    """
    segmentations, bboxes = track.get("segmentations"), track.get("bboxes")
    segmentation = segmentations[frame_id] if segmentations is not None else None
    bbox = bboxes[frame_id] if bboxes is not None else None
    if segmentation is None and bbox is None:
        return None
    obj = {
        "bbox_mode": BoxMode.XYWH_ABS,
        "category_id": id_map[track["category_id"]],
        "instance_id": track["id"],
        "iscrowd": int(track.get("iscrowd", 0)),
    }
    if segmentation is not None:
        try:
            rle = _compressed_rle(segmentation, height, width)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"annotation {track['id']}: segmentation of frame {frame_id} is neither an RLE dict nor "
                f"polygons in {json_file} ({type(e).__name__}: {e})"
            ) from None
        if bbox is None:
            bbox = mask_util.toBbox(rle).tolist()
        if isinstance(segmentation, dict) and isinstance(segmentation["counts"], list):
            segmentation = {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}
        obj["segmentation"] = segmentation
    obj["bbox"] = bbox
    return obj


def load_ytvis_json(json_file: str, image_root: str, dataset_name: str = None) -> list:
    """Load a YouTube-VIS json as detectron2 dataset dicts, one per frame of every video.

    Args:
        json_file: path of the YouTube-VIS json.
        image_root: directory the videos' ``file_names`` are relative to.
        dataset_name: when given, ``thing_classes`` and ``thing_dataset_id_to_contiguous_id``
            are set in its metadata.

    Returns:
        dicts sorted by (video id, frame index) with ``file_name``, ``height``, ``width``,
        ``image_id`` (``1 +`` the frame's position in that order: unique, and stable for a
        given json), ``video_id``, ``frame_id`` (index in the video's ``file_names``),
        ``is_key_frame`` (True) and ``annotations``: for each track present in the frame
        (non-null segmentation or box) ``{bbox, bbox_mode (XYWH_ABS), category_id
        (contiguous), instance_id (the track id), iscrowd, segmentation (when non-null)}``.

    Raises:
        FileNotFoundError: ``json_file`` does not exist.
        ValueError: malformed json, a missing required key, a track naming an unknown video
            or category, per-frame lists whose length is not the video's, an unreadable
            segmentation (each message names the file).
    """
    data = read_annotation_json(json_file)
    thing_classes, id_map = category_maps(json_list(data, "categories", json_file), json_file)
    videos = _videos(json_list(data, "videos", json_file), json_file)
    num_frames = {video["id"]: len(video["file_names"]) for video in videos}
    tracks = _tracks_by_video(json_list(data, "annotations", json_file, required=False), num_frames, id_map, json_file)
    records = []
    for video in videos:
        height, width = video["height"], video["width"]
        for frame_id, file_name in enumerate(video["file_names"]):
            objects = (_frame_object(track, frame_id, height, width, id_map, json_file)
                       for track in tracks[video["id"]])
            records.append({
                "file_name": os.path.join(image_root, file_name),
                "height": height,
                "width": width,
                "image_id": len(records) + 1,
                "video_id": video["id"],
                "frame_id": frame_id,
                "is_key_frame": True,
                "annotations": [obj for obj in objects if obj is not None],
            })
    set_thing_metadata(dataset_name, thing_classes, id_map)
    return records


def register_ytvis_instances(name: str, metadata: dict, json_file: str, image_root: str) -> None:
    """Register a YouTube-VIS dataset: loaded lazily by ``DatasetCatalog.get(name)``.

    Its metadata gets ``json_file``, ``image_root``, ``evaluator_type="ytvis"`` and ``metadata``.
    """
    DatasetCatalog.register(name, lambda: load_ytvis_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="ytvis", **metadata)

"""COCO-VID: a COCO instances json plus videos, loaded as one detectron2 dict per frame.

The format (mmtracking's ImageNet VID jsons, ``datasets/prepare_imagenet_vid.py``, the
synthetic videos)::

    videos:      [{id, name, ...}]
    images:      [{id, video_id, frame_id, file_name, height, width,
                   optional: is_vid_train_frame, degraded, degradation}]
    annotations: [{id, image_id, video_id, instance_id, category_id, bbox [x, y, w, h],
                   area, iscrowd, optional: occluded, segmentation}]   (absent: unlabeled)
    categories:  [{id, name}]

The json readers and category helpers here are shared with :mod:`.ytvis`.
"""
import json
import operator
import os
from collections import Counter, defaultdict

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

__all__ = [
    "load_coco_vid_json",
    "register_coco_vid_instances",
    "read_annotation_json",
    "json_list",
    "fields_reader",
    "category_maps",
    "set_thing_metadata",
]

DATASETS_README = "datasets/README.md"

_IMAGE_KEYS = ("id", "video_id", "frame_id", "file_name", "height", "width")
_ANNOTATION_KEYS = ("image_id", "category_id", "instance_id", "bbox")
# Annotation fields copied as is into the dataset dicts when the json has them.
_OPTIONAL_ANNOTATION_KEYS = ("segmentation", "occluded")


def read_annotation_json(json_file: str) -> dict:
    """The top-level json object of ``json_file``.

    Raises:
        FileNotFoundError: the file does not exist (the message points to the datasets README).
        ValueError: the file is not valid json, or its top level is not an object.
    """
    if not os.path.isfile(json_file):
        raise FileNotFoundError(
            f"annotation file {json_file} does not exist: see {DATASETS_README} for the dataset "
            "layout under $DETECTRON2_DATASETS and how to prepare it"
        )
    try:
        with open(json_file) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"could not parse {json_file}: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{json_file} must hold a json object, found a {type(data).__name__}")
    return data


def json_list(data: dict, key: str, json_file: str, required: bool = True) -> list:
    """``data[key]`` checked to be a list; ``[]`` when absent and not ``required``."""
    if key not in data:
        if required:
            raise ValueError(f"{json_file} has no top-level {key!r} list")
        return []
    value = data[key]
    if not isinstance(value, list):
        raise ValueError(f"{key!r} in {json_file} must be a list, found a {type(value).__name__}")
    return value


def fields_reader(keys, list_name: str, json_file: str):
    """A function ``(record, index) -> tuple(record[key] for key in keys)`` that raises a
    ``ValueError`` such as ``"images[3] has no 'video_id' in /x/y.json"``."""
    get = operator.itemgetter(*keys) if len(keys) > 1 else (lambda record: (record[keys[0]],))

    def read(record, index: int) -> tuple:
        try:
            return get(record)
        except KeyError as e:
            raise ValueError(f"{list_name}[{index}] has no {e.args[0]!r} in {json_file}") from None
        except TypeError:
            raise ValueError(
                f"{list_name}[{index}] must be a json object in {json_file}, found a {type(record).__name__}"
            ) from None

    return read


def category_maps(categories: list, json_file: str):
    """Contiguous class ids as detectron2's ``load_coco_json`` assigns them.

    Returns:
        ``thing_classes`` (names sorted by category id) and
        ``thing_dataset_id_to_contiguous_id`` (``{json id: 0..K-1}``).
    """
    read = fields_reader(("id", "name"), "categories", json_file)
    for index, category in enumerate(categories):
        read(category, index)
    ordered = sorted(categories, key=lambda category: category["id"])
    duplicates = sorted(cat_id for cat_id, count in Counter(c["id"] for c in ordered).items() if count > 1)
    if duplicates:
        raise ValueError(f"category ids {duplicates} appear more than once in {json_file}")
    thing_classes = [category["name"] for category in ordered]
    return thing_classes, {category["id"]: i for i, category in enumerate(ordered)}


def set_thing_metadata(dataset_name, thing_classes: list, id_map: dict) -> None:
    """Record the classes in ``MetadataCatalog.get(dataset_name)`` (no-op when the name is None)."""
    if dataset_name is not None:
        MetadataCatalog.get(dataset_name).set(
            thing_classes=thing_classes, thing_dataset_id_to_contiguous_id=id_map
        )


def _video_names(videos: list, json_file: str) -> dict:
    """``{video id: name}``, checking that ids are unique."""
    names = {}
    read = fields_reader(("id",), "videos", json_file)
    for index, video in enumerate(videos):
        (video_id,) = read(video, index)
        if video_id in names:
            raise ValueError(f"videos[{index}] repeats video id {video_id} in {json_file}")
        names[video_id] = video.get("name", str(video_id))
    return names


def _annotations_by_image(annotations: list, id_map: dict, json_file: str) -> dict:
    """``{image id: [detectron2 annotation dict]}`` in one pass over the annotations."""
    by_image = defaultdict(list)
    read = fields_reader(_ANNOTATION_KEYS, "annotations", json_file)
    for index, annotation in enumerate(annotations):
        image_id, category_id, instance_id, bbox = read(annotation, index)
        if category_id not in id_map:
            raise ValueError(
                f"annotations[{index}] has category_id {category_id}, which is not in the "
                f"categories of {json_file}"
            )
        obj = {
            "bbox": bbox,
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": id_map[category_id],
            "instance_id": instance_id,
            "iscrowd": int(annotation.get("iscrowd", 0)),
        }
        for key in _OPTIONAL_ANNOTATION_KEYS:
            if key in annotation:
                obj[key] = annotation[key]
        by_image[image_id].append(obj)
    return by_image


def _image_record(image, index, read, image_root, video_names, by_image, json_file) -> dict:
    """The dataset dict of ``images[index]`` (``read``: its fields reader), taking its
    annotations out of ``by_image``."""
    image_id, video_id, frame_id, file_name, height, width = read(image, index)
    if video_id not in video_names:
        raise ValueError(
            f"images[{index}] (id {image_id}) has video_id {video_id}, which is not in the "
            f"videos of {json_file}"
        )
    record = {
        "file_name": os.path.join(image_root, file_name),
        "height": height,
        "width": width,
        "image_id": image_id,
        "video_id": video_id,
        "frame_id": int(frame_id),
        "is_key_frame": bool(image.get("is_vid_train_frame", True)),
        "annotations": by_image.pop(image_id, []),
    }
    if "degraded" in image:
        record["degraded"] = bool(image["degraded"])
        record["degradation"] = image.get("degradation")
    return record


def _check_frames(records: list, video_names: dict, json_file: str) -> None:
    """Every video has frames, and no two images of a video share a frame id
    (``records`` sorted by ``(video_id, frame_id)``)."""
    frames = Counter(record["video_id"] for record in records)
    for video_id, name in video_names.items():
        if frames[video_id] == 0:
            raise ValueError(f"video {video_id} ({name!r}) has no frames in {json_file}")
    for previous, record in zip(records, records[1:]):
        if (previous["video_id"], previous["frame_id"]) == (record["video_id"], record["frame_id"]):
            raise ValueError(
                f"video {record['video_id']} has two images with frame_id {record['frame_id']} "
                f"(image ids {previous['image_id']} and {record['image_id']}) in {json_file}"
            )


def load_coco_vid_json(json_file: str, image_root: str, dataset_name: str = None) -> list:
    """Load a COCO-VID json as detectron2 dataset dicts, one per image of every video.

    Args:
        json_file: path of the COCO-VID json.
        image_root: directory the images' ``file_name`` are relative to.
        dataset_name: when given, ``thing_classes`` and ``thing_dataset_id_to_contiguous_id``
            are set in its metadata.

    Returns:
        dicts sorted by ``(video_id, frame_id)``, with ``file_name``, ``height``, ``width``,
        ``image_id``, ``video_id``, ``frame_id`` (int), ``is_key_frame`` (the image's
        ``is_vid_train_frame``, True when absent), ``degraded`` and ``degradation`` (only
        when the json has ``degraded``) and ``annotations``: a list of ``{bbox, bbox_mode
        (XYWH_ABS), category_id (contiguous 0..K-1), instance_id, iscrowd}``, plus
        ``segmentation`` and ``occluded`` where the json has them.

    Raises:
        FileNotFoundError: ``json_file`` does not exist.
        ValueError: the json is malformed, a required key is missing, an image names an
            unknown video, a video has no frames, an annotation names an unknown image or
            category (each message names the file).
    """
    data = read_annotation_json(json_file)
    thing_classes, id_map = category_maps(json_list(data, "categories", json_file), json_file)
    video_names = _video_names(json_list(data, "videos", json_file), json_file)
    by_image = _annotations_by_image(json_list(data, "annotations", json_file, required=False), id_map, json_file)
    read = fields_reader(_IMAGE_KEYS, "images", json_file)
    records = [
        _image_record(image, index, read, image_root, video_names, by_image, json_file)
        for index, image in enumerate(json_list(data, "images", json_file))
    ]
    if len({record["image_id"] for record in records}) != len(records):
        repeated = [image_id for image_id, n in Counter(r["image_id"] for r in records).items() if n > 1]
        raise ValueError(f"image ids {sorted(repeated)[:10]} appear more than once in {json_file}")
    if by_image:
        unknown = next(iter(by_image))
        raise ValueError(
            f"{len(by_image[unknown])} annotation(s) have image_id {unknown!r}, which is not in the "
            f"images of {json_file}"
        )
    records.sort(key=lambda record: (record["video_id"], record["frame_id"]))
    _check_frames(records, video_names, json_file)
    set_thing_metadata(dataset_name, thing_classes, id_map)
    return records


def register_coco_vid_instances(name: str, metadata: dict, json_file: str, image_root: str) -> None:
    """Register a COCO-VID dataset: loaded lazily by ``DatasetCatalog.get(name)``.

    Its metadata gets ``json_file``, ``image_root``, ``evaluator_type="vid"`` and ``metadata``.
    """
    DatasetCatalog.register(name, lambda: load_coco_vid_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="vid", **metadata)

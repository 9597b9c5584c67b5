"""COCO-VID: a COCO instances json plus videos, loaded as one detectron2 dict per frame.

The format, and the checks of a json, are :mod:`.coco_vid_format`'s. The category and
registration helpers here are shared with :mod:`.ytvis`.
"""

import os
from collections import defaultdict

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from .annotation_boxes import is_empty_box, log_skipped_boxes
from .coco_vid_format import LOADER_NEEDS, read_coco_vid_json
from .frame_files import check_frame_files

__all__ = [
    "load_coco_vid_json",
    "register_coco_vid_instances",
    "category_maps",
    "set_thing_metadata",
    "check_unregistered",
    "MISSING_ANNOTATION_FILE_HINT",
]

DATASETS_README = "datasets/README.md"
MISSING_ANNOTATION_FILE_HINT = (
    f"see {DATASETS_README} for the dataset layout under $DETECTRON2_DATASETS and how to prepare it"
)
"""Follows the error of an annotation file that does not exist."""

# Annotation fields copied as is into the dataset dicts when the json has them.
_OPTIONAL_ANNOTATION_KEYS = ("segmentation", "occluded")


def category_maps(categories: list):
    """Contiguous class ids of checked categories, as detectron2's ``load_coco_json``
    assigns them.

    Returns:
        ``thing_classes`` (names sorted by category id) and
        ``thing_dataset_id_to_contiguous_id`` (``{json id: 0..K-1}``).
    """
    ordered = sorted(categories, key=lambda category: category["id"])
    thing_classes = [category["name"] for category in ordered]
    return thing_classes, {category["id"]: i for i, category in enumerate(ordered)}


def set_thing_metadata(dataset_name, thing_classes: list, id_map: dict, json_file: str) -> None:
    """Record the classes of ``json_file`` in ``MetadataCatalog.get(dataset_name)`` (no-op
    when the name is None); ValueError if the dataset was registered with other classes
    (a builtin dataset's name given to another json)."""
    if dataset_name is None:
        return
    metadata = MetadataCatalog.get(dataset_name)
    registered = metadata.get("thing_classes")
    if registered is not None and list(registered) != list(thing_classes):
        raise ValueError(
            f"{json_file} has {len(thing_classes)} categories ({', '.join(thing_classes[:5])}, ...) but dataset "
            f"{dataset_name!r} is registered with {len(registered)} others ({', '.join(registered[:5])}, ...): give "
            f"your json a dataset name of its own (register_coco_vid_instances / register_ytvis_instances)"
        )
    metadata.set(thing_classes=thing_classes, thing_dataset_id_to_contiguous_id=id_map)


def check_unregistered(name: str, json_file: str) -> None:
    """ValueError if the dataset ``name`` is registered already (e.g. a builtin dataset),
    naming it, its json and ``json_file``."""
    registered = MetadataCatalog.get(name).get("json_file") if name in MetadataCatalog.list() else None
    if name in DatasetCatalog.list() or registered not in (None, json_file):
        raise ValueError(
            f"cannot register {json_file} as dataset {name!r}: that name is taken (by "
            f"{registered or 'another dataset'}); register it under a name of its own"
        )


def _annotations_by_image(annotations: list, id_map: dict) -> dict:
    """``{image id: [(annotation id, detectron2 annotation dict)]}`` of checked annotations."""
    by_image = defaultdict(list)
    for index, annotation in enumerate(annotations):
        obj = {
            "bbox": list(annotation["bbox"]),
            "bbox_mode": BoxMode.XYWH_ABS,
            "category_id": id_map[annotation["category_id"]],
            "instance_id": annotation["instance_id"],
            "iscrowd": int(annotation.get("iscrowd", 0)),
        }
        for key in _OPTIONAL_ANNOTATION_KEYS:
            if key in annotation:
                obj[key] = annotation[key]
        by_image[annotation["image_id"]].append((annotation.get("id", index), obj))
    return by_image


def _image_record(image, image_root, by_image, skipped) -> dict:
    """The dataset dict of a checked image, with its annotations from ``by_image``; the
    ids of those with an empty box go to ``skipped``."""
    annotations = []
    for annotation_id, obj in by_image.get(image["id"], ()):
        if is_empty_box(obj["bbox"], image["width"], image["height"]):
            skipped.append(annotation_id)
        else:
            annotations.append(obj)
    record = {
        "file_name": os.path.join(image_root, image["file_name"]),
        "height": image["height"],
        "width": image["width"],
        "image_id": image["id"],
        "video_id": image["video_id"],
        "frame_id": image["frame_id"],
        "is_key_frame": bool(image.get("is_vid_train_frame", True)),
        "annotations": annotations,
    }
    if "degraded" in image:
        record["degraded"] = bool(image["degraded"])
        record["degradation"] = image.get("degradation")
    return record


def load_coco_vid_json(json_file: str, image_root: str, dataset_name: str = None, check_files: bool = True) -> list:
    """Load a COCO-VID json as detectron2 dataset dicts, one per image of every video.

    Args:
        json_file: path of the COCO-VID json.
        image_root: directory the images' ``file_name`` are relative to.
        dataset_name: when given, ``thing_classes`` and ``thing_dataset_id_to_contiguous_id``
            are set in its metadata.
        check_files: check that every frame file exists (:func:`check_frame_files`).

    Returns:
        dicts sorted by ``(video_id, frame_id)``, with ``file_name``, ``height``, ``width``,
        ``image_id``, ``video_id``, ``frame_id`` (int), ``is_key_frame`` (the image's
        ``is_vid_train_frame``, True when absent), ``degraded`` and ``degradation`` (only
        when the json has ``degraded``) and ``annotations``: a list of ``{bbox, bbox_mode
        (XYWH_ABS), category_id (contiguous 0..K-1), instance_id, iscrowd}``, plus
        ``segmentation`` and ``occluded`` where the json has them. Annotations whose box
        has zero width or height or lies outside its image are skipped (and logged).

    Raises:
        FileNotFoundError: ``json_file`` or (with ``check_files``) frame files do not exist.
        ValueError: the json is not a COCO-VID json with the keys this loader reads
            (:func:`~.coco_vid_format.check_coco_vid`: e.g. a missing key, an image naming an
            unknown video, a video without frames, an annotation naming an unknown image or
            category or with a malformed box), or the dataset is registered with other
            classes (each message names the file).
    """
    data = read_coco_vid_json(json_file, LOADER_NEEDS, "annotation file", MISSING_ANNOTATION_FILE_HINT)
    thing_classes, id_map = category_maps(data["categories"])
    by_image = _annotations_by_image(data.get("annotations", []), id_map)
    skipped = []
    records = [_image_record(image, image_root, by_image, skipped) for image in data["images"]]
    records.sort(key=lambda record: (record["video_id"], record["frame_id"]))
    set_thing_metadata(dataset_name, thing_classes, id_map, json_file)
    log_skipped_boxes(skipped, json_file)
    if check_files:
        check_frame_files((record["file_name"] for record in records), json_file)
    return records


def register_coco_vid_instances(name: str, metadata: dict, json_file: str, image_root: str) -> None:
    """Register a COCO-VID dataset: loaded lazily by ``DatasetCatalog.get(name)``.

    Its metadata gets ``json_file``, ``image_root``, ``evaluator_type="vid"`` and ``metadata``.
    A name taken already (e.g. a builtin dataset's) is a ValueError.
    """
    check_unregistered(name, json_file)
    DatasetCatalog.register(name, lambda: load_coco_vid_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="vid", **metadata)

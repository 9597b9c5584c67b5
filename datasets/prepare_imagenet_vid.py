#!/usr/bin/env python
"""Convert the ILSVRC2015 VID and DET XML annotations into the COCO-VID jsons troi reads.

Input, the ILSVRC2015 tree (default ``$DETECTRON2_DATASETS/ILSVRC``)::

    Annotations/VID/train/<chunk>/<snippet>/<frame>.xml    Data/VID/train/<chunk>/<snippet>/<frame>.JPEG
    Annotations/VID/val/<snippet>/<frame>.xml              Data/VID/val/<snippet>/<frame>.JPEG
    Annotations/DET/train/<subdirs>/<image>.xml            Data/DET/train/<subdirs>/<image>.JPEG
    Lists/VID_train_15frames.txt, Lists/DET_train_30classes.txt   (optional, FGFA's split lists)

Output (default ``<ILSVRC>/annotations``), in the format of ``troi.data.datasets.coco_vid_format``
(each json is checked against it before it is written):

- ``imagenet_vid_train.json``: every frame of every train snippet; 15 key frames per
  snippet have ``is_vid_train_frame: true`` (the frames trained on; support frames
  may be any frame);
- ``imagenet_vid_val.json``: every frame of every val snippet, all key frames;
- ``imagenet_det_30cls_train.json``: DET train images showing one of the 30 VID
  classes, each a one-frame video, about as many images as VID key frames (DET:VID ~ 1:1).
  Objects of other classes are dropped, and so are images left without objects unless
  the split list names them.

Category ids are 1..30 in the order of ``IMAGENET_VID_CATEGORIES``. Boxes are
``[xmin, ymin, xmax - xmin, ymax - ymin]``. Track ids come from ``<trackid>`` (one
``instance_id`` per snippet and track, unique over the json; every DET object is its
own instance); ``occluded`` and ``generated`` from the XML fields of the same names.

FGFA's split lists are used when the lists directory holds them (one line each; with
the VID list, snippets it does not name get no key frame)::

    VID_train_15frames.txt:  <snippet> <running index> <1-based frame number> <snippet length>
                             train/ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000 1 10 300
    DET_train_30classes.txt: <image path without extension> <ignored fields>
                             train/ILSVRC2014_train_0000/ILSVRC2014_train_00000663 1

Otherwise the same kind of selection is made deterministically: in each snippet of
``n`` frames, the 0-based frames ``ceil((i + 0.5) * n / 15) - 1`` for ``i < 15`` (the
centres of 15 equal segments: 9, 29, ..., 289 for 300 frames; every frame when
``n <= 15``); for DET, per class, up to ``--det-images-per-class`` images
containing it, evenly spaced over the sorted paths of those images.

Usage::

    python datasets/prepare_imagenet_vid.py [--ilsvrc-root DIR] [--output-dir DIR]
        [--splits vid_train vid_val det_train] [--lists-dir DIR] [--det-images-per-class N]
"""

import argparse
import math
import os
import sys
import xml.etree.ElementTree as ET

import numpy as np
from tqdm import tqdm

from troi.data.datasets.coco_vid_format import WRITER_NEEDS, check_coco_vid
from troi.data.datasets.imagenet_vid import IMAGENET_VID_CATEGORIES
from troi.utils import write_json_atomically

SPLITS = ("vid_train", "vid_val", "det_train")
OUTPUT_NAMES = {
    "vid_train": "imagenet_vid_train.json",
    "vid_val": "imagenet_vid_val.json",
    "det_train": "imagenet_det_30cls_train.json",
}
VID_TRAIN_LIST = "VID_train_15frames.txt"
DET_TRAIN_LIST = "DET_train_30classes.txt"
KEY_FRAMES_PER_SNIPPET = 15
DEFAULT_DET_IMAGES_PER_CLASS = 2000
CATEGORY_IDS = {wnid: index + 1 for index, (_, wnid) in enumerate(IMAGENET_VID_CATEGORIES)}
CATEGORIES = [
    {"id": index + 1, "name": name, "wnid": wnid} for index, (name, wnid) in enumerate(IMAGENET_VID_CATEGORIES)
]


def _text(element, tag, xml_path, where="<annotation>"):
    """Text of the child ``tag`` of ``element``; ValueError naming the file if absent."""
    child = element.find(tag)
    if child is None or child.text is None:
        raise ValueError(f"{xml_path}: {where} has no <{tag}>")
    return child.text.strip()


def parse_xml(xml_path: str):
    """Read one ImageNet XML annotation.

    Returns:
        ``(width, height, objects)``, each object a dict with ``wnid``, ``bbox``
        ``[x, y, w, h]``, ``trackid`` (None in DET), ``occluded`` and ``generated`` (bools).

    Raises:
        ValueError: malformed XML or a missing field (the message names the file).
    """
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"malformed XML {xml_path}: {e}") from e
    size = root.find("size")
    if size is None:
        raise ValueError(f"{xml_path}: <annotation> has no <size>")
    width, height = int(_text(size, "width", xml_path, "<size>")), int(_text(size, "height", xml_path, "<size>"))
    objects = []
    for index, obj in enumerate(root.findall("object")):
        where = f"<object> #{index}"
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"{xml_path}: {where} has no <bndbox>")
        x0, x1, y0, y1 = (
            int(float(_text(box, tag, xml_path, f"{where} <bndbox>"))) for tag in ("xmin", "xmax", "ymin", "ymax")
        )
        trackid = obj.find("trackid")
        objects.append(
            {
                "wnid": _text(obj, "name", xml_path, where),
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "trackid": None if trackid is None else trackid.text.strip(),
                "occluded": obj.findtext("occluded", "0").strip() == "1",
                "generated": obj.findtext("generated", "0").strip() == "1",
            }
        )
    return width, height, objects


def _require_dir(path: str) -> str:
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"{path} does not exist: expected the ILSVRC2015 layout described in datasets/README.md"
        )
    return path


def _xml_dirs(root: str) -> dict:
    """``{directory relative to root: sorted xml file names}`` of every directory holding XMLs."""
    found = {}
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        xmls = sorted(name for name in files if name.endswith(".xml"))
        if xmls:
            found[os.path.relpath(directory, os.path.dirname(root))] = xmls
    return found


def even_key_frames(num_frames: int, count: int = KEY_FRAMES_PER_SNIPPET) -> list:
    """0-based centres of ``count`` equal segments of a snippet (every frame if shorter)."""
    if num_frames <= count:
        return list(range(num_frames))
    return [math.ceil((i + 0.5) * num_frames / count) - 1 for i in range(count)]


def read_vid_train_list(list_file: str) -> dict:
    """``{snippet: (0-based key frames, snippet length)}`` from FGFA's VID_train_15frames.txt."""
    snippets = {}
    with open(list_file) as f:
        for line_number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 4:
                raise ValueError(
                    f"{list_file}:{line_number}: expected '<snippet> <index> <frame> <length>', got {line!r}"
                )
            frames, _ = snippets.setdefault(fields[0], ([], int(fields[3])))
            frames.append(int(fields[2]) - 1)
    return snippets


def read_det_train_list(list_file: str) -> list:
    """Image paths (relative to Annotations/DET, no extension) of FGFA's DET_train_30classes.txt."""
    with open(list_file) as f:
        return [line.split()[0] for line in f if line.strip()]


class _CocoVidWriter:
    """Accumulates videos, images and annotations with running ids."""

    def __init__(self):
        self.videos, self.images, self.annotations = [], [], []
        self.next_instance_id = 1

    def add_video(self, name: str) -> int:
        self.videos.append({"id": len(self.videos) + 1, "name": name})
        return len(self.videos)

    def add_image(self, video_id, frame_id, file_name, width, height, is_key_frame) -> int:
        self.images.append(
            {
                "id": len(self.images) + 1,
                "video_id": video_id,
                "frame_id": frame_id,
                "file_name": file_name,
                "height": height,
                "width": width,
                "is_vid_train_frame": is_key_frame,
            }
        )
        return len(self.images)

    def add_object(self, image_id, video_id, instance_id, obj):
        x, y, w, h = obj["bbox"]
        self.annotations.append(
            {
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "video_id": video_id,
                "instance_id": instance_id,
                "category_id": CATEGORY_IDS[obj["wnid"]],
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
                "occluded": obj["occluded"],
                "generated": obj["generated"],
            }
        )

    def new_instance_id(self) -> int:
        self.next_instance_id += 1
        return self.next_instance_id - 1

    def content(self) -> dict:
        return {"videos": self.videos, "images": self.images, "annotations": self.annotations, "categories": CATEGORIES}


def _progress(iterable, description, unit, show_progress):
    """A tqdm bar over ``iterable``: shown on a terminal when ``show_progress`` is None."""
    return tqdm(iterable, desc=description, unit=unit, disable=None if show_progress is None else not show_progress)


def _vid_key_frames(snippets: dict, split: str, list_file) -> dict:
    """``{snippet: set of 0-based key frames}``: every frame for val, the list's or
    :func:`even_key_frames` for train."""
    if split == "val":
        return {name: set(range(len(xmls))) for name, xmls in snippets.items()}
    if list_file is None:
        return {name: set(even_key_frames(len(xmls))) for name, xmls in snippets.items()}
    listed = read_vid_train_list(list_file)
    for name, (_, length) in listed.items():
        if name not in snippets:
            raise ValueError(f"{list_file} names snippet {name}, which has no XMLs under Annotations/VID")
        if length != len(snippets[name]):
            raise ValueError(
                f"{list_file} gives snippet {name} {length} frames, Annotations/VID has {len(snippets[name])}"
            )
    return {name: set(listed[name][0]) if name in listed else set() for name in snippets}


def convert_vid(ilsvrc_root: str, split: str, lists_dir: str, show_progress=None) -> dict:
    """The COCO-VID json content of VID ``split`` ("train" or "val")."""
    annotations_root = _require_dir(os.path.join(ilsvrc_root, "Annotations", "VID", split))
    _require_dir(os.path.join(ilsvrc_root, "Data", "VID", split))
    snippets = _xml_dirs(annotations_root)
    list_file = os.path.join(lists_dir, VID_TRAIN_LIST)
    key_frames = _vid_key_frames(snippets, split, list_file if os.path.isfile(list_file) else None)
    writer = _CocoVidWriter()
    for name in _progress(snippets, f"VID {split}", "snippet", show_progress):
        video_id = writer.add_video(name)
        instance_ids = {}
        for frame_id, xml_name in enumerate(snippets[name]):
            xml_path = os.path.join(ilsvrc_root, "Annotations", "VID", name, xml_name)
            width, height, objects = parse_xml(xml_path)
            image_id = writer.add_image(
                video_id, frame_id, f"{name}/{xml_name[:-4]}.JPEG", width, height, frame_id in key_frames[name]
            )
            for obj in objects:
                if obj["wnid"] not in CATEGORY_IDS:
                    raise ValueError(f"{xml_path}: {obj['wnid']} is not one of the 30 VID classes")
                if obj["trackid"] not in instance_ids:
                    instance_ids[obj["trackid"]] = writer.new_instance_id()
                writer.add_object(image_id, video_id, instance_ids[obj["trackid"]], obj)
    return writer.content()


def _select_det_images(classes_of: dict, per_class: int) -> set:
    """Per class, up to ``per_class`` of the (sorted) images showing it, evenly spaced."""
    selected = set()
    for category_id in range(1, len(CATEGORIES) + 1):
        showing = sorted(path for path, classes in classes_of.items() if category_id in classes)
        if len(showing) > per_class:
            showing = [showing[i] for i in np.linspace(0, len(showing) - 1, per_class).round().astype(int)]
        selected.update(showing)
    return selected


def _parse_det(ilsvrc_root: str, paths, show_progress) -> dict:
    """``{path: (width, height, objects of the 30 VID classes)}`` of DET images."""
    parsed = {}
    for path in _progress(paths, "DET train", "image", show_progress):
        width, height, objects = parse_xml(os.path.join(ilsvrc_root, "Annotations", "DET", f"{path}.xml"))
        parsed[path] = (width, height, [obj for obj in objects if obj["wnid"] in CATEGORY_IDS])
    return parsed


def convert_det(
    ilsvrc_root: str, lists_dir: str, per_class: int = DEFAULT_DET_IMAGES_PER_CLASS, show_progress=None
) -> dict:
    """The COCO-VID json content of the DET train images of the 30 VID classes."""
    annotations_root = _require_dir(os.path.join(ilsvrc_root, "Annotations", "DET", "train"))
    _require_dir(os.path.join(ilsvrc_root, "Data", "DET", "train"))
    list_file = os.path.join(lists_dir, DET_TRAIN_LIST)
    if os.path.isfile(list_file):
        selected = list(dict.fromkeys(read_det_train_list(list_file)))
        parsed = _parse_det(ilsvrc_root, selected, show_progress)
    else:
        paths = [
            os.path.join(directory, name[:-4])
            for directory, names in _xml_dirs(annotations_root).items()
            for name in names
        ]
        parsed = {path: parse for path, parse in _parse_det(ilsvrc_root, paths, show_progress).items() if parse[2]}
        classes_of = {path: {CATEGORY_IDS[obj["wnid"]] for obj in objects} for path, (_, _, objects) in parsed.items()}
        selected = sorted(_select_det_images(classes_of, per_class))
    writer = _CocoVidWriter()
    for path in selected:
        width, height, objects = parsed[path]
        video_id = writer.add_video(path)
        image_id = writer.add_image(video_id, 0, f"{path}.JPEG", width, height, True)
        for obj in objects:
            writer.add_object(image_id, video_id, writer.new_instance_id(), obj)
    return writer.content()


def convert(
    ilsvrc_root: str,
    output_dir: str = None,
    splits=SPLITS,
    lists_dir: str = None,
    det_images_per_class: int = DEFAULT_DET_IMAGES_PER_CLASS,
    show_progress=None,
) -> dict:
    """Convert ``splits`` and write their jsons; returns ``{split: json path}``.

    ``show_progress``: progress bars always (True), never (False), or on a terminal (None).
    A json is checked before it is written: one the loader or the evaluation would refuse
    (e.g. with an XML box whose xmax is below its xmin) is a ValueError, and not written.
    """
    _require_dir(ilsvrc_root)
    output_dir = output_dir or os.path.join(ilsvrc_root, "annotations")
    lists_dir = lists_dir or os.path.join(ilsvrc_root, "Lists")
    os.makedirs(output_dir, exist_ok=True)
    written = {}
    for split in splits:
        if split == "det_train":
            content = convert_det(ilsvrc_root, lists_dir, det_images_per_class, show_progress)
        else:
            content = convert_vid(ilsvrc_root, split.split("_")[1], lists_dir, show_progress)
        written[split] = os.path.join(output_dir, OUTPUT_NAMES[split])
        check_coco_vid(content, WRITER_NEEDS, written[split])
        write_json_atomically(content, written[split])
        key_frames = sum(image["is_vid_train_frame"] for image in content["images"])
        print(
            f"{split}: {len(content['videos'])} videos, {len(content['images'])} images "
            f"({key_frames} key frames), {len(content['annotations'])} objects -> {written[split]}"
        )
    return written


def parse_args(argv=None):
    default_root = os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "ILSVRC")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--ilsvrc-root", default=default_root, help="the ILSVRC2015 directory (default: $DETECTRON2_DATASETS/ILSVRC)"
    )
    parser.add_argument("--output-dir", help="where to write the jsons (default: <ilsvrc-root>/annotations)")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--lists-dir", help="FGFA's split lists, when available (default: <ilsvrc-root>/Lists)")
    parser.add_argument(
        "--det-images-per-class",
        type=int,
        default=DEFAULT_DET_IMAGES_PER_CLASS,
        help="DET images per class when there is no DET_train_30classes.txt",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        convert(
            args.ilsvrc_root,
            args.output_dir,
            args.splits,
            args.lists_dir,
            args.det_images_per_class,
            show_progress=False if args.no_progress else None,
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Datasets predefined at fixed paths under ``$DETECTRON2_DATASETS`` (default ``datasets``).

Importing this module registers them, as detectron2's ``builtin.py`` does for COCO.
Registration reads no file: a json is read when ``DatasetCatalog.get(name)`` runs,
and a missing one raises ``FileNotFoundError`` naming it and ``datasets/README.md``
(the layout, and how to convert ImageNet VID). The synthetic videos and motion clips
are generated there on first use instead.
"""

import functools
import os

from .coco_vid import register_coco_vid_instances
from .imagenet_vid import imagenet_vid_metadata
from .something_something import (
    SOMETHING_SOMETHING_NUM_CLASSES,
    STHV1_FLIP_LABEL_MAP,
    STHV2_FLIP_LABEL_MAP,
    load_sthv1_csv,
    load_sthv2_json,
)
from .synthetic import register_synthetic_videos
from .synthetic_motion import register_synthetic_motion_clips
from .video_lists import load_video_list, register_recognition_dataset
from .ytvis import register_ytvis_instances

__all__ = ["register_all_imagenet_vid", "register_all_ytvis", "register_all_synthetic", "register_all_recognition"]

# name: (image root, json file), relative to the datasets root.
# The jsons are written by datasets/prepare_imagenet_vid.py.
PREDEFINED_SPLITS_IMAGENET_VID = {
    "imagenet_vid_train": ("ILSVRC/Data/VID", "ILSVRC/annotations/imagenet_vid_train.json"),
    "imagenet_vid_val": ("ILSVRC/Data/VID", "ILSVRC/annotations/imagenet_vid_val.json"),
    "imagenet_det_30cls_train": ("ILSVRC/Data/DET", "ILSVRC/annotations/imagenet_det_30cls_train.json"),
}

# The layout of the YouTube-VIS downloads ("valid" is the unlabeled val split), and the
# train/holdout split of each train json written by datasets/split_ytvis.py into
# ytvis_<year>/split (labeled, so the holdout evaluates locally).
PREDEFINED_SPLITS_YTVIS = {
    "ytvis_2019_train": ("ytvis_2019/train/JPEGImages", "ytvis_2019/train.json"),
    "ytvis_2019_val": ("ytvis_2019/valid/JPEGImages", "ytvis_2019/valid.json"),
    "ytvis_2021_train": ("ytvis_2021/train/JPEGImages", "ytvis_2021/train.json"),
    "ytvis_2021_val": ("ytvis_2021/valid/JPEGImages", "ytvis_2021/valid.json"),
    "ytvis_2019_split_train": ("ytvis_2019/train/JPEGImages", "ytvis_2019/split/train.json"),
    "ytvis_2019_split_holdout": ("ytvis_2019/train/JPEGImages", "ytvis_2019/split/holdout.json"),
    "ytvis_2021_split_train": ("ytvis_2021/train/JPEGImages", "ytvis_2021/split/train.json"),
    "ytvis_2021_split_holdout": ("ytvis_2021/train/JPEGImages", "ytvis_2021/split/holdout.json"),
}

SYNTHETIC_DIR = "synthetic_videos"

# Video recognition lists in mmaction2's layout (its tools/data/{kinetics,sthv1}): Kinetics-400
# videos or rawframes, and Something-Something V1 as mmaction2's converter lists it.
# name: (list kind, mmaction2 annotation list, data root, frame file template).
PREDEFINED_RECOGNITION_LISTS = {
    "kinetics400_train": ("videos", "kinetics400/kinetics400_train_list_videos.txt", "kinetics400/videos_train", None),
    "kinetics400_val": ("videos", "kinetics400/kinetics400_val_list_videos.txt", "kinetics400/videos_val", None),
    "kinetics400_rawframes_train": (
        "rawframes",
        "kinetics400/kinetics400_train_list_rawframes.txt",
        "kinetics400/rawframes_train",
        "img_{:05d}.jpg",
    ),
    "kinetics400_rawframes_val": (
        "rawframes",
        "kinetics400/kinetics400_val_list_rawframes.txt",
        "kinetics400/rawframes_val",
        "img_{:05d}.jpg",
    ),
    "sthv1_rawframes_train": ("rawframes", "sthv1/sthv1_train_list_rawframes.txt", "sthv1/rawframes", "{:05d}.jpg"),
    "sthv1_rawframes_val": ("rawframes", "sthv1/sthv1_val_list_rawframes.txt", "sthv1/rawframes", "{:05d}.jpg"),
}
# Something-Something in its own formats: name: (loader, split file, labels file, data root).
PREDEFINED_SPLITS_SOMETHING_SOMETHING = {
    "sthv1_train": (
        load_sthv1_csv,
        "sthv1/annotations/something-something-v1-train.csv",
        "sthv1/annotations/something-something-v1-labels.csv",
        "sthv1/rawframes",
    ),
    "sthv1_val": (
        load_sthv1_csv,
        "sthv1/annotations/something-something-v1-validation.csv",
        "sthv1/annotations/something-something-v1-labels.csv",
        "sthv1/rawframes",
    ),
    "sthv2_train": (
        load_sthv2_json,
        "sthv2/annotations/something-something-v2-train.json",
        "sthv2/annotations/something-something-v2-labels.json",
        "sthv2/videos",
    ),
    "sthv2_val": (
        load_sthv2_json,
        "sthv2/annotations/something-something-v2-validation.json",
        "sthv2/annotations/something-something-v2-labels.json",
        "sthv2/videos",
    ),
}
SYNTHETIC_MOTION_DIR = "synthetic_motion"


def register_all_imagenet_vid(root: str) -> None:
    """ImageNet VID train/val and the DET images of the 30 VID classes (COCO-VID jsons)."""
    for name, (image_root, json_file) in PREDEFINED_SPLITS_IMAGENET_VID.items():
        register_coco_vid_instances(
            name, imagenet_vid_metadata(), os.path.join(root, json_file), os.path.join(root, image_root)
        )


def register_all_ytvis(root: str) -> None:
    """YouTube-VIS 2019 and 2021: train, val, and the train/holdout split of train (classes
    are read from the jsons)."""
    for name, (image_root, json_file) in PREDEFINED_SPLITS_YTVIS.items():
        register_ytvis_instances(name, {}, os.path.join(root, json_file), os.path.join(root, image_root))


def register_all_synthetic(root: str) -> None:
    """``synthetic_{vid,ytvis}_{train,val}``: the default synthetic videos (seed 0) in
    ``root/synthetic_videos``."""
    register_synthetic_videos(os.path.join(root, SYNTHETIC_DIR), prefix="synthetic", seed=0)


def register_all_recognition(root: str) -> None:
    """Kinetics-400 (videos or rawframes, mmaction2's lists), Something-Something V1 (its
    csv files or mmaction2's rawframe lists) and V2 (its json files), and the synthetic
    motion clips (seed 0, in ``root/synthetic_motion``)."""
    flip_label_maps = {"sthv1": STHV1_FLIP_LABEL_MAP, "sthv2": STHV2_FLIP_LABEL_MAP}
    for name, (kind, list_file, data_root, template) in PREDEFINED_RECOGNITION_LISTS.items():
        num_classes = SOMETHING_SOMETHING_NUM_CLASSES if name.startswith("sthv") else 400
        options = {"filename_tmpl": template} if template else {}
        load = functools.partial(
            load_video_list,
            os.path.join(root, list_file),
            os.path.join(root, data_root),
            kind=kind,
            num_classes=num_classes,
            dataset_name=name,
            **options,
        )
        register_recognition_dataset(name, load, num_classes, flip_label_map=flip_label_maps.get(name[:5], {}))
    for name, (loader, split_file, labels_file, data_root) in PREDEFINED_SPLITS_SOMETHING_SOMETHING.items():
        load = functools.partial(
            loader, os.path.join(root, split_file), os.path.join(root, labels_file), os.path.join(root, data_root)
        )
        register_recognition_dataset(
            name, load, SOMETHING_SOMETHING_NUM_CLASSES, flip_label_map=flip_label_maps[name[:5]]
        )
    register_synthetic_motion_clips(os.path.join(root, SYNTHETIC_MOTION_DIR), prefix="synthetic_motion", seed=0)


_root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
register_all_imagenet_vid(_root)
register_all_ytvis(_root)
register_all_synthetic(_root)
register_all_recognition(_root)

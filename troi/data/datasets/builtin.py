"""Datasets predefined at fixed paths under ``$DETECTRON2_DATASETS`` (default ``datasets``).

Importing this module registers them, as detectron2's ``builtin.py`` does for COCO.
Registration reads no file: a json is read when ``DatasetCatalog.get(name)`` runs,
and a missing one raises ``FileNotFoundError`` naming it and ``datasets/README.md``
(the layout, and how to convert ImageNet VID). The synthetic videos are generated
there on first use instead.
"""
import os

from .coco_vid import register_coco_vid_instances
from .imagenet_vid import imagenet_vid_metadata
from .synthetic import register_synthetic_videos
from .ytvis import register_ytvis_instances

__all__ = ["register_all_imagenet_vid", "register_all_ytvis", "register_all_synthetic"]

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


_root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
register_all_imagenet_vid(_root)
register_all_ytvis(_root)
register_all_synthetic(_root)

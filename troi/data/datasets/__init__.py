"""Video datasets: COCO-VID and YouTube-VIS loaders, the synthetic videos, and the
builtin datasets, which importing this package registers (see :mod:`.builtin`)."""
from . import builtin  # noqa: F401  (registers the builtin datasets)
from .coco_vid import load_coco_vid_json, register_coco_vid_instances
from .imagenet_vid import IMAGENET_VID_CATEGORIES, imagenet_vid_metadata
from .synthetic import (
    DEGRADATIONS,
    SYNTHETIC_CLASSES,
    ensure_synthetic_videos,
    generate_synthetic_videos,
    register_synthetic_videos,
    synthetic_metadata,
    synthetic_paths,
)
from .ytvis import load_ytvis_json, register_ytvis_instances

__all__ = [
    "load_coco_vid_json",
    "register_coco_vid_instances",
    "load_ytvis_json",
    "register_ytvis_instances",
    "generate_synthetic_videos",
    "ensure_synthetic_videos",
    "register_synthetic_videos",
    "synthetic_paths",
    "synthetic_metadata",
    "SYNTHETIC_CLASSES",
    "DEGRADATIONS",
    "IMAGENET_VID_CATEGORIES",
    "imagenet_vid_metadata",
]

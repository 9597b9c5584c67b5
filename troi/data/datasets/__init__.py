"""Video datasets: COCO-VID and YouTube-VIS loaders, the synthetic videos, and the
builtin datasets, which importing this package registers (see :mod:`.builtin`)."""

from . import builtin  # noqa: F401  (registers the builtin datasets)
from .coco_vid import load_coco_vid_json, register_coco_vid_instances
from .imagenet_vid import IMAGENET_VID_CATEGORIES, imagenet_vid_metadata
from .something_something import SOMETHING_SOMETHING_NUM_CLASSES, load_sthv1_csv, load_sthv2_json
from .synthetic import (
    DEGRADATIONS,
    SYNTHETIC_CLASSES,
    ensure_synthetic_videos,
    generate_synthetic_videos,
    register_synthetic_videos,
    synthetic_metadata,
    synthetic_paths,
)
from .synthetic_motion import (
    SYNTHETIC_MOTION_CLASSES,
    SYNTHETIC_MOTION_FLIP_LABEL_MAP,
    ensure_synthetic_motion_clips,
    generate_synthetic_motion_clips,
    register_synthetic_motion_clips,
    render_motion_clip,
)
from .video_lists import load_video_list, register_recognition_dataset
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
    "load_video_list",
    "register_recognition_dataset",
    "load_sthv1_csv",
    "load_sthv2_json",
    "SOMETHING_SOMETHING_NUM_CLASSES",
    "generate_synthetic_motion_clips",
    "ensure_synthetic_motion_clips",
    "register_synthetic_motion_clips",
    "render_motion_clip",
    "SYNTHETIC_MOTION_CLASSES",
    "SYNTHETIC_MOTION_FLIP_LABEL_MAP",
]

"""Video data: frame-group sampling and mapping, loaders, dataset registration."""

from .. import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from . import datasets  # noqa: F401  (registers the builtin datasets)
from .build import build_frame_group_test_loader, build_frame_group_train_loader
from .clip_loaders import build_clip_test_loader, build_clip_train_loader, is_recognition_dataset
from .clip_mapper import ClipDatasetMapper
from .clip_transforms import CenterCrop, MultiScaleCrop
from .frame_group_mapper import FrameGroupDatasetMapper
from .resumable_train_loader import ResumableTrainLoader
from .samplers import VideoInferenceSampler
from .support_frame_positions import SAMPLING_METHODS, sample_support_frames
from .segment_sampling import segment_frame_indices
from .video_frames import VideoFrames
from .video_index import VideoIndex
from .vis_frame_group_mapper import VISFrameGroupDatasetMapper

__all__ = [
    "SAMPLING_METHODS",
    "CenterCrop",
    "ClipDatasetMapper",
    "MultiScaleCrop",
    "FrameGroupDatasetMapper",
    "ResumableTrainLoader",
    "VISFrameGroupDatasetMapper",
    "VideoFrames",
    "VideoIndex",
    "VideoInferenceSampler",
    "build_frame_group_test_loader",
    "build_frame_group_train_loader",
    "build_clip_test_loader",
    "build_clip_train_loader",
    "is_recognition_dataset",
    "sample_support_frames",
    "segment_frame_indices",
]

"""Video data: frame-group sampling and mapping, loaders, dataset registration."""
from . import datasets  # noqa: F401  (registers the builtin datasets)
from .build import build_frame_group_test_loader, build_frame_group_train_loader
from .frame_group_mapper import FrameGroupDatasetMapper
from .samplers import VideoInferenceSampler
from .sampling import SAMPLING_METHODS, sample_support_frames
from .video_index import VideoIndex
from .vis_frame_group_mapper import VISFrameGroupDatasetMapper

__all__ = [
    "SAMPLING_METHODS",
    "FrameGroupDatasetMapper",
    "VISFrameGroupDatasetMapper",
    "VideoIndex",
    "VideoInferenceSampler",
    "build_frame_group_test_loader",
    "build_frame_group_train_loader",
    "sample_support_frames",
]

"""detectron2 glue: backbones, pooler, ROI heads and meta-architectures (registered on import)."""

from .. import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from .backbone import (
    DilatedC5Backbone,
    TemporalAdaptiveBottleneckBlock,
    build_resnet_dc5_backbone,
    build_tanet_backbone,
    build_tiny_resnet_backbone,
    build_tiny_resnet_dc5_backbone,
    build_tiny_resnet_fpn_backbone,
    build_tiny_tanet_backbone,
)
from .meta_arch import MaskTrackRCNN, VideoRCNN, VideoRecognizer
from .poolers import TemporalROIPooler
from .recognition_head import SegmentConsensusHead
from .reference_frames import ReferenceFrames
from .roi_heads import MaskTrackROIHeads, SelsaBoxHead, TemporalROIHeads, TrackEmbeddingHead
from .support_frames import SupportFrames
from .tracker import MatchWeights, Tracker
from .video_inference_cache import VideoInferenceCache

__all__ = [
    "DilatedC5Backbone",
    "MaskTrackRCNN",
    "MaskTrackROIHeads",
    "MatchWeights",
    "ReferenceFrames",
    "SegmentConsensusHead",
    "SelsaBoxHead",
    "SupportFrames",
    "TemporalAdaptiveBottleneckBlock",
    "TemporalROIHeads",
    "TemporalROIPooler",
    "TrackEmbeddingHead",
    "Tracker",
    "VideoInferenceCache",
    "VideoRCNN",
    "VideoRecognizer",
    "build_resnet_dc5_backbone",
    "build_tanet_backbone",
    "build_tiny_resnet_backbone",
    "build_tiny_resnet_dc5_backbone",
    "build_tiny_resnet_fpn_backbone",
    "build_tiny_tanet_backbone",
]

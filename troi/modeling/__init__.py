"""detectron2 glue: backbones, pooler, ROI heads and meta-architectures (registered on import)."""
from .backbone import (
    DilatedC5Backbone,
    build_resnet_dc5_backbone,
    build_tiny_resnet_dc5_backbone,
    build_tiny_resnet_fpn_backbone,
)
from .meta_arch import MaskTrackRCNN, VideoRCNN
from .poolers import TemporalROIPooler
from .reference_frames import ReferenceFrames
from .roi_heads import MaskTrackROIHeads, SelsaBoxHead, TemporalROIHeads, TrackEmbeddingHead
from .support_frames import SupportFrames
from .tracker import MatchWeights, Tracker

__all__ = [
    "DilatedC5Backbone",
    "MaskTrackRCNN",
    "MaskTrackROIHeads",
    "MatchWeights",
    "ReferenceFrames",
    "SelsaBoxHead",
    "SupportFrames",
    "TemporalROIHeads",
    "TemporalROIPooler",
    "TrackEmbeddingHead",
    "Tracker",
    "VideoRCNN",
    "build_resnet_dc5_backbone",
    "build_tiny_resnet_dc5_backbone",
    "build_tiny_resnet_fpn_backbone",
]

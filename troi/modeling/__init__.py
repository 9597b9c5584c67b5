"""detectron2 glue: backbones, pooler, ROI heads and meta-architectures (registered on import)."""
from .backbone import DilatedC5Backbone, build_resnet_dc5_backbone, build_tiny_resnet_dc5_backbone
from .meta_arch import VideoRCNN
from .poolers import TemporalROIPooler
from .roi_heads import SelsaBoxHead, TemporalROIHeads
from .support_frames import SupportFrames

__all__ = [
    "DilatedC5Backbone",
    "SelsaBoxHead",
    "SupportFrames",
    "TemporalROIHeads",
    "TemporalROIPooler",
    "VideoRCNN",
    "build_resnet_dc5_backbone",
    "build_tiny_resnet_dc5_backbone",
]

from .dc5 import DilatedC5Backbone, build_resnet_dc5_backbone, build_tiny_resnet_dc5_backbone
from .tanet import TemporalAdaptiveBottleneckBlock, build_tanet_backbone, build_tiny_tanet_backbone
from .tiny_resnet import build_tiny_resnet, build_tiny_resnet_backbone, build_tiny_resnet_fpn_backbone

__all__ = [
    "DilatedC5Backbone",
    "TemporalAdaptiveBottleneckBlock",
    "build_resnet_dc5_backbone",
    "build_tanet_backbone",
    "build_tiny_resnet",
    "build_tiny_resnet_backbone",
    "build_tiny_resnet_dc5_backbone",
    "build_tiny_resnet_fpn_backbone",
    "build_tiny_tanet_backbone",
]

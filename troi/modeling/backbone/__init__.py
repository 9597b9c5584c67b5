from .dc5 import DilatedC5Backbone, build_resnet_dc5_backbone, build_tiny_resnet_dc5_backbone
from .tiny_resnet import build_tiny_resnet, build_tiny_resnet_fpn_backbone

__all__ = [
    "DilatedC5Backbone",
    "build_resnet_dc5_backbone",
    "build_tiny_resnet",
    "build_tiny_resnet_dc5_backbone",
    "build_tiny_resnet_fpn_backbone",
]

"""ResNet-DC5 backbones: res5 with stride 1 and dilation 2 (output stride 16) and a 3x3
conv + ReLU neck, as the reference TRoI/SELSA detectors (ResNet-DC5 + ChannelMapper)."""

import torch.nn.functional as F
from fvcore.nn import weight_init

from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, Backbone
from detectron2.modeling.backbone.resnet import ResNet, build_resnet_backbone

from .tiny_resnet import build_tiny_resnet

__all__ = ["DilatedC5Backbone", "build_resnet_dc5_backbone", "build_tiny_resnet_dc5_backbone"]

DC5_FEATURE = "dc5"


class DilatedC5Backbone(Backbone):
    """A ResNet's dilated res5 followed by a 3x3 conv + ReLU neck; one output, ``"dc5"``.

    Args:
        resnet: a :class:`ResNet` whose ``res5`` has stride 16 (dilated).
        neck_channels: output channels of the neck.
        size_divisibility: input images are zero-padded to a multiple of it (0: not padded).
    """

    def __init__(self, resnet: ResNet, neck_channels: int, size_divisibility: int = 16):
        super().__init__()
        if size_divisibility < 0:
            raise ValueError(f"size_divisibility must be >= 0, got {size_divisibility}")
        self._size_divisibility = size_divisibility
        res5 = resnet.output_shape()["res5"]
        if res5.stride != 16:
            raise ValueError(f"res5 must have stride 16 (dilated, DC5), got stride {res5.stride}")
        self.resnet = resnet
        self.neck = Conv2d(res5.channels, neck_channels, kernel_size=3, padding=1, activation=F.relu)
        weight_init.c2_msra_fill(self.neck)
        self._out_features = [DC5_FEATURE]
        self._out_feature_channels = {DC5_FEATURE: neck_channels}
        self._out_feature_strides = {DC5_FEATURE: res5.stride}

    def forward(self, x):
        """``[N, 3, H, W]`` images -> ``{"dc5": [N, neck_channels, H/16, W/16]}``."""
        return {DC5_FEATURE: self.neck(self.resnet(x)["res5"])}

    @property
    def size_divisibility(self) -> int:
        return self._size_divisibility

    def output_shape(self):
        return {DC5_FEATURE: ShapeSpec(channels=self._out_feature_channels[DC5_FEATURE], stride=16)}


@BACKBONE_REGISTRY.register()
def build_resnet_dc5_backbone(cfg, input_shape):
    """detectron2's ResNet (R50/R101/X101, ``MODEL.RESNETS.*``) with ``RES5_DILATION = 2``."""
    if cfg.MODEL.RESNETS.RES5_DILATION != 2:
        raise ValueError(
            f"build_resnet_dc5_backbone needs MODEL.RESNETS.RES5_DILATION = 2, got {cfg.MODEL.RESNETS.RES5_DILATION}"
        )
    if "res5" not in cfg.MODEL.RESNETS.OUT_FEATURES:
        raise ValueError(f"MODEL.RESNETS.OUT_FEATURES must contain 'res5', got {cfg.MODEL.RESNETS.OUT_FEATURES}")
    return DilatedC5Backbone(
        build_resnet_backbone(cfg, input_shape), cfg.MODEL.DC5.NECK_CHANNELS, cfg.MODEL.DC5.SIZE_DIVISIBILITY
    )


@BACKBONE_REGISTRY.register()
def build_tiny_resnet_dc5_backbone(cfg, input_shape):
    """A small bottleneck ResNet (``MODEL.TINY_RESNET.*``) with a dilated res5, for CPU configs."""
    resnet = build_tiny_resnet(cfg, input_shape, dilated_res5=True, out_features=["res5"])
    return DilatedC5Backbone(resnet, cfg.MODEL.DC5.NECK_CHANNELS, cfg.MODEL.DC5.SIZE_DIVISIBILITY)

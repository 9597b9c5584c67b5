"""TANet (Liu et al., ICCV 2021): a ResNet whose every bottleneck applies a Temporal Adaptive
Module to the output of its first 1x1 conv (after that conv's BN and ReLU, before the 3x3).

The backbone runs on the ``N*T`` frames of ``N`` clips of ``T`` segments, frames of a clip
consecutive (``INPUT.CLIP.NUM_SEGMENTS``); without the TAMs it is the per-frame ResNet of
TSN. Parameter names are detectron2's ResNet's (``stem.conv1``, ``res2.0.conv1``, ...) plus
``res<s>.<b>.tam.{G,L}.*``, so an ImageNet ResNet in detectron2's names (see
``tools/convert_mmtracking_checkpoint.py``) initialises every layer but the TAMs, as the
reference's ``torchvision://resnet50`` does.
"""

import torch
import torch.nn.functional as F
from fvcore.nn import weight_init

from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.resnet import BasicStem, BottleneckBlock, ResNet

from ...layers import TemporalAdaptiveModule
from .tiny_resnet import build_tiny_resnet

__all__ = ["TemporalAdaptiveBottleneckBlock", "build_tanet_backbone", "build_tiny_tanet_backbone", "tam_block_kwargs"]


class TemporalAdaptiveBottleneckBlock(BottleneckBlock):
    """detectron2's :class:`BottleneckBlock` with a TAM (``self.tam``) between the 1x1 conv
    (+ BN + ReLU) and the 3x3 conv: mmaction2's ``TABlock`` around its ``Bottleneck``.

    A block that changes the resolution but not the channels also gets a projection
    shortcut (1x1 conv with the stride + norm), as torchvision's and mmaction2's ResNets
    build it; detectron2's adds one only when the channels change.

    Args:
        num_segments: ``T``, frames per clip.
        tam_alpha, tam_beta, tam_adaptive_kernel_size: the TAM's ``alpha``, ``beta``, ``K``.
        others: as :class:`BottleneckBlock`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        bottleneck_channels: int,
        num_segments: int,
        tam_alpha: int = 2,
        tam_beta: int = 4,
        tam_adaptive_kernel_size: int = 3,
        stride: int = 1,
        norm="BN",
        **kwargs,
    ):
        super().__init__(
            in_channels, out_channels, bottleneck_channels=bottleneck_channels, stride=stride, norm=norm, **kwargs
        )
        if self.shortcut is None and stride != 1:
            self.shortcut = Conv2d(
                in_channels, out_channels, kernel_size=1, stride=stride, bias=False, norm=get_norm(norm, out_channels)
            )
            weight_init.c2_msra_fill(self.shortcut)
        self.tam = TemporalAdaptiveModule(
            bottleneck_channels,
            num_segments,
            alpha=tam_alpha,
            beta=tam_beta,
            adaptive_kernel_size=tam_adaptive_kernel_size,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N*T, C_in, H, W]`` -> ``[N*T, C_out, H/stride, W/stride]``."""
        out = self.tam(F.relu_(self.conv1(x)))
        out = self.conv3(F.relu_(self.conv2(out)))
        shortcut = x if self.shortcut is None else self.shortcut(x)
        return F.relu_(out + shortcut)


def tam_block_kwargs(cfg) -> dict:
    """The :class:`TemporalAdaptiveBottleneckBlock` arguments ``cfg`` sets
    (``INPUT.CLIP.NUM_SEGMENTS``, ``MODEL.TAM.*``)."""
    return dict(
        num_segments=cfg.INPUT.CLIP.NUM_SEGMENTS,
        tam_alpha=cfg.MODEL.TAM.ALPHA,
        tam_beta=cfg.MODEL.TAM.BETA,
        tam_adaptive_kernel_size=cfg.MODEL.TAM.ADAPTIVE_KERNEL_SIZE,
    )


@BACKBONE_REGISTRY.register()
def build_tanet_backbone(cfg, input_shape: ShapeSpec) -> ResNet:
    """TANet-R50/101/152: detectron2's ResNet of ``MODEL.RESNETS.DEPTH`` (``NORM``,
    ``STRIDE_IN_1X1``, ``OUT_FEATURES``; stages below ``MODEL.BACKBONE.FREEZE_AT`` frozen)
    made of :class:`TemporalAdaptiveBottleneckBlock`\\ s."""
    resnets = cfg.MODEL.RESNETS
    if resnets.DEPTH not in (50, 101, 152):
        raise ValueError(
            f"build_tanet_backbone needs a bottleneck ResNet: MODEL.RESNETS.DEPTH 50, 101 or 152, got {resnets.DEPTH}"
        )
    standard = {
        "NUM_GROUPS": 1,
        "WIDTH_PER_GROUP": 64,
        "STEM_OUT_CHANNELS": 64,
        "RES2_OUT_CHANNELS": 256,
        "RES5_DILATION": 1,
    }
    for key, value in standard.items():
        if resnets[key] != value:
            raise ValueError(
                f"build_tanet_backbone builds the standard ResNet: MODEL.RESNETS.{key} must be "
                f"{value}, got {resnets[key]}"
            )
    if any(resnets.DEFORM_ON_PER_STAGE):
        raise ValueError(
            "build_tanet_backbone has no deformable convs: MODEL.RESNETS.DEFORM_ON_PER_STAGE must be "
            f"all False, got {resnets.DEFORM_ON_PER_STAGE}"
        )
    stem = BasicStem(in_channels=input_shape.channels, out_channels=resnets.STEM_OUT_CHANNELS, norm=resnets.NORM)
    stages = ResNet.make_default_stages(
        resnets.DEPTH,
        TemporalAdaptiveBottleneckBlock,
        norm=resnets.NORM,
        stride_in_1x1=resnets.STRIDE_IN_1X1,
        **tam_block_kwargs(cfg),
    )
    return ResNet(stem, stages, out_features=resnets.OUT_FEATURES).freeze(cfg.MODEL.BACKBONE.FREEZE_AT)


@BACKBONE_REGISTRY.register()
def build_tiny_tanet_backbone(cfg, input_shape: ShapeSpec) -> ResNet:
    """The tiny ResNet of ``build_tiny_resnet_backbone`` (``MODEL.TINY_RESNET.*``) made of
    :class:`TemporalAdaptiveBottleneckBlock`\\ s: TSN's tiny backbone plus TAMs, for CPU configs."""
    return build_tiny_resnet(
        cfg,
        input_shape,
        dilated_res5=False,
        out_features=cfg.MODEL.RESNETS.OUT_FEATURES,
        block_class=TemporalAdaptiveBottleneckBlock,
        **tam_block_kwargs(cfg),
    )

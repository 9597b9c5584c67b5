"""Tiny bottleneck ResNets (``MODEL.TINY_RESNET.*``) for CPU configs: a dilated-res5 one under
the DC5 neck (:mod:`.dc5`), a plain one under detectron2's FPN, and a plain one alone (the
per-frame backbone of TSN video recognition; :mod:`.tanet` builds its TANet twin)."""

from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool
from detectron2.modeling.backbone.resnet import BasicStem, BottleneckBlock, ResNet

__all__ = ["build_tiny_resnet", "build_tiny_resnet_backbone", "build_tiny_resnet_fpn_backbone"]


def build_tiny_resnet(
    cfg, input_shape: ShapeSpec, *, dilated_res5: bool, out_features, block_class=BottleneckBlock, **block_kwargs
) -> ResNet:
    """A small bottleneck ResNet: ``TINY_RESNET.STEM_CHANNELS`` stem, then res2..res5 with
    ``STAGE_CHANNELS`` outputs (bottlenecks a quarter as wide), ``BLOCKS_PER_STAGE`` blocks
    and ``NORM``.

    Strides 4, 8, 16, 32; with ``dilated_res5``, res5 keeps stride 16 and dilates by 2
    (detectron2 forbids dilation on its own R18/R34). ``block_class`` (a
    :class:`BottleneckBlock` subclass) and ``block_kwargs`` (its further arguments) make
    every block.
    """
    tiny = cfg.MODEL.TINY_RESNET
    if len(tiny.STAGE_CHANNELS) != 4 or len(tiny.BLOCKS_PER_STAGE) != 4:
        raise ValueError("MODEL.TINY_RESNET.STAGE_CHANNELS and BLOCKS_PER_STAGE need 4 entries (res2..res5)")
    stem = BasicStem(in_channels=input_shape.channels, out_channels=tiny.STEM_CHANNELS, norm=tiny.NORM)
    stages, in_channels = [], tiny.STEM_CHANNELS
    for index, (channels, num_blocks) in enumerate(zip(tiny.STAGE_CHANNELS, tiny.BLOCKS_PER_STAGE)):
        is_res5 = index == 3
        # res2 follows the stem's pooling; a dilated res5 keeps its input's stride.
        first_stride = 1 if index == 0 or (is_res5 and dilated_res5) else 2
        if first_stride == 2 and channels == in_channels:
            # detectron2's bottleneck adds a projection shortcut only when the channels change.
            raise ValueError(
                f"MODEL.TINY_RESNET.STAGE_CHANNELS: res{index + 2} halves the resolution, so its "
                f"{channels} channels must differ from its input's {in_channels}"
            )
        stages.append(
            ResNet.make_stage(
                block_class,
                num_blocks,
                in_channels=in_channels,
                out_channels=channels,
                bottleneck_channels=max(channels // 4, 1),
                stride_per_block=[first_stride] + [1] * (num_blocks - 1),
                norm=tiny.NORM,
                dilation=2 if is_res5 and dilated_res5 else 1,
                **block_kwargs,
            )
        )
        in_channels = channels
    return ResNet(stem, stages, out_features=list(out_features))


@BACKBONE_REGISTRY.register()
def build_tiny_resnet_backbone(cfg, input_shape: ShapeSpec) -> ResNet:
    """The tiny ResNet alone, with outputs ``MODEL.RESNETS.OUT_FEATURES`` (strides 4-32)."""
    return build_tiny_resnet(cfg, input_shape, dilated_res5=False, out_features=cfg.MODEL.RESNETS.OUT_FEATURES)


@BACKBONE_REGISTRY.register()
def build_tiny_resnet_fpn_backbone(cfg, input_shape: ShapeSpec) -> FPN:
    """detectron2's FPN (``MODEL.FPN.*``, P2-P6) over a tiny ResNet, for CPU configs."""
    bottom_up = build_tiny_resnet(cfg, input_shape, dilated_res5=False, out_features=cfg.MODEL.FPN.IN_FEATURES)
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=LastLevelMaxPool(),
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )

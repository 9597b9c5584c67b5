import pytest
import torch

from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone

from tests.conftest import tiny_vis_cfg


def test_tiny_fpn_has_five_levels_of_the_fpn_channels():
    backbone = build_backbone(tiny_vis_cfg())
    out = backbone(torch.randn(2, 3, 64, 128))
    assert list(out) == ["p2", "p3", "p4", "p5", "p6"]
    for name, stride in zip(out, (4, 8, 16, 32, 64)):
        assert out[name].shape == (2, 16, 64 // stride, 128 // stride)
        assert backbone.output_shape()[name] == ShapeSpec(channels=16, stride=stride)
    res5 = backbone.bottom_up.res5[0].conv2
    assert res5.stride == (2, 2) and res5.dilation == (1, 1)  # not the DC5 variant


def test_stage_that_halves_the_resolution_must_change_the_channels():
    cfg = tiny_vis_cfg()
    cfg.MODEL.TINY_RESNET.STAGE_CHANNELS = [16, 16, 32, 48]
    with pytest.raises(ValueError, match="res3 halves the resolution"):
        build_backbone(cfg)

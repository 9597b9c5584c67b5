import pytest
import torch

from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone

from tests.conftest import tiny_video_cfg


def test_tiny_dc5_has_stride_16_and_the_neck_channels():
    backbone = build_backbone(tiny_video_cfg())
    out = backbone(torch.randn(2, 3, 96, 128))
    assert list(out) == ["dc5"] and out["dc5"].shape == (2, 32, 6, 8)
    assert backbone.output_shape()["dc5"] == ShapeSpec(channels=32, stride=16)
    assert (out["dc5"] >= 0).all()  # the neck ends with a ReLU


def test_resnet_dc5_dilates_res5():
    cfg = tiny_video_cfg()
    cfg.merge_from_list(
        [
            "MODEL.BACKBONE.NAME",
            "build_resnet_dc5_backbone",
            "MODEL.RESNETS.DEPTH",
            50,
            "MODEL.RESNETS.OUT_FEATURES",
            ["res5"],
            "MODEL.RESNETS.RES5_DILATION",
            2,
            "MODEL.RESNETS.NORM",
            "BN",
            "MODEL.DC5.NECK_CHANNELS",
            512,
        ]
    )
    backbone = build_backbone(cfg)
    assert backbone.output_shape()["dc5"] == ShapeSpec(channels=512, stride=16)
    assert backbone.resnet.res5[0].conv2.dilation == (2, 2) and backbone.resnet.res5[0].conv2.stride == (1, 1)
    cfg.MODEL.RESNETS.RES5_DILATION = 1
    with pytest.raises(ValueError, match="needs MODEL.RESNETS.RES5_DILATION = 2"):
        build_backbone(cfg)


def test_inputs_are_padded_to_the_size_divisibility():
    cfg = tiny_video_cfg()
    assert build_backbone(cfg).size_divisibility == 16  # as the reference pads (mmdet's Pad)
    cfg.MODEL.DC5.SIZE_DIVISIBILITY = 0
    assert build_backbone(cfg).size_divisibility == 0

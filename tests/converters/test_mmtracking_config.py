"""mmtracking configs -> detectron2 configs: the shipped mmtracking configs are what the
converter derives, MaskTrack R-CNN checkpoints map completely, unsupported fields are named."""

import copy
from pathlib import Path

import pytest
import torch

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from troi import add_troi_config
from troi.converters.mmcv_config import parse_mmcv_config
from troi.converters.mmtracking_checkpoint import check_against_model, target_layout
from troi.converters.mmtracking_config import MMTrackingConfigError, detectron2_config
from troi.converters.mmtracking_weights import CheckpointConversionError, checkpoint_kind, convert_state_dict

from .mmtracking_cases import CASES_DIR

ROOT = Path(__file__).parents[2]
MERGED = CASES_DIR / "configs"  # mmtracking 0.14's configs merged with their _base_ files

SHIPPED = {
    "imagenet_vid/mmtracking/selsa_r50_dc5": "selsa_faster_rcnn_r50_dc5_1x_imagenetvid",
    "imagenet_vid/mmtracking/selsa_r101_dc5": "selsa_faster_rcnn_r101_dc5_1x_imagenetvid",
    "imagenet_vid/mmtracking/selsa_x101_dc5": "selsa_faster_rcnn_x101_dc5_1x_imagenetvid",
    "imagenet_vid/mmtracking/selsa_troi_r50_dc5": "selsa_troialign_faster_rcnn_r50_dc5_7e_imagenetvid",
    "imagenet_vid/mmtracking/selsa_troi_r101_dc5": "selsa_troialign_faster_rcnn_r101_dc5_7e_imagenetvid",
    "imagenet_vid/mmtracking/selsa_troi_x101_dc5": "selsa_troialign_faster_rcnn_x101_dc5_7e_imagenetvid",
    "youtube_vis/mmtracking/masktrack_r50_fpn": "masktrack_rcnn_r50_fpn_12e_youtubevis2019",
}


def mmtracking(name):
    return parse_mmcv_config((MERGED / f"{name}.py").read_text(), name)


def flat(node, prefix=""):
    items = {}
    for key, value in node.items():
        items.update(flat(value, f"{prefix}{key}.") if hasattr(value, "items") else {prefix + key: value})
    return items


@pytest.mark.parametrize("shipped, reference", SHIPPED.items())
def test_shipped_config_is_what_the_converter_derives(shipped, reference):
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(str(ROOT / "configs" / f"{shipped}.yaml"))
    derived = detectron2_config(mmtracking(reference), weights=cfg.MODEL.WEIGHTS)
    derived.OUTPUT_DIR = cfg.OUTPUT_DIR
    loaded, expected = flat(cfg), flat(derived)
    assert set(loaded) == set(expected)
    assert {k: v for k, v in loaded.items() if expected[k] != v} == {}


def test_the_reference_test_settings_carry_over():
    cfg = detectron2_config(mmtracking("selsa_troialign_faster_rcnn_r50_dc5_7e_imagenetvid"))
    assert cfg.MODEL.TROI.ENABLED and cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS == 2
    assert cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS == 4 and cfg.MODEL.SELSA.NUM_ATTENTION_BLOCKS == 16
    assert cfg.INPUT.SUPPORT_FRAMES.TEST.NUM == 14 and cfg.INPUT.SUPPORT_FRAMES.TEST.INCLUDE_TARGET
    assert cfg.MODEL.RPN.POST_NMS_TOPK_TEST == 300 and cfg.TEST.DETECTIONS_PER_IMAGE == 100
    assert cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST == 0.5 and cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 1e-4
    assert cfg.MODEL.ANCHOR_GENERATOR.SIZES == [[64.0, 128.0, 256.0, 512.0]]


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("backbone.dcn", {"type": "DCN"}, "model.detector.backbone.dcn"),
        ("neck.type", "FPN", "model.detector.neck.type"),
        ("roi_head.bbox_roi_extractor.roi_layer.type", "RoIPool", "bbox_roi_extractor.roi_layer.type"),
        ("roi_head.bbox_head.num_shared_convs", 2, "bbox_head.num_shared_convs"),
    ],
)
def test_an_unsupported_field_is_named(path, value, message):
    config = mmtracking("selsa_faster_rcnn_r50_dc5_1x_imagenetvid")
    node = config["model"]["detector"]
    *parents, key = path.split(".")
    for parent in parents:
        node = node[parent]
    node[key] = value
    with pytest.raises(MMTrackingConfigError, match=message):
        detectron2_config(config)


def reduced_masktrack_config():
    """mmtracking's MaskTrack R-CNN R50-FPN at 1/8 width (backbone 8 -> res5 256, FPN 16)."""
    config = copy.deepcopy(mmtracking("masktrack_rcnn_r50_fpn_12e_youtubevis2019"))
    detector = config["model"]["detector"]
    detector["backbone"]["base_channels"] = 8
    detector["neck"].update(in_channels=[32, 64, 128, 256], out_channels=16)
    detector["rpn_head"].update(in_channels=16, feat_channels=16)
    roi = detector["roi_head"]
    track_extractor = config["model"]["track_head"]["roi_extractor"]
    for extractor in (roi["bbox_roi_extractor"], roi["mask_roi_extractor"], track_extractor):
        extractor["out_channels"] = 16
    roi["bbox_head"].update(in_channels=16, fc_out_channels=32)
    roi["mask_head"].update(in_channels=16, conv_out_channels=16)
    config["model"]["track_head"]["embed_head"].update(in_channels=16, fc_out_channels=32)
    return config


def mmdet_masktrack_state_dict():
    """Random tensors under mmdet/mmtracking's own names and shapes for the reduced model."""
    state = {}

    def bn(name, channels):
        for field in ("weight", "bias", "running_mean", "running_var"):
            state[f"{name}.{field}"] = torch.randn(channels)
        state[f"{name}.num_batches_tracked"] = torch.tensor(0)

    def conv(name, out_channels, in_channels, kernel, bias=True):
        state[f"{name}.weight"] = torch.randn(out_channels, in_channels, kernel, kernel)
        if bias:
            state[f"{name}.bias"] = torch.randn(out_channels)

    prefix = "detector.backbone"
    conv(f"{prefix}.conv1", 8, 3, 7, bias=False)
    bn(f"{prefix}.bn1", 8)
    inplanes = 8
    for layer, blocks in enumerate((3, 4, 6, 3), start=1):
        planes = 8 * 2 ** (layer - 1)
        for block in range(blocks):
            name = f"{prefix}.layer{layer}.{block}"
            conv(f"{name}.conv1", planes, inplanes, 1, bias=False)
            conv(f"{name}.conv2", planes, planes, 3, bias=False)
            conv(f"{name}.conv3", planes * 4, planes, 1, bias=False)
            for index, channels in ((1, planes), (2, planes), (3, planes * 4)):
                bn(f"{name}.bn{index}", channels)
            if block == 0:
                conv(f"{name}.downsample.0", planes * 4, inplanes, 1, bias=False)
                bn(f"{name}.downsample.1", planes * 4)
            inplanes = planes * 4
    for index, channels in enumerate((32, 64, 128, 256)):
        conv(f"detector.neck.lateral_convs.{index}.conv", 16, channels, 1)
        conv(f"detector.neck.fpn_convs.{index}.conv", 16, 16, 3)
    conv("detector.rpn_head.rpn_conv", 16, 16, 3)
    conv("detector.rpn_head.rpn_cls", 3, 16, 1)
    conv("detector.rpn_head.rpn_reg", 12, 16, 1)
    head = "detector.roi_head.bbox_head"
    for name, shape in (
        (f"{head}.shared_fcs.0", (32, 16 * 49)),
        (f"{head}.shared_fcs.1", (32, 32)),
        (f"{head}.fc_cls", (41, 32)),
        (f"{head}.fc_reg", (160, 32)),
        ("track_head.embed_head.fcs.0", (32, 16 * 49)),
        ("track_head.embed_head.fcs.1", (32, 32)),
    ):
        state[f"{name}.weight"], state[f"{name}.bias"] = torch.randn(*shape), torch.randn(shape[0])
    for index in range(4):
        conv(f"detector.roi_head.mask_head.convs.{index}.conv", 16, 16, 3)
    state["detector.roi_head.mask_head.upsample.weight"] = torch.randn(16, 16, 2, 2)  # ConvTranspose2d: (in, out)
    state["detector.roi_head.mask_head.upsample.bias"] = torch.randn(16)
    conv("detector.roi_head.mask_head.conv_logits", 40, 16, 1)
    return state


def test_a_masktrack_checkpoint_maps_onto_every_parameter_of_its_model():
    config = reduced_masktrack_config()
    cfg = detectron2_config(config)
    state = mmdet_masktrack_state_dict()
    assert checkpoint_kind(list(state)) == "masktrack"
    converted = convert_state_dict(state, "masktrack", target_layout(cfg, config))
    check_against_model(converted, cfg, "masktrack")
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    incompatible = model.load_state_dict({k: torch.as_tensor(v) for k, v in converted.items()}, strict=False)
    assert set(incompatible.missing_keys) <= {"pixel_mean", "pixel_std"} and not incompatible.unexpected_keys
    assert torch.equal(model.roi_heads.track_head.fcs[1].weight, state["track_head.embed_head.fcs.1.weight"])
    assert torch.equal(model.backbone.fpn_lateral3.weight, state["detector.neck.lateral_convs.1.conv.weight"])


def test_a_missing_parameter_is_named():
    config = reduced_masktrack_config()
    cfg = detectron2_config(config)
    state = mmdet_masktrack_state_dict()
    del state["detector.roi_head.mask_head.conv_logits.bias"]
    converted = convert_state_dict(state, "masktrack", target_layout(cfg, config))
    missing = r"missing from the checkpoint: roi_heads\.mask_head\.predictor\.bias"
    with pytest.raises(CheckpointConversionError, match=missing):
        check_against_model(converted, cfg, "masktrack")

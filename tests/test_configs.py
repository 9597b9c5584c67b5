"""Every shipped config loads, and each variant switches what its name says."""

from pathlib import Path

import pytest

from detectron2.config import get_cfg

from troi import add_troi_config

CONFIGS = sorted(p for p in (Path(__file__).parents[1] / "configs").rglob("*.yaml") if not p.name.startswith("Base"))


def load(path):
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(str(path))
    return cfg


def test_there_are_configs_for_every_variant_and_backbone():
    names = {p.stem for p in CONFIGS if p.parent.name == "imagenet_vid"}
    assert names == {
        f"{v}_{b}_dc5" for v in ("single_frame", "troi", "selsa", "selsa_troi") for b in ("r50", "r101", "x101")
    }


def test_there_are_vis_configs_with_and_without_troi():
    names = {p.stem for p in CONFIGS if p.parent.name == "youtube_vis"}
    assert names == {f"masktrack_{v}{b}_fpn" for v in ("", "troi_") for b in ("r50", "r101")}
    assert {"masktrack_tiny_fpn", "masktrack_troi_tiny_fpn"} <= {p.stem for p in CONFIGS}


RECOGNITION = [p for p in CONFIGS if p.stem.startswith(("tsn", "tanet"))]


@pytest.mark.parametrize("path", RECOGNITION, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recognition_config_loads_and_matches_its_variant(path):
    cfg = load(path)
    assert cfg.MODEL.META_ARCHITECTURE == "VideoRecognizer"
    tanet = path.stem.startswith("tanet")
    assert ("tanet" in cfg.MODEL.BACKBONE.NAME) == tanet
    assert cfg.INPUT.CLIP.NUM_SEGMENTS == (16 if "1x1x16" in path.stem else 8)
    if path.parent.name != "synthetic":  # the reference recipe (mmaction2's TANet configs)
        assert cfg.MODEL.RESNETS.DEPTH == 50 and not cfg.MODEL.RESNETS.STRIDE_IN_1X1
        assert cfg.SOLVER.IMS_PER_BATCH == 64 and cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE == 20
        assert cfg.INPUT.CLIP.CROP_SIZE == 224 and cfg.INPUT.MIN_SIZE_TEST == 256
        assert cfg.MODEL.RECOGNITION_HEAD.NUM_CLASSES == (400 if path.parent.name == "kinetics400" else 174)
        assert cfg.MODEL.WEIGHTS.endswith("resnet50.pkl")


@pytest.mark.parametrize("path", RECOGNITION, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recognition_config_builds_a_video_recognizer_with_a_tam_in_every_tanet_bottleneck(path):
    import torch
    from detectron2.modeling import build_model

    from troi.layers import TemporalAdaptiveModule
    from troi.modeling import TemporalAdaptiveBottleneckBlock, VideoRecognizer

    cfg = load(path)
    cfg.MODEL.DEVICE = "cpu"
    model = build_model(cfg)
    assert isinstance(model, VideoRecognizer)
    blocks = [m for m in model.backbone.modules() if isinstance(m, TemporalAdaptiveBottleneckBlock)]
    tams = [m for m in model.modules() if isinstance(m, TemporalAdaptiveModule)]
    if path.stem.startswith("tanet"):
        # ResNet-50: 3 + 4 + 6 + 3 bottlenecks; the tiny ResNet: MODEL.TINY_RESNET.BLOCKS_PER_STAGE
        expected = sum(cfg.MODEL.TINY_RESNET.BLOCKS_PER_STAGE) if path.parent.name == "synthetic" else 16
        assert len(blocks) == len(tams) == expected
        assert {tam.num_segments for tam in tams} == {cfg.INPUT.CLIP.NUM_SEGMENTS}
    else:
        assert blocks == [] and tams == []
    assert model.cls_head.fc_cls.out_features == cfg.MODEL.RECOGNITION_HEAD.NUM_CLASSES
    if path.parent.name == "synthetic":  # tiny: one clip through the model
        crop = cfg.INPUT.CLIP.CROP_SIZE
        clip = torch.randint(
            0,
            256,
            (cfg.INPUT.CLIP.NUM_SEGMENTS, 3, crop, crop),
            dtype=torch.uint8,
            generator=torch.Generator().manual_seed(0),
        )
        with torch.no_grad():
            (output,) = model.eval()([{"clip": clip}])
        assert output["scores"].shape == (cfg.MODEL.RECOGNITION_HEAD.NUM_CLASSES,)
        assert torch.isclose(output["scores"].sum(), torch.tensor(1.0))


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p not in RECOGNITION], ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_config_loads_and_matches_its_variant(path):
    cfg = load(path)
    variant = path.stem
    if variant.startswith("masktrack"):
        assert cfg.MODEL.META_ARCHITECTURE == "MaskTrackRCNN" and cfg.MODEL.ROI_HEADS.NAME == "MaskTrackROIHeads"
        assert cfg.MODEL.MASK_ON and cfg.INPUT.MASK_FORMAT == "bitmask"
    else:
        assert cfg.MODEL.META_ARCHITECTURE == "VideoRCNN" and cfg.MODEL.ROI_HEADS.NAME == "TemporalROIHeads"
    assert cfg.MODEL.TROI.ENABLED == ("troi" in variant)
    assert cfg.MODEL.SELSA.ENABLED == ("selsa" in variant)
    if variant.startswith("single_frame"):
        assert cfg.INPUT.SUPPORT_FRAMES.TRAIN.NUM == 0 and cfg.INPUT.SUPPORT_FRAMES.TEST.NUM == 0
    if variant.startswith("selsa_troi"):
        assert cfg.MODEL.ROI_BOX_HEAD.NUM_FC == 3
    if path.parent.name == "imagenet_vid":
        assert cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS == 2 and cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS == 4
        assert cfg.SOLVER.BASE_LR == 0.01 and cfg.SOLVER.IMS_PER_BATCH == 8
        assert cfg.INPUT.SUPPORT_FRAMES.TEST.METHOD == "uniform"
    if path.parent.name == "youtube_vis":  # the reference MaskTrack R-CNN schedule and sizes
        assert cfg.SOLVER.BASE_LR == 0.00125 and cfg.SOLVER.IMS_PER_BATCH == 8
        assert cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE == "full_model" and cfg.SOLVER.CLIP_GRADIENTS.CLIP_VALUE == 35
        assert cfg.INPUT.MIN_SIZE_TRAIN == (360,) and cfg.INPUT.MAX_SIZE_TRAIN == 640
        assert cfg.MODEL.RPN.POST_NMS_TOPK_TEST == 200 and cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST == 0.01
        assert cfg.MODEL.RESNETS.DEPTH == (101 if "r101" in variant else 50)
        assert cfg.INPUT.REFERENCE_FRAME.FRAME_RANGE == 100


def test_youtube_vis_troi_config_builds_temporal_poolers_for_every_branch():
    from detectron2.modeling import build_model

    from troi.modeling import TemporalROIPooler

    cfg = load(Path(__file__).parents[1] / "configs/youtube_vis/masktrack_troi_r50_fpn.yaml")
    cfg.MODEL.DEVICE = "cpu"
    heads = build_model(cfg).roi_heads
    assert all(
        isinstance(pooler, TemporalROIPooler) for pooler in (heads.box_pooler, heads.mask_pooler, heads.track_pooler)
    )
    assert heads.track_head.output_size == 1024

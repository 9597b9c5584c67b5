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
    assert names == {f"{v}_{b}_dc5" for v in ("single_frame", "troi", "selsa", "selsa_troi")
                     for b in ("r50", "r101", "x101")}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_loads_and_matches_its_variant(path):
    cfg = load(path)
    variant = path.stem
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

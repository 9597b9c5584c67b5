"""Shared test helpers. Importing troi first applies the detectron2 compat shims."""

from pathlib import Path

import numpy as np
import pytest
import torch

import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_npz():
    """Load ``tests/fixtures/<name>.npz`` as a dict of arrays."""

    def load(name):
        with np.load(FIXTURES / f"{name}.npz") as data:
            return {key: data[key] for key in data.files}

    return load


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def unregister_datasets(names):
    """Remove the datasets a test registered from detectron2's catalogs (missing names are fine)."""
    from detectron2.data import DatasetCatalog, MetadataCatalog

    for name in names:
        DatasetCatalog.pop(name, None)
        MetadataCatalog.pop(name, None)


def tiny_video_cfg(troi_on=False, selsa_on=False, num_classes=3):
    """A CPU-sized VideoRCNN config (tiny DC5 backbone) for model tests."""
    from detectron2.config import get_cfg

    from troi import add_troi_config

    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_list(
        [
            "MODEL.DEVICE",
            "cpu",
            "MODEL.META_ARCHITECTURE",
            "VideoRCNN",
            "MODEL.BACKBONE.NAME",
            "build_tiny_resnet_dc5_backbone",
            "MODEL.DC5.NECK_CHANNELS",
            32,
            "MODEL.ANCHOR_GENERATOR.SIZES",
            [[16, 32, 64]],
            "MODEL.RPN.IN_FEATURES",
            ["dc5"],
            "MODEL.RPN.POST_NMS_TOPK_TRAIN",
            64,
            "MODEL.RPN.POST_NMS_TOPK_TEST",
            32,
            "MODEL.ROI_HEADS.NAME",
            "TemporalROIHeads",
            "MODEL.ROI_HEADS.IN_FEATURES",
            ["dc5"],
            "MODEL.ROI_HEADS.NUM_CLASSES",
            num_classes,
            "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
            16,
            "MODEL.ROI_BOX_HEAD.NAME",
            "FastRCNNConvFCHead",
            "MODEL.ROI_BOX_HEAD.NUM_FC",
            3 if (troi_on and selsa_on) else 2,
            "MODEL.ROI_BOX_HEAD.FC_DIM",
            64,
            "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION",
            7,
            "MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO",
            2,
            "MODEL.ROI_BOX_HEAD.POOLER_TYPE",
            "ROIAlignV2",
            "MODEL.TROI.ENABLED",
            troi_on,
            "MODEL.TROI.NUM_ATTENTION_BLOCKS",
            4,
            "MODEL.SELSA.ENABLED",
            selsa_on,
            "MODEL.SELSA.NUM_ATTENTION_BLOCKS",
            8,
            "MODEL.SELSA.SUPPORT_PROPOSALS",
            10,
            "INPUT.SUPPORT_FRAMES.TEST.NUM",
            3,
        ]
    )
    return cfg


def tiny_vis_cfg(troi_on=False, num_classes=3):
    """A CPU-sized MaskTrackRCNN config (tiny ResNet-FPN) for model tests."""
    from detectron2.config import get_cfg

    from troi import add_troi_config

    cfg = get_cfg()
    add_troi_config(cfg)
    levels = ["p2", "p3", "p4", "p5"]
    cfg.merge_from_list(
        [
            "MODEL.DEVICE",
            "cpu",
            "MODEL.META_ARCHITECTURE",
            "MaskTrackRCNN",
            "MODEL.MASK_ON",
            True,
            "MODEL.BACKBONE.NAME",
            "build_tiny_resnet_fpn_backbone",
            "MODEL.TINY_RESNET.STEM_CHANNELS",
            8,
            "MODEL.TINY_RESNET.STAGE_CHANNELS",
            [16, 24, 32, 48],
            "MODEL.TINY_RESNET.BLOCKS_PER_STAGE",
            [1, 1, 1, 1],
            "MODEL.FPN.IN_FEATURES",
            ["res2", "res3", "res4", "res5"],
            "MODEL.FPN.OUT_CHANNELS",
            16,
            "MODEL.ANCHOR_GENERATOR.SIZES",
            [[16], [32], [64], [128], [256]],
            "MODEL.RPN.IN_FEATURES",
            levels + ["p6"],
            "MODEL.RPN.POST_NMS_TOPK_TRAIN",
            64,
            "MODEL.RPN.POST_NMS_TOPK_TEST",
            32,
            "MODEL.ROI_HEADS.NAME",
            "MaskTrackROIHeads",
            "MODEL.ROI_HEADS.IN_FEATURES",
            levels,
            "MODEL.ROI_HEADS.NUM_CLASSES",
            num_classes,
            "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
            16,
            "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
            0.0,
            "MODEL.ROI_BOX_HEAD.NAME",
            "FastRCNNConvFCHead",
            "MODEL.ROI_BOX_HEAD.NUM_FC",
            2,
            "MODEL.ROI_BOX_HEAD.FC_DIM",
            32,
            "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION",
            7,
            "MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO",
            2,
            "MODEL.ROI_BOX_HEAD.POOLER_TYPE",
            "ROIAlignV2",
            "MODEL.ROI_MASK_HEAD.NUM_CONV",
            1,
            "MODEL.ROI_MASK_HEAD.CONV_DIM",
            8,
            "MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO",
            2,
            "MODEL.TRACK_HEAD.FC_DIM",
            32,
            "MODEL.TRACK_HEAD.POOLER_SAMPLING_RATIO",
            2,
            "MODEL.TROI.ENABLED",
            troi_on,
            "MODEL.TROI.NUM_ATTENTION_BLOCKS",
            2,
            "INPUT.SUPPORT_FRAMES.TEST.NUM",
            2,
            "TEST.DETECTIONS_PER_IMAGE",
            10,
        ]
    )
    return cfg

"""An ROIPooler whose target-frame RoI features are Temporal RoI Aligned to the support frames."""
from typing import List, Optional

import torch

from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels
from detectron2.structures import Boxes

from ..layers import TemporalRoIAlign

__all__ = ["TROI_BRANCHES", "TemporalROIPooler", "branch_pooler_from_config", "temporal_roi_align_from_config"]

# The ROI head branches MODEL.TROI.BRANCHES may name.
TROI_BRANCHES = ("box", "mask", "track")


def temporal_roi_align_from_config(cfg, channels: int) -> TemporalRoIAlign:
    """The :class:`TemporalRoIAlign` of ``cfg.MODEL.TROI`` for features of ``channels``."""
    return TemporalRoIAlign(
        channels,
        num_most_similar_points=cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS,
        num_attention_blocks=cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS,
        similarity_chunk_size=cfg.MODEL.TROI.SIMILARITY_CHUNK_SIZE,
    )


def branch_pooler_from_config(cfg, branch: str, input_shape, *, output_size: int, sampling_ratio: int,
                              pooler_type: str) -> ROIPooler:
    """The RoI pooler of one ROI head branch over ``MODEL.ROI_HEADS.IN_FEATURES``: a
    :class:`TemporalROIPooler` when ``MODEL.TROI.ENABLED`` and ``branch`` is in
    ``MODEL.TROI.BRANCHES``, else detectron2's :class:`ROIPooler`.

    Raises:
        ValueError: ``MODEL.TROI.BRANCHES`` names a branch not in :data:`TROI_BRANCHES`.
    """
    unknown = set(cfg.MODEL.TROI.BRANCHES) - set(TROI_BRANCHES)
    if unknown:
        raise ValueError(f"MODEL.TROI.BRANCHES has unknown branches {sorted(unknown)}; choose from {TROI_BRANCHES}")
    in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
    pooler_args = dict(output_size=output_size, scales=tuple(1.0 / input_shape[name].stride for name in in_features),
                       sampling_ratio=sampling_ratio, pooler_type=pooler_type)
    if not (cfg.MODEL.TROI.ENABLED and branch in cfg.MODEL.TROI.BRANCHES):
        return ROIPooler(**pooler_args)
    channels = input_shape[in_features[0]].channels
    return TemporalROIPooler(temporal_roi_align=temporal_roi_align_from_config(cfg, channels), **pooler_args)


class TemporalROIPooler(ROIPooler):
    """RoI Align for target-frame proposals, then Temporal RoI Align against the support frames.

    Each RoI takes its level from detectron2's usual level assignment, and its most
    similar points are searched in the support frames' features of that same level
    (one level for DC5; every FPN level for FPN). One :class:`TemporalRoIAlign` (one
    embedding conv) serves all levels.

    Args:
        temporal_roi_align: the operator; its channels must be the features' channels.
        **kwargs: :class:`ROIPooler` arguments.
    """

    def __init__(self, *, temporal_roi_align: TemporalRoIAlign, **kwargs):
        super().__init__(**kwargs)
        self.temporal_roi_align = temporal_roi_align

    def forward(self, x: List[torch.Tensor], box_lists: List[Boxes],
                support_features: Optional[List[Optional[list]]] = None):
        """
        Args:
            x: per level, ``[B, C, H_l, W_l]`` target-frame features.
            box_lists: per target frame, its RoIs.
            support_features: per target frame, per level, ``[T, C, h_l, w_l]`` features of
                its support frames or their encodings (``SupportFrames.temporal_inputs``),
                or None for a frame without supports. None: plain RoI Align.

        Returns:
            ``[sum(len(boxes)), C, output_size, output_size]``, in the order of ``box_lists``.
        """
        roi_feats = super().forward(x, box_lists)
        if support_features is None:
            return roi_feats
        if len(support_features) != len(box_lists):
            raise ValueError(f"support_features has {len(support_features)} entries for {len(box_lists)} images")
        image_of_roi = torch.cat([torch.full((len(boxes),), index, device=roi_feats.device, dtype=torch.long)
                                  for index, boxes in enumerate(box_lists)])
        level_of_roi = self.roi_levels(box_lists)
        temporal_feats = roi_feats.clone()
        for image, levels in enumerate(support_features):
            if levels is None:
                continue
            for level, level_supports in enumerate(levels):
                rois = torch.nonzero((image_of_roi == image) & (level_of_roi == level)).squeeze(1)
                if len(rois):
                    temporal_feats[rois] = self.temporal_roi_align(roi_feats[rois], level_supports)
        return temporal_feats

    def roi_levels(self, box_lists: List[Boxes]) -> torch.Tensor:
        """``[sum(len(boxes))]`` index into the pooler's levels of each RoI (detectron2's
        level assignment; all 0 with one level)."""
        if len(self.level_poolers) == 1:
            device = box_lists[0].tensor.device if box_lists else None
            return torch.zeros(sum(len(boxes) for boxes in box_lists), dtype=torch.long, device=device)
        return assign_boxes_to_levels(box_lists, self.min_level, self.max_level, self.canonical_box_size,
                                      self.canonical_level)

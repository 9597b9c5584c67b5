"""An ROIPooler whose target-frame RoI features are Temporal RoI Aligned to the support frames."""
from typing import List, Optional

import torch

from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels
from detectron2.structures import Boxes

from ..layers import TemporalRoIAlign

__all__ = ["TemporalROIPooler", "temporal_roi_align_from_config"]


def temporal_roi_align_from_config(cfg, channels: int) -> TemporalRoIAlign:
    """The :class:`TemporalRoIAlign` of ``cfg.MODEL.TROI`` for features of ``channels``."""
    return TemporalRoIAlign(
        channels,
        num_most_similar_points=cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS,
        num_attention_blocks=cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS,
        similarity_chunk_size=cfg.MODEL.TROI.SIMILARITY_CHUNK_SIZE,
    )


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
                support_features: Optional[List[Optional[List[torch.Tensor]]]] = None):
        """
        Args:
            x: per level, ``[B, C, H_l, W_l]`` target-frame features.
            box_lists: per target frame, its RoIs.
            support_features: per target frame, per level, ``[T, C, h_l, w_l]`` features of
                its support frames, or None for a frame without supports. None: plain RoI Align.

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
        if len(self.level_poolers) == 1:
            level_of_roi = torch.zeros_like(image_of_roi)
        else:
            level_of_roi = assign_boxes_to_levels(box_lists, self.min_level, self.max_level,
                                                  self.canonical_box_size, self.canonical_level)
        temporal_feats = roi_feats.clone()
        for image, levels in enumerate(support_features):
            if levels is None:
                continue
            for level, level_supports in enumerate(levels):
                rois = torch.nonzero((image_of_roi == image) & (level_of_roi == level)).squeeze(1)
                if len(rois):
                    temporal_feats[rois] = self.temporal_roi_align(roi_feats[rois], level_supports)
        return temporal_feats

"""An ROIPooler whose target-frame RoI features are Temporal RoI Aligned to the support frames."""

from typing import List, Optional, Tuple

import torch

from detectron2.layers import ROIAlign
from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels
from detectron2.structures import Boxes

from ..layers import TemporalRoIAlign
from ..layers.roi_cell_sampling import RoICellSampling, roi_align_sampling
from ..layers.shapes import cells_to_rois
from .frame_group_scope import FrameGroupScope

__all__ = [
    "TROI_BRANCHES",
    "TemporalROIPooler",
    "branch_pooler_from_config",
    "check_troi_branches",
    "temporal_roi_align_from_config",
]

# The ROI head branches MODEL.TROI.BRANCHES may name.
TROI_BRANCHES = ("box", "mask", "track")


def check_troi_branches(cfg) -> None:
    """Raises ValueError if ``MODEL.TROI.BRANCHES`` names a branch not in :data:`TROI_BRANCHES`."""
    unknown = set(cfg.MODEL.TROI.BRANCHES) - set(TROI_BRANCHES)
    if unknown:
        raise ValueError(f"MODEL.TROI.BRANCHES has unknown branches {sorted(unknown)}; choose from {TROI_BRANCHES}")


def temporal_roi_align_from_config(cfg, channels: int) -> TemporalRoIAlign:
    """The :class:`TemporalRoIAlign` of ``cfg.MODEL.TROI`` for features of ``channels``."""
    return TemporalRoIAlign(
        channels,
        num_most_similar_points=cfg.MODEL.TROI.NUM_MOST_SIMILAR_POINTS,
        num_attention_blocks=cfg.MODEL.TROI.NUM_ATTENTION_BLOCKS,
        similarity_chunk_size=cfg.MODEL.TROI.SIMILARITY_CHUNK_SIZE,
        similarity_precision=cfg.MODEL.TROI.SIMILARITY_PRECISION,
    )


def branch_pooler_from_config(
    cfg, branch: str, input_shape, *, output_size: int, sampling_ratio: int, pooler_type: str
) -> ROIPooler:
    """The RoI pooler of one ROI head branch over ``MODEL.ROI_HEADS.IN_FEATURES``: a
    :class:`TemporalROIPooler` when ``MODEL.TROI.ENABLED`` and ``branch`` is in
    ``MODEL.TROI.BRANCHES`` (checked once per model by :func:`check_troi_branches`), else
    detectron2's :class:`ROIPooler`.
    """
    in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
    pooler_args = dict(
        output_size=output_size,
        scales=tuple(1.0 / input_shape[name].stride for name in in_features),
        sampling_ratio=sampling_ratio,
        pooler_type=pooler_type,
    )
    if not (cfg.MODEL.TROI.ENABLED and branch in cfg.MODEL.TROI.BRANCHES):
        return ROIPooler(**pooler_args)
    channels = input_shape[in_features[0]].channels
    return TemporalROIPooler(
        temporal_roi_align=temporal_roi_align_from_config(cfg, channels), in_features=list(in_features), **pooler_args
    )


class TemporalROIPooler(ROIPooler):
    """RoI Align for target-frame proposals, then Temporal RoI Align against the support frames.

    Each RoI takes its level from detectron2's usual level assignment, and its most
    similar points are searched in the support frames' features of that same level
    (one level for DC5; every FPN level for FPN). One :class:`TemporalRoIAlign` (one
    embedding conv) serves all levels.

    The support frames come as an argument, or from the :class:`FrameGroupScope` its ROI
    heads share with it (:attr:`frame_group`), so that detectron2's own ``_forward_box`` and
    ``_forward_mask`` call it unchanged; with neither, it is plain RoI Align. On CPU its RoI
    Align runs through the sampling bags the search uses (:meth:`aligns_through_bags`).

    Args:
        temporal_roi_align: the operator; its channels must be the features' channels.
        in_features: names of the feature levels ``x`` holds, in order (to find the same
            levels in the support frames).
        **kwargs: :class:`ROIPooler` arguments.
    """

    def __init__(self, *, temporal_roi_align: TemporalRoIAlign, in_features: List[str], **kwargs):
        super().__init__(**kwargs)
        if len(in_features) != len(self.level_poolers):
            raise ValueError(f"in_features {in_features} must name the pooler's {len(self.level_poolers)} levels")
        self.temporal_roi_align = temporal_roi_align
        self.in_features = list(in_features)
        self.frame_group: Optional[FrameGroupScope] = None  # set by the ROI heads that own it

    def forward(
        self, x: List[torch.Tensor], box_lists: List[Boxes], support_features: Optional[List[Optional[list]]] = None
    ):
        """
        Args:
            x: per level, ``[B, C, H_l, W_l]`` target-frame features.
            box_lists: per target frame, its RoIs.
            support_features: per target frame, per level, ``[T, C, h_l, w_l]`` features of
                its support frames or their encodings (``SupportFrames.temporal_inputs``),
                or None for a frame without supports. None: those of :attr:`frame_group`'s
                support frames, if any, else plain RoI Align.

        Returns:
            ``[sum(len(boxes)), C, output_size, output_size]``, in the order of ``box_lists``.
        """
        if support_features is None:
            support_features = self._scoped_support_features(len(box_lists))
        if support_features is not None and len(support_features) != len(box_lists):
            raise ValueError(f"support_features has {len(support_features)} entries for {len(box_lists)} images")

        def searched(image: int) -> bool:
            return support_features is not None and support_features[image] is not None

        bagged = self.aligns_through_bags(x)
        if bagged and (len(x) != len(self.level_poolers) or len(box_lists) != x[0].shape[0]):
            raise ValueError(
                f"the pooler pools {len(self.level_poolers)} level(s); it got features of {len(x)} level(s) "
                f"of {x[0].shape[0]} image(s), and RoIs of {len(box_lists)} image(s)"
            )
        groups = self._roi_groups(box_lists)
        samplings = {
            (image, level): self.cell_sampling(level, x[level][image], boxes)
            for image, level, _, boxes in groups
            if bagged or searched(image)
        }
        roi_feats = self._bagged_roi_align(x, box_lists, groups, samplings) if bagged else super().forward(x, box_lists)
        if support_features is None:
            return roi_feats
        temporal_feats = roi_feats.clone()
        for image, level, rois, _ in groups:
            if searched(image):
                level_supports = support_features[image][level]
                temporal_feats[rois] = self.temporal_roi_align(roi_feats[rois], level_supports, samplings[image, level])
        return temporal_feats

    def aligns_through_bags(self, x: List[torch.Tensor]) -> bool:
        """Whether RoI Align runs as the bags of its cells' sampling
        (:meth:`RoICellSampling.align`) rather than torchvision's ``roi_align``: on CPU, for
        RoI Align poolers. There torchvision's kernel runs on one thread and its backward is
        slow; the bags are also the sampling Temporal RoI Align's search reads."""
        return bool(x) and x[0].device.type == "cpu" and all(isinstance(p, ROIAlign) for p in self.level_poolers)

    def _roi_groups(self, box_lists: List[Boxes]) -> List[Tuple[int, int, torch.Tensor, torch.Tensor]]:
        """``(image, level, rois, boxes)`` for each image and level with RoIs: the indices
        ``rois`` into the concatenated ``box_lists`` and their ``[r, 4]`` boxes."""
        if not box_lists:
            return []
        image_of_roi = torch.cat(
            [
                torch.full((len(boxes),), index, device=boxes.tensor.device, dtype=torch.long)
                for index, boxes in enumerate(box_lists)
            ]
        )
        level_of_roi = self.roi_levels(box_lists)
        boxes = torch.cat([b.tensor for b in box_lists])
        groups = []
        for image in range(len(box_lists)):
            for level in range(len(self.level_poolers)):
                rois = torch.nonzero((image_of_roi == image) & (level_of_roi == level)).squeeze(1)
                if len(rois):
                    groups.append((image, level, rois, boxes[rois]))
        return groups

    def _bagged_roi_align(self, x, box_lists, groups, samplings) -> torch.Tensor:
        """RoI Align's ``[sum(len(boxes)), C, h, w]`` features through the groups' samplings."""
        num_rois = sum(len(boxes) for boxes in box_lists)
        height, width = self.output_size
        if len(groups) == 1 and len(groups[0][2]) == num_rois:  # one image, one level
            image, level, _, _ = groups[0]
            return cells_to_rois(samplings[image, level].align(x[level][image]), num_rois, height, width)
        roi_feats = x[0].new_zeros((num_rois, x[0].shape[1], height, width))
        for image, level, rois, _ in groups:
            cells = samplings[image, level].align(x[level][image])
            roi_feats[rois] = cells_to_rois(cells, len(rois), height, width)
        return roi_feats

    def cell_sampling(self, level: int, feature_map: torch.Tensor, boxes: torch.Tensor) -> Optional[RoICellSampling]:
        """How the pooler's RoI Align at ``level`` samples the cells of ``boxes [R, 4]`` from one
        image's ``feature_map [C, H, W]``, for Temporal RoI Align's search
        (:mod:`troi.layers.roi_cell_sampling`); None for other pooler types."""
        pooler = self.level_poolers[level]
        if not isinstance(pooler, ROIAlign):
            return None
        output_size = pooler.output_size
        output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        return roi_align_sampling(
            feature_map, boxes, output_size, pooler.spatial_scale, pooler.sampling_ratio, pooler.aligned
        )

    def _scoped_support_features(self, num_images: int) -> Optional[List[Optional[list]]]:
        """``support_features`` of :meth:`forward` from the current frame group, if any."""
        support = self.frame_group.support if self.frame_group is not None else None
        if support is None:
            return None
        if len(support.counts) != num_images:
            raise ValueError(
                f"the frame group has support frames for {len(support.counts)} target frames, "
                f"the pooler got RoIs of {num_images}"
            )
        return [
            support.temporal_inputs(i, self.in_features, self.temporal_roi_align) if support.counts[i] else None
            for i in range(num_images)
        ]

    def roi_levels(self, box_lists: List[Boxes]) -> torch.Tensor:
        """``[sum(len(boxes))]`` index into the pooler's levels of each RoI (detectron2's
        level assignment; all 0 with one level)."""
        if len(self.level_poolers) == 1:
            device = box_lists[0].tensor.device if box_lists else None
            return torch.zeros(sum(len(boxes) for boxes in box_lists), dtype=torch.long, device=device)
        return assign_boxes_to_levels(
            box_lists, self.min_level, self.max_level, self.canonical_box_size, self.canonical_level
        )

"""StandardROIHeads whose box features come from the whole frame group (TRoI, SELSA)."""

from typing import Dict, List, Optional, Tuple

import torch

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import Boxes, Instances

from ...layers.temporal_roi_align import SimilarPoints
from ..frame_group_scope import FrameGroupScope, SelsaReferences
from ..poolers import TemporalROIPooler, branch_pooler_from_config
from ..support_frames import SupportFrames
from .selsa_box_head import SelsaBoxHead, concatenate

__all__ = ["TemporalROIHeads"]


@ROI_HEADS_REGISTRY.register()
class TemporalROIHeads(StandardROIHeads):
    """StandardROIHeads that also take the target frames' :class:`SupportFrames`.

    - ``MODEL.TROI.ENABLED``: the box pooler (and, with ``MODEL.MASK_ON``, the mask pooler)
      is a :class:`TemporalROIPooler`, so target proposals (detections) get Temporal RoI
      Aligned features; ``MODEL.TROI.BRANCHES`` picks the branches ("box", "mask").
    - ``MODEL.SELSA.ENABLED``: the box head is a :class:`SelsaBoxHead` whose references are
      the support frames' proposals (plain RoI Align).
    Both off: exactly StandardROIHeads. The keypoint head is unchanged.

    detectron2's own methods (``forward``, ``_forward_box``, ``_forward_mask``, ...) run
    unchanged: for the duration of each call the support frames (and SELSA references)
    are in a :class:`FrameGroupScope` the poolers and box head read.
    """

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.frame_group = FrameGroupScope()
        for module in (self.box_pooler, getattr(self, "mask_pooler", None), self.box_head):
            if isinstance(module, (TemporalROIPooler, SelsaBoxHead)):
                module.frame_group = self.frame_group

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(cfg, input_shape)
        channels = input_shape[cfg.MODEL.ROI_HEADS.IN_FEATURES[0]].channels
        resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
        ret["box_pooler"] = branch_pooler_from_config(
            cfg,
            "box",
            input_shape,
            output_size=resolution,
            sampling_ratio=cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO,
            pooler_type=cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE,
        )
        if cfg.MODEL.SELSA.ENABLED:
            if cfg.MODEL.ROI_BOX_HEAD.NAME not in ("FastRCNNConvFCHead", "SelsaBoxHead"):
                raise ValueError(
                    "MODEL.SELSA.ENABLED extends FastRCNNConvFCHead; got MODEL.ROI_BOX_HEAD.NAME="
                    f"{cfg.MODEL.ROI_BOX_HEAD.NAME!r}"
                )
            ret["box_head"] = SelsaBoxHead(cfg, ShapeSpec(channels=channels, height=resolution, width=resolution))
        return ret

    @classmethod
    def _init_mask_head(cls, cfg, input_shape):
        ret = super()._init_mask_head(cfg, input_shape)
        if ret.get("mask_pooler") is not None:
            ret["mask_pooler"] = branch_pooler_from_config(
                cfg,
                "mask",
                input_shape,
                output_size=cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION,
                sampling_ratio=cfg.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO,
                pooler_type=cfg.MODEL.ROI_MASK_HEAD.POOLER_TYPE,
            )
        return ret

    @property
    def uses_support_proposals(self) -> bool:
        """Whether :class:`SupportFrames` must carry the support frames' proposals (SELSA)."""
        return isinstance(self.box_head, SelsaBoxHead)

    def forward(
        self,
        images,
        features: Dict[str, torch.Tensor],
        proposals: List[Instances],
        targets: Optional[List[Instances]] = None,
        support: Optional[SupportFrames] = None,
    ):
        """:meth:`StandardROIHeads.forward`, the RoI features drawing on ``support``."""
        references = self.selsa_references(support, [len(p) for p in proposals])
        with self.frame_group.of(support, references):
            return super().forward(images, features, proposals, targets)

    def forward_with_given_boxes(
        self, features: Dict[str, torch.Tensor], instances: List[Instances], support: Optional[SupportFrames] = None
    ) -> List[Instances]:
        """:meth:`StandardROIHeads.forward_with_given_boxes`, the mask features drawing on
        ``support`` (or, called from :meth:`forward`, on its support frames)."""
        with self.frame_group.of(support):
            return super().forward_with_given_boxes(features, instances)

    def label_and_sample_proposals(self, proposals: List[Instances], targets: List[Instances]) -> List[Instances]:
        """:meth:`StandardROIHeads.label_and_sample_proposals`; the sampled RoIs per image
        are what the SELSA box head's references are split by."""
        sampled = super().label_and_sample_proposals(proposals, targets)
        if self.frame_group.references is not None:
            self.frame_group.references.rois_per_image = [len(p) for p in sampled]
        return sampled

    def selsa_references(self, support: Optional[SupportFrames], rois_per_image: List[int]):
        """The :class:`SelsaReferences` of the support frames' proposals (None without SELSA
        or support frames): their plain RoI Align features through the box head
        (:meth:`SelsaBoxHead.frame_references`, kept per frame in ``support.encodings`` at
        inference), and with ``aggregate_references`` aggregated over the support set
        (:meth:`SelsaBoxHead.set_references`, kept in ``support.references`` when the set
        has a key)."""
        if not self.uses_support_proposals or support is None:
            return None
        per_image = [self._references_of(support, i) for i in range(len(support.counts))]
        stacked = [concatenate(level) for level in zip(*per_image)]
        references = SelsaReferences(stacked, [len(r[0]) for r in per_image])
        references.rois_per_image = list(rois_per_image)
        return references

    def _references_of(self, support: SupportFrames, target: int) -> list:
        """SELSA references of one target frame: its support proposals' features at each
        aggregator (their projections unless ``aggregate_references``)."""
        if not support.counts[target]:
            empty = [
                aggregator.fc.weight.new_zeros((0, aggregator.in_channels))
                for aggregator in self.box_head.aggregators.values()
            ]
            return empty if self.box_head.aggregate_references else self.box_head.project_references(empty)
        key = support.target_keys[target] if support.target_keys is not None else None
        # Only references aggregated over the set depend on it; the others are per frame.
        cache = support.references if key is not None and self.box_head.aggregate_references else None
        if cache is not None and key in cache:
            return cache.get(key)
        boxes = support.proposal_boxes(target)
        references = self.box_head.set_references(
            [
                self._frame_references(support, index, frame_boxes)
                for index, frame_boxes in zip(support.frames_of(target), boxes)
            ],
            [sum(len(frame_boxes) for frame_boxes in boxes)],
        )
        if cache is not None:
            cache[key] = references
        return references

    def _frame_references(self, support: SupportFrames, index: int, boxes: Boxes) -> list:
        """:meth:`SelsaBoxHead.frame_references` of support frame ``index``'s proposal
        ``boxes`` (plain RoI Align: no frame group is set here), projected by the aggregators
        (:meth:`SelsaBoxHead.project_references`) unless ``aggregate_references``; once per
        frame with encodings."""
        memo = support.encodings[index] if support.encodings is not None else {}
        if (self.box_head, "references") not in memo:
            features = [support.features[index][name][None] for name in self.box_in_features]
            pooled = self.box_pooler(features, [boxes])  # (m, C, h, w)
            references = self.box_head.frame_references(pooled)
            if not self.box_head.aggregate_references:
                references = self.box_head.project_references(references)
            memo[self.box_head, "references"] = references
        return memo[self.box_head, "references"]

    def similar_points(
        self, features: Dict[str, torch.Tensor], support: SupportFrames, boxes: Boxes
    ) -> List[Tuple[SimilarPoints, str, int, Tuple[int, int]]]:
        """What the box pooler's Temporal RoI Align finds for ``boxes`` of the first target
        frame, as if they were its proposals (the paper's Fig. 6): per box, its
        :class:`SimilarPoints`, the feature level it is pooled from, that level's width in
        the support frames (positions are flat indices into it) and the RoI grid ``(h, w)``.

        Raises:
            ValueError: the box pooler has no Temporal RoI Align, or the frame no supports.
        """
        pooler = self.box_pooler
        if not isinstance(pooler, TemporalROIPooler):
            raise ValueError("similar points need a box pooler with Temporal RoI Align (MODEL.TROI.ENABLED)")
        if not support.counts[0]:
            raise ValueError("similar points need a target frame with support frames")
        operator, names = pooler.temporal_roi_align, self.box_in_features
        roi_feats = pooler([features[name] for name in names], [boxes])  # RoI Align: [P, C, S, S]
        supports = support.temporal_inputs(0, names, operator)
        first_support = support.features[support.frames_of(0)[0]]
        return [
            (
                operator.similar_points(roi_feat[None], supports[level]),
                names[level],
                first_support[names[level]].shape[-1],
                tuple(roi_feat.shape[-2:]),
            )
            for roi_feat, level in zip(roi_feats, pooler.roi_levels([boxes]).tolist())
        ]

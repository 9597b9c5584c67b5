"""StandardROIHeads whose box features come from the whole frame group (TRoI, SELSA)."""
from collections import OrderedDict
from typing import Dict, List, Optional

import torch

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, StandardROIHeads, select_foreground_proposals
from detectron2.structures import Boxes, Instances

from ..poolers import TemporalROIPooler, branch_pooler_from_config
from ..support_frames import SupportFrames
from .selsa_box_head import SelsaBoxHead

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

    Args:
        reference_cache_size: at inference, SELSA references of this many support sets
            (:attr:`SupportFrames.target_keys`) are kept, so frames sharing a support set
            (uniform sampling) compute them once.
    """

    @configurable
    def __init__(self, *, reference_cache_size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.reference_cache_size = reference_cache_size
        self._reference_cache: "OrderedDict[object, List[torch.Tensor]]" = OrderedDict()

    @classmethod
    def _init_box_head(cls, cfg, input_shape):
        ret = super()._init_box_head(cfg, input_shape)
        channels = input_shape[cfg.MODEL.ROI_HEADS.IN_FEATURES[0]].channels
        resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
        ret["box_pooler"] = branch_pooler_from_config(
            cfg, "box", input_shape, output_size=resolution,
            sampling_ratio=cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO, pooler_type=cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE,
        )
        if cfg.MODEL.SELSA.ENABLED:
            if cfg.MODEL.ROI_BOX_HEAD.NAME not in ("FastRCNNConvFCHead", "SelsaBoxHead"):
                raise ValueError("MODEL.SELSA.ENABLED extends FastRCNNConvFCHead; got MODEL.ROI_BOX_HEAD.NAME="
                                 f"{cfg.MODEL.ROI_BOX_HEAD.NAME!r}")
            ret["box_head"] = SelsaBoxHead(cfg, ShapeSpec(channels=channels, height=resolution, width=resolution))
        return ret

    @classmethod
    def _init_mask_head(cls, cfg, input_shape):
        ret = super()._init_mask_head(cfg, input_shape)
        if ret.get("mask_pooler") is not None:
            ret["mask_pooler"] = branch_pooler_from_config(
                cfg, "mask", input_shape, output_size=cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION,
                sampling_ratio=cfg.MODEL.ROI_MASK_HEAD.POOLER_SAMPLING_RATIO,
                pooler_type=cfg.MODEL.ROI_MASK_HEAD.POOLER_TYPE,
            )
        return ret

    @property
    def uses_support_proposals(self) -> bool:
        """Whether :class:`SupportFrames` must carry the support frames' proposals (SELSA)."""
        return isinstance(self.box_head, SelsaBoxHead)

    def forward(self, images, features: Dict[str, torch.Tensor], proposals: List[Instances],
                targets: Optional[List[Instances]] = None, support: Optional[SupportFrames] = None):
        """As :meth:`StandardROIHeads.forward`, with the target frames' support frames."""
        del images
        if self.training:
            if not targets:
                raise ValueError("TemporalROIHeads needs 'targets' in training")
            proposals = self.label_and_sample_proposals(proposals, targets)
            losses = self._forward_box(features, proposals, support)
            losses.update(self._forward_mask(features, proposals, support))
            losses.update(self._forward_keypoint(features, proposals))
            return proposals, losses
        instances = self._forward_box(features, proposals, support)
        return self.forward_with_given_boxes(features, instances, support), {}

    def forward_with_given_boxes(self, features: Dict[str, torch.Tensor], instances: List[Instances],
                                 support: Optional[SupportFrames] = None) -> List[Instances]:
        """As :meth:`StandardROIHeads.forward_with_given_boxes`, the mask features drawing on
        ``support``."""
        assert not self.training
        instances = self._forward_mask(features, instances, support)
        return self._forward_keypoint(features, instances)

    def _forward_mask(self, features, instances, support: Optional[SupportFrames] = None):
        """As :meth:`StandardROIHeads._forward_mask`, with Temporal RoI Aligned features when
        the mask pooler is a :class:`TemporalROIPooler`."""
        if not self.mask_on or not isinstance(self.mask_pooler, TemporalROIPooler) or support is None:
            return super()._forward_mask(features, instances)
        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
        boxes = [x.proposal_boxes if self.training else x.pred_boxes for x in instances]
        return self.mask_head(self.pool(self.mask_pooler, self.mask_in_features, features, boxes, support), instances)

    def pool(self, pooler, in_features: List[str], features: Dict[str, torch.Tensor], boxes: List[Boxes],
             support: Optional[SupportFrames]) -> torch.Tensor:
        """``[sum R_i, C, S, S]`` RoI features of ``boxes`` (per image) from ``features``
        (``{level: [B, C, H, W]}``): Temporal RoI Aligned to each image's support frames when
        ``pooler`` is a :class:`TemporalROIPooler` and ``support`` is given, else RoI Align."""
        level_features = [features[name] for name in in_features]
        if not isinstance(pooler, TemporalROIPooler) or support is None:
            return pooler(level_features, boxes)
        per_image = [support.temporal_inputs(i, in_features, pooler.temporal_roi_align) if support.counts[i] else None
                     for i in range(len(boxes))]
        return pooler(level_features, boxes, per_image)

    def _forward_box(self, features, proposals, support: Optional[SupportFrames] = None):
        """As :meth:`StandardROIHeads._forward_box`, the box features drawing on ``support``."""
        box_features = self._box_features(features, proposals, support)
        predictions = self.box_predictor(box_features)
        del box_features
        if not self.training:
            return self.box_predictor.inference(predictions, proposals)[0]
        losses = self.box_predictor.losses(predictions, proposals)
        if self.train_on_pred_boxes:
            with torch.no_grad():
                boxes = self.box_predictor.predict_boxes_for_gt_classes(predictions, proposals)
                for proposals_per_image, boxes_per_image in zip(proposals, boxes):
                    proposals_per_image.proposal_boxes = Boxes(boxes_per_image)
        return losses

    def _box_features(self, features, proposals, support):
        """``[sum R_i, C_box]`` features of the target proposals after the box head."""
        boxes = [p.proposal_boxes for p in proposals]
        box_features = self.pool(self.box_pooler, self.box_in_features, features, boxes, support)
        if not self.uses_support_proposals or support is None:
            return self.box_head(box_features)
        references = [self._references_of(support, i, box_features) for i in range(len(boxes))]
        stacked_references = [torch.cat(level) for level in zip(*references)]
        return self.box_head(box_features, stacked_references, [len(b) for b in boxes],
                             [len(r[0]) for r in references])

    def _references_of(self, support: SupportFrames, target: int, like: torch.Tensor) -> List[torch.Tensor]:
        """SELSA references of one target frame: its support proposals' features at each
        aggregator (:meth:`SelsaBoxHead.reference_features`); cached at inference by set."""
        if not support.counts[target]:
            return [like.new_zeros((0, aggregator.in_channels)) for aggregator in self.box_head.aggregators.values()]
        key = support.target_keys[target] if support.target_keys is not None else None
        if not self.training and key is not None and key in self._reference_cache:
            self._reference_cache.move_to_end(key)
            return self._reference_cache[key]
        pooled = self.box_pooler(support.stacked(target, self.box_in_features), support.proposal_boxes(target))
        references = self.box_head.reference_features(pooled, [len(pooled)])
        if not self.training and key is not None:
            self._reference_cache[key] = references
            if len(self._reference_cache) > self.reference_cache_size:
                self._reference_cache.popitem(last=False)
        return references

    def train(self, mode: bool = True):
        """Switching modes (e.g. an evaluation starting) drops the inference cache."""
        self._reference_cache.clear()
        return super().train(mode)

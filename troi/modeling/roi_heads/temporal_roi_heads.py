"""StandardROIHeads whose box features come from the whole frame group (TRoI, SELSA)."""
from collections import OrderedDict
from typing import Dict, List, Optional

import torch

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.structures import Boxes, Instances

from ..poolers import TemporalROIPooler, temporal_roi_align_from_config
from ..support_frames import SupportFrames
from .selsa_box_head import SelsaBoxHead

__all__ = ["TemporalROIHeads"]


@ROI_HEADS_REGISTRY.register()
class TemporalROIHeads(StandardROIHeads):
    """StandardROIHeads that also take the target frames' :class:`SupportFrames`.

    - ``MODEL.TROI.ENABLED``: the box pooler is a :class:`TemporalROIPooler`, so target
      proposals get Temporal RoI Aligned features.
    - ``MODEL.SELSA.ENABLED``: the box head is a :class:`SelsaBoxHead` whose references are
      the support frames' proposals (plain RoI Align).
    Both off: exactly StandardROIHeads. Mask and keypoint heads are unchanged.

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
        in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
        channels = input_shape[in_features[0]].channels
        resolution = cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION
        if cfg.MODEL.TROI.ENABLED:
            ret["box_pooler"] = TemporalROIPooler(
                output_size=resolution,
                scales=tuple(1.0 / input_shape[name].stride for name in in_features),
                sampling_ratio=cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO,
                pooler_type=cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE,
                temporal_roi_align=temporal_roi_align_from_config(cfg, channels),
            )
        if cfg.MODEL.SELSA.ENABLED:
            if cfg.MODEL.ROI_BOX_HEAD.NAME not in ("FastRCNNConvFCHead", "SelsaBoxHead"):
                raise ValueError("MODEL.SELSA.ENABLED extends FastRCNNConvFCHead; got MODEL.ROI_BOX_HEAD.NAME="
                                 f"{cfg.MODEL.ROI_BOX_HEAD.NAME!r}")
            ret["box_head"] = SelsaBoxHead(cfg, ShapeSpec(channels=channels, height=resolution, width=resolution))
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
            losses.update(self._forward_mask(features, proposals))
            losses.update(self._forward_keypoint(features, proposals))
            return proposals, losses
        instances = self._forward_box(features, proposals, support)
        return self.forward_with_given_boxes(features, instances), {}

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
        level_features = [features[name] for name in self.box_in_features]
        boxes = [p.proposal_boxes for p in proposals]
        if isinstance(self.box_pooler, TemporalROIPooler) and support is not None:
            per_image = [support.stacked(i, self.box_in_features) if support.counts[i] else None
                         for i in range(len(boxes))]
            box_features = self.box_pooler(level_features, boxes, per_image)
        else:
            box_features = self.box_pooler(level_features, boxes)
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

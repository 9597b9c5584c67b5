"""TemporalROIHeads with MaskTrack R-CNN's track branch."""

from typing import Dict, List, Optional

import torch

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, select_foreground_proposals
from detectron2.structures import Instances

from ..poolers import TemporalROIPooler, branch_pooler_from_config
from ..reference_frames import ReferenceFrames
from ..support_frames import SupportFrames
from .temporal_roi_heads import TemporalROIHeads
from .track_head import build_track_head, match_labels, match_logits, track_match_loss

__all__ = ["MaskTrackROIHeads"]


@ROI_HEADS_REGISTRY.register()
class MaskTrackROIHeads(TemporalROIHeads):
    """:class:`TemporalROIHeads` (box, mask) plus a track branch (MaskTrack R-CNN).

    The track branch pools RoI features (a :class:`TemporalROIPooler` when
    ``MODEL.TROI.ENABLED`` and "track" is in ``MODEL.TROI.BRANCHES``) and embeds them.

    - Training: the embeddings of the target frames' foreground proposals are matched to
      those of their reference frames' GT instances (``loss_track``, see :mod:`.track_head`).
      The reference GT features are pooled the same way, the reference frame's own supports
      being the target frame and the target's other support frames.
    - Inference: every detection gets ``track_embeddings`` ``[D]`` for the tracker.

    Args:
        track_in_features: feature levels the track pooler reads.
        track_pooler: pools ``[R, C, S, S]`` RoI features.
        track_head: ``[R, C, S, S]`` -> ``[R, D]`` embeddings.
        track_loss_weight: weight of ``loss_track``.
    """

    @configurable
    def __init__(
        self,
        *,
        track_in_features: List[str],
        track_pooler,
        track_head: torch.nn.Module,
        track_loss_weight: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.track_in_features = track_in_features
        self.track_pooler = track_pooler
        self.track_head = track_head
        self.track_loss_weight = track_loss_weight
        if isinstance(track_pooler, TemporalROIPooler):
            track_pooler.frame_group = self.frame_group

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret.update(cls._init_track_head(cfg, input_shape))
        return ret

    @classmethod
    def _init_track_head(cls, cfg, input_shape):
        in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
        resolution = cfg.MODEL.TRACK_HEAD.POOLER_RESOLUTION
        channels = input_shape[in_features[0]].channels
        return {
            "track_in_features": in_features,
            "track_pooler": branch_pooler_from_config(
                cfg,
                "track",
                input_shape,
                output_size=resolution,
                sampling_ratio=cfg.MODEL.TRACK_HEAD.POOLER_SAMPLING_RATIO,
                pooler_type=cfg.MODEL.TRACK_HEAD.POOLER_TYPE,
            ),
            "track_head": build_track_head(cfg, ShapeSpec(channels=channels, height=resolution, width=resolution)),
            "track_loss_weight": cfg.MODEL.TRACK_HEAD.LOSS_WEIGHT,
        }

    def forward(
        self,
        images,
        features: Dict[str, torch.Tensor],
        proposals: List[Instances],
        targets: Optional[List[Instances]] = None,
        support: Optional[SupportFrames] = None,
        references: Optional[ReferenceFrames] = None,
    ):
        """As :meth:`TemporalROIHeads.forward`; training also needs the target frames'
        ``references`` and adds ``loss_track``."""
        if self.training and references is None:
            raise ValueError("MaskTrackROIHeads needs the reference frames ('references') in training")
        with self.frame_group.of(support):
            results, losses = super().forward(images, features, proposals, targets, support)
            if self.training:
                losses.update(self._forward_track(features, results, references))
        return results, losses

    def forward_with_given_boxes(
        self, features: Dict[str, torch.Tensor], instances: List[Instances], support: Optional[SupportFrames] = None
    ) -> List[Instances]:
        """As :meth:`TemporalROIHeads.forward_with_given_boxes`, plus each detection's
        ``track_embeddings``."""
        with self.frame_group.of(support):
            instances = super().forward_with_given_boxes(features, instances, support)
            boxes = [x.pred_boxes for x in instances]
            embeddings = self.track_head(self.track_pooler([features[f] for f in self.track_in_features], boxes))
        for image_instances, image_embeddings in zip(instances, embeddings.split([len(b) for b in boxes])):
            image_instances.track_embeddings = image_embeddings
        return instances

    def _forward_track(
        self, features, proposals: List[Instances], references: ReferenceFrames
    ) -> Dict[str, torch.Tensor]:
        """``loss_track`` of the foreground proposals against their reference frames (the
        target frames' support frames are in the frame group)."""
        foreground, _ = select_foreground_proposals(proposals, self.num_classes)
        boxes = [p.proposal_boxes for p in foreground]
        embeddings = self.track_head(self.track_pooler([features[f] for f in self.track_in_features], boxes))
        reference_boxes = [r.gt_boxes for r in references.instances]
        with self.frame_group.of(references.support):  # the reference frames' own supports
            reference_embeddings = self.track_head(
                self.track_pooler([references.features[f] for f in self.track_in_features], reference_boxes)
            )
        logits, labels = [], []
        per_image = zip(
            foreground,
            embeddings.split([len(b) for b in boxes]),
            references.instances,
            reference_embeddings.split([len(b) for b in reference_boxes]),
        )
        for image_proposals, image_embeddings, reference, image_reference_embeddings in per_image:
            logits.append(match_logits(image_embeddings, image_reference_embeddings))
            labels.append(match_labels(_gt_ids(image_proposals), reference.gt_ids.to(image_embeddings.device)))
        return {"loss_track": self.track_loss_weight * track_match_loss(logits, labels)}


def _gt_ids(proposals: Instances) -> torch.Tensor:
    """The ``gt_ids`` that proposal sampling copied from the GT (none on an image without GT)."""
    if proposals.has("gt_ids"):
        return proposals.gt_ids
    if len(proposals):
        raise ValueError("training targets need 'gt_ids' (the GT instance ids) for the track branch")
    return torch.zeros(0, dtype=torch.long, device=proposals.proposal_boxes.device)

"""Video recognition: a clip of T frames in, class scores out (TSN / TANet)."""

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone

from ..recognition_head import SegmentConsensusHead

__all__ = ["VideoRecognizer"]


@META_ARCH_REGISTRY.register()
class VideoRecognizer(nn.Module):
    """mmaction2's ``Recognizer2D`` as a detectron2 meta-architecture: the frames of every
    clip of the batch go through the (per-frame, or TANet's temporal) backbone in one
    pass, and a :class:`SegmentConsensusHead` turns each clip's ``T`` frames into scores.

    Each input dict is one clip (see :class:`troi.data.ClipDatasetMapper`):

    * ``"clip"``: ``[T, 3, H, W]`` frames (uint8 or float, ``INPUT.FORMAT`` channels), all
      clips of a batch of one size;
    * ``"label"``: the class index (training).

    Training returns ``{"loss_cls": cross-entropy}``; inference returns one dict per clip
    with ``"scores"``: ``[K]`` class probabilities (softmax).
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: SegmentConsensusHead,
        in_feature: str,
        num_segments: int,
        pixel_mean,
        pixel_std,
    ):
        super().__init__()
        self.backbone = backbone
        self.cls_head = head
        self.in_feature = in_feature
        self.num_segments = num_segments
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean, dtype=torch.float32).view(1, -1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std, dtype=torch.float32).view(1, -1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg, ShapeSpec(channels=len(cfg.MODEL.PIXEL_MEAN)))
        head_cfg = cfg.MODEL.RECOGNITION_HEAD
        if head_cfg.IN_FEATURE not in backbone.output_shape():
            raise ValueError(
                f"MODEL.RECOGNITION_HEAD.IN_FEATURE {head_cfg.IN_FEATURE!r} is not an output of "
                f"{cfg.MODEL.BACKBONE.NAME} ({sorted(backbone.output_shape())}; set "
                "MODEL.RESNETS.OUT_FEATURES)"
            )
        head = SegmentConsensusHead(
            backbone.output_shape()[head_cfg.IN_FEATURE].channels,
            head_cfg.NUM_CLASSES,
            dropout=head_cfg.DROPOUT,
            init_std=head_cfg.INIT_STD,
        )
        return {
            "backbone": backbone,
            "head": head,
            "in_feature": head_cfg.IN_FEATURE,
            "num_segments": cfg.INPUT.CLIP.NUM_SEGMENTS,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_clips(self, batched_inputs: List[dict]) -> torch.Tensor:
        """The normalised frames of all clips, ``[N*T, 3, H, W]`` (clips in order)."""
        clips = [x["clip"] for x in batched_inputs]
        for index, clip in enumerate(clips):
            if clip.dim() != 4 or clip.shape[0] != self.num_segments:
                raise ValueError(
                    f"clip {index} of the batch has shape {tuple(clip.shape)}; expected "
                    f"[T={self.num_segments}, 3, H, W] (INPUT.CLIP.NUM_SEGMENTS)"
                )
            if clip.shape != clips[0].shape:
                raise ValueError(
                    f"the clips of a batch must have one size: clip {index} is {tuple(clip.shape)}, "
                    f"clip 0 {tuple(clips[0].shape)} (crop them to INPUT.CLIP.CROP_SIZE)"
                )
        frames = torch.cat([clip.to(self.device) for clip in clips]).float()
        return (frames - self.pixel_mean) / self.pixel_std

    def forward(self, batched_inputs: List[dict]):
        """See the class doc."""
        frames = self.preprocess_clips(batched_inputs)
        features = self.backbone(frames)[self.in_feature]  # (N*T, C, h, w)
        logits = self.cls_head(features, self.num_segments)  # (N, K)
        if self.training:
            labels = torch.as_tensor([x["label"] for x in batched_inputs], device=self.device)
            return {"loss_cls": F.cross_entropy(logits, labels)}
        return self.postprocess(logits)

    @staticmethod
    def postprocess(logits: torch.Tensor) -> List[Dict[str, torch.Tensor]]:
        """``[N, K]`` logits -> per clip ``{"scores": [K] probabilities}``."""
        return [{"scores": scores} for scores in logits.softmax(dim=1)]

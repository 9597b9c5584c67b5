"""MaskTrack R-CNN's track branch: RoI features -> embeddings, and the match logits and loss.

Training pairs a target frame with a reference frame of the same video. Each foreground
proposal of the target either continues one of the reference frame's ground-truth
instances or is an object the reference frame does not show ("new"):

1. embed the target proposals ``[N, D]`` and the reference GT instances ``[M, D]``;
2. match logits ``[N, 1 + M]``: column 0 is a constant 0 (new object), column ``1 + j``
   the dot product with reference instance ``j``;
3. cross-entropy against label 0 (new) or ``1 + j`` (same instance id as reference ``j``).

At inference the same logits, with the tracks' last embeddings in place of the reference
GT, give the tracker's match log-probabilities (:mod:`troi.modeling.tracker`).
"""

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.utils.registry import Registry

__all__ = [
    "ROI_TRACK_HEAD_REGISTRY",
    "TrackEmbeddingHead",
    "build_track_head",
    "match_labels",
    "match_logits",
    "track_match_loss",
]

ROI_TRACK_HEAD_REGISTRY = Registry("ROI_TRACK_HEAD")
ROI_TRACK_HEAD_REGISTRY.__doc__ = """
Registry for track embedding heads: pooled RoI features ``[R, C, S, S]`` -> ``[R, D]``.
Built by ``cfg.MODEL.TRACK_HEAD.NAME`` with ``(cfg, input_shape)``.
"""


def match_logits(embeddings: torch.Tensor, reference_embeddings: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` and ``[M, D]`` embeddings -> ``[N, 1 + M]`` logits: a zero "new object"
    column, then the dot products ``embeddings @ reference_embeddings.T``."""
    new_object = embeddings.new_zeros((len(embeddings), 1))
    return torch.cat([new_object, embeddings @ reference_embeddings.T], dim=1)  # (N, 1 + M)


def match_labels(instance_ids: torch.Tensor, reference_ids: torch.Tensor) -> torch.Tensor:
    """``[N]`` targets of :func:`match_logits`: ``1 + j`` where ``instance_ids[i]`` is
    ``reference_ids[j]``, 0 where it is not among them or negative (unknown id)."""
    same = (instance_ids[:, None] == reference_ids[None, :]) & (instance_ids[:, None] >= 0)  # (N, M)
    columns = torch.cat([~same.any(dim=1, keepdim=True), same], dim=1)  # (N, 1 + M): "new", then the matches
    return columns.to(torch.long).argmax(dim=1)


def track_match_loss(logits: List[torch.Tensor], labels: List[torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the rows of every image's ``[N_i, 1 + M_i]`` logits against
    its ``[N_i]`` labels; a zero that keeps the graph when there are no rows."""
    num_rows = sum(len(image_labels) for image_labels in labels)
    if num_rows == 0:
        return torch.stack([image_logits.sum() for image_logits in logits]).sum() * 0.0
    total = sum(
        F.cross_entropy(image_logits, image_labels, reduction="sum")
        for image_logits, image_labels in zip(logits, labels)
    )
    return total / num_rows


@ROI_TRACK_HEAD_REGISTRY.register()
class TrackEmbeddingHead(nn.Module):
    """Flattened RoI features through FC layers (MaskTrack R-CNN's 2 x 1024) with a ReLU
    after each but the last, so embeddings may be negative and their dot products any real;
    or, with ``relu_after_last_fc`` (as mmtracking), after the last too.

    Weights start at ``N(0, 0.01^2)``, biases at 0: the initial match logits are then small,
    where a variance-preserving init makes them as large as the embedding width and the
    first cross-entropies huge.

    Args:
        input_shape: of the pooled RoI features.
        fc_dims: output width of each FC layer (at least one).
        relu_after_last_fc: see above.
    """

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, fc_dims: List[int], relu_after_last_fc: bool = False):
        super().__init__()
        self.relu_after_last_fc = relu_after_last_fc
        if not fc_dims:
            raise ValueError("TrackEmbeddingHead needs at least one FC layer (MODEL.TRACK_HEAD.NUM_FC >= 1)")
        in_dim = input_shape.channels * (input_shape.height or 1) * (input_shape.width or 1)
        self.fcs = nn.ModuleList()
        for out_dim in fc_dims:
            fc = nn.Linear(in_dim, out_dim)
            nn.init.normal_(fc.weight, std=0.01)
            nn.init.zeros_(fc.bias)
            self.fcs.append(fc)
            in_dim = out_dim
        self.output_size = in_dim

    @classmethod
    def from_config(cls, cfg, input_shape):
        head = cfg.MODEL.TRACK_HEAD
        return {
            "input_shape": input_shape,
            "fc_dims": [head.FC_DIM] * head.NUM_FC,
            "relu_after_last_fc": head.RELU_AFTER_LAST_FC,
        }

    def forward(self, roi_features: torch.Tensor) -> torch.Tensor:
        """``[R, C, S, S]`` -> ``[R, D]``."""
        x = roi_features.flatten(1)
        for index, fc in enumerate(self.fcs):
            x = fc(x)
            if index < len(self.fcs) - 1 or self.relu_after_last_fc:
                x = F.relu(x)
        return x


def build_track_head(cfg, input_shape: ShapeSpec) -> nn.Module:
    """The track embedding head named by ``cfg.MODEL.TRACK_HEAD.NAME``."""
    return ROI_TRACK_HEAD_REGISTRY.get(cfg.MODEL.TRACK_HEAD.NAME)(cfg, input_shape)

"""TSN's classification head: per-frame features -> one score vector per clip."""

import torch
from torch import nn

from ..layers.shapes import check_rank

__all__ = ["SegmentConsensusHead"]


class SegmentConsensusHead(nn.Module):
    """Average the features over space and over the ``T`` segments of each clip (TSN's
    average consensus), then dropout and one FC (``fc_cls``, mmaction2's name).

    Averaging before the FC equals averaging the segments' scores after it (the FC is
    linear), so the scores are TSN's averaged clip scores.

    Args:
        in_channels: ``C`` of the features.
        num_classes: ``K`` scores per clip.
        dropout: probability of zeroing a pooled feature in training.
        init_std: std of the FC weight's normal initialisation (bias 0).
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.5, init_std: float = 0.001):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.fc_cls.weight, std=init_std)
        nn.init.zeros_(self.fc_cls.bias)

    def forward(self, features: torch.Tensor, num_segments: int) -> torch.Tensor:
        """
        Args:
            features: ``[N*T, C, h, w]``, the ``T`` frames of each clip consecutive.
            num_segments: ``T``.

        Returns:
            ``[N, K]`` class scores (logits).
        """
        check_rank("features", features, 4, "[N*T, C, h, w]")
        if features.shape[0] % num_segments:
            raise ValueError(f"features have N*T={features.shape[0]} frames, not a multiple of T={num_segments}")
        pooled = features.mean(dim=(2, 3)).unflatten(0, (-1, num_segments))  # (N, T, C)
        return self.fc_cls(self.dropout(pooled.mean(dim=1)))

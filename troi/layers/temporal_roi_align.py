"""Temporal RoI Align: Most-Similar RoI Align followed by TAFA, streamed over support frames.

``TemporalRoIAlign(roi, support)`` equals ``TAFA(roi, most_similar_roi_align(roi, support))``
but never holds the ``[T, R, C, h, w]`` most similar features nor the full
``(R*h*w) x (T*H*W)`` similarity matrix. Algorithm, with ``M = R*h*w`` RoI cells:

1. Embed the target RoI features with ``psi`` (TAFA's 3x3 conv); target logits (eq. 6).
2. Pass over the support frames, one at a time (only ``[M, K]`` state is kept per frame):
   a. top-``K`` cosine-similar positions and their softmaxed scores for every cell, in
      chunks of at most ``similarity_chunk_size`` similarity entries (eq. 2-3);
   b. ``psi`` of the frame's most similar features without forming them: ``psi`` is
      linear, so ``psi(X_i)(m) = b + sum_o sum_k w_k(m+o) (W_o F_i)[p_k(m+o)]`` over the
      3x3 offsets ``o``. ``W_o F_i`` is computed once per support position (``H*W`` rows,
      not ``M``) and read with weighted gathers, a chunk of RoIs at a time, each chunk
      reduced at once to its logits.
3. Softmax over the ``T+1`` frames' logits (eq. 7; uniform weights when ``N == 0``).
4. Output: the target's weighted features plus, per frame, one weighted gather of the
   support features with weights ``attention * top-K softmax`` (eq. 4 and 8 fused).
"""
import itertools
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .most_similar_roi_align import (
    DEFAULT_SIMILARITY_CHUNK_SIZE,
    check_num_most_similar_points,
    gather_most_similar,
    most_similar_points,
)
from .shapes import check_channels, check_rank, cells_to_rois, rois_to_cells, similarity_dtype
from .temporal_attention import TemporalAttentionalFeatureAggregation, attention_logits

__all__ = ["TemporalRoIAlign"]


class TemporalRoIAlign(nn.Module):
    """Temporal RoI features of target-frame RoIs from their support frames.

    Args:
        channels: ``C``, the channels of RoI and support features.
        num_most_similar_points: ``K`` most similar points per RoI cell and support frame.
        num_attention_blocks: ``N`` TAFA blocks; 0 averages the ``T+1`` frames.
        similarity_chunk_size: at most this many similarity entries are held at once.
    """

    def __init__(self, channels: int, num_most_similar_points: int = 2, num_attention_blocks: int = 4,
                 similarity_chunk_size: int = DEFAULT_SIMILARITY_CHUNK_SIZE):
        super().__init__()
        if num_most_similar_points < 1:
            raise ValueError(f"num_most_similar_points K={num_most_similar_points} must be >= 1")
        if similarity_chunk_size < 1:
            raise ValueError(f"similarity_chunk_size={similarity_chunk_size} must be >= 1")
        self.channels = channels
        self.num_most_similar_points = num_most_similar_points
        self.similarity_chunk_size = similarity_chunk_size
        self.aggregation = TemporalAttentionalFeatureAggregation(channels, num_attention_blocks)

    @property
    def num_attention_blocks(self) -> int:
        return self.aggregation.num_blocks

    def forward(self, roi_feats: torch.Tensor, support_feats: torch.Tensor) -> torch.Tensor:
        """
        Args:
            roi_feats: ``[R, C, h, w]`` target-frame RoI features (from RoI Align).
            support_feats: ``[T, C, H, W]`` support-frame feature maps.

        Returns:
            ``[R, C, h, w]`` temporal RoI features; ``roi_feats`` itself when ``T == 0``.
        """
        check_rank("roi_feats", roi_feats, 4, "[R, C, h, w]")
        check_rank("support_feats", support_feats, 4, "[T, C, H, W]")
        check_channels("roi_feats", roi_feats, self.channels)
        check_channels("support_feats", support_feats, self.channels)
        check_num_most_similar_points(self.num_most_similar_points, support_feats)
        if support_feats.shape[0] == 0:
            return roi_feats
        num_rois, _, height, width = roi_feats.shape
        support_feats = support_feats.to(roi_feats.dtype)
        target_cells = rois_to_cells(roi_feats)  # (M, C)
        logits, matches = self._match_support_frames(roi_feats, target_cells, support_feats)
        attention = self._attention(logits, len(matches) + 1, target_cells)  # (T+1, M, N')
        cells = self._aggregate(target_cells, support_feats, matches, attention)  # (M, C)
        return cells_to_rois(cells.to(roi_feats.dtype), num_rois, height, width)

    def _match_support_frames(self, roi_feats, target_cells, support_feats):
        """Step 1-2: per support frame, the top-K (weights, indices) ``[M, K]`` of every cell,
        and the TAFA logits ``[M, N]`` of the target and of every frame (none when N == 0)."""
        target_embeds = None
        logits = []
        if self.num_attention_blocks > 0:
            target_embeds = rois_to_cells(self.aggregation.embed(roi_feats))  # (M, C)
            logits.append(attention_logits(target_embeds, target_embeds, self.num_attention_blocks, 1))
        matches: List[Tuple[torch.Tensor, torch.Tensor]] = []
        for support_frame in support_feats:
            weights, indices = most_similar_points(
                target_cells, support_frame, self.num_most_similar_points, self.similarity_chunk_size
            )
            matches.append((weights, indices))
            if target_embeds is not None:
                logits.append(self._most_similar_logits(support_frame, weights, indices, target_embeds,
                                                        roi_feats.shape))
        return logits, matches

    def _most_similar_logits(self, support_frame, weights, indices, target_embeds, roi_shape):
        """Eq. 6 for one support frame, embedding its most similar features without forming them.

        Args:
            support_frame: ``[C, H, W]``; weights, indices: ``[M, K]``, top-K of every cell.
            target_embeds: ``[M, C]`` the target's embedded cells.
            roi_shape: ``(R, C, h, w)``.

        Returns:
            ``[M, N]`` logits, computed for a chunk of RoIs at a time.
        """
        conv = self.aggregation.embed
        num_rois, _, height, width = roi_shape
        kernel_h, kernel_w = conv.kernel_size
        pad_h, pad_w = conv.padding
        offsets = kernel_h * kernel_w
        # (W_o F)(p) for every kernel offset o and support position p, at row p*offsets + o.
        kernel_rows = conv.weight.permute(2, 3, 0, 1).reshape(offsets * self.channels, self.channels)
        projections = (support_frame.flatten(1).t() @ kernel_rows.t()).view(-1, self.channels)  # (H*W*9, C)
        # The conv input's zero padding: cells outside the RoI grid get weight 0.
        padding = (0, 0, pad_w, pad_w, pad_h, pad_h)
        grid_shape = (num_rois, height, width, self.num_most_similar_points)
        grid_indices = F.pad(indices.view(grid_shape), padding)  # (R, h+2, w+2, K)
        grid_weights = F.pad(weights.view(grid_shape), padding)
        rois_per_chunk = max(1, self.similarity_chunk_size // (height * width * self.channels))
        logits = []
        for start in range(0, num_rois, rois_per_chunk):
            chunk = slice(start, start + rois_per_chunk)
            bag_indices, bag_weights = [], []
            for offset, (dy, dx) in enumerate(itertools.product(range(kernel_h), range(kernel_w))):
                bag_indices.append(grid_indices[chunk, dy:dy + height, dx:dx + width] * offsets + offset)
                bag_weights.append(grid_weights[chunk, dy:dy + height, dx:dx + width])
            bag_indices = torch.cat(bag_indices, dim=3).flatten(0, 2)  # (r*h*w, 9*K)
            bag_weights = torch.cat(bag_weights, dim=3).flatten(0, 2)
            embeds = gather_most_similar(projections, bag_indices, bag_weights) + conv.bias  # (r*h*w, C)
            cells = slice(start * height * width, (start + rois_per_chunk) * height * width)
            logits.append(attention_logits(embeds, target_embeds[cells], self.num_attention_blocks, 1))
        return torch.cat(logits) if logits else target_embeds.new_zeros((0, self.num_attention_blocks))

    def _attention(self, logits, num_frames, target_cells):
        """Step 3: ``[T+1, M, N']`` weights over the frames (eq. 7); uniform, ``N' = 1``,
        when ``N == 0``."""
        if not logits:
            dtype = similarity_dtype(target_cells.dtype)
            return target_cells.new_full((num_frames, target_cells.shape[0], 1), 1.0 / num_frames, dtype=dtype)
        return torch.stack(logits).softmax(dim=0)

    def _aggregate(self, target_cells, support_feats, matches, attention):
        """Step 4: ``sum_i attention_i * X_i`` (eq. 8), each ``X_i`` gathered on the fly (eq. 4).

        Returns:
            ``[M, C]`` aggregated cells, accumulated in the attention's dtype (>= float32).
        """
        num_cells, channels = target_cells.shape
        blocks = attention.shape[2]
        block_offsets = torch.arange(blocks, device=target_cells.device).view(1, blocks, 1)
        grouped_target = target_cells.unflatten(1, (blocks, -1))  # (M, N', C/N')
        aggregated = (attention[0].unsqueeze(2) * grouped_target).flatten(1)
        for frame, (support_frame, (weights, indices)) in enumerate(zip(support_feats, matches), start=1):
            # Gather rows: (position p, block n) of the frame; bags: (cell m, block n).
            block_rows = support_frame.flatten(1).t().reshape(-1, channels // blocks)  # (H*W*N', C/N')
            bag_indices = indices.unsqueeze(1) * blocks + block_offsets  # (M, N', K)
            bag_weights = weights.unsqueeze(1) * attention[frame].unsqueeze(2)  # (M, N', K)
            gathered = gather_most_similar(block_rows, bag_indices.flatten(0, 1), bag_weights.flatten(0, 1))
            aggregated = aggregated + gathered.view(num_cells, channels).to(aggregated.dtype)
        return aggregated

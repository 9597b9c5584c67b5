"""Temporal Adaptive Module, TAM (Liu et al., "TAM: Temporal Adaptive Module for Video
Recognition", ICCV 2021).

TAM turns the per-frame features of a clip of ``T`` segments into temporally aggregated
features of the same shape. Its temporal kernel is learnt from the clip itself, in two
branches that both read each channel's spatially average-pooled temporal signal
``s = [N*C, T]``:

1. **local branch** ``L`` (location-sensitive importance map): Conv1d over time (``C ->
   C/beta``, kernel 3, padding 1) + BN + ReLU + Conv1d (``C/beta -> C``, kernel 1) +
   sigmoid gives one weight per video, channel and frame, ``[N, C, T]``; the features are
   multiplied by it frame by frame;
2. **global branch** ``G`` (location-invariant aggregation kernel): Linear (``T -> alpha*T``)
   + BN + ReLU + Linear (``alpha*T -> K``) + softmax gives one ``K``-tap temporal kernel per
   video and channel, ``[N, C, K]``, shared by every frame and position;
3. **temporal adaptive aggregation**: the re-weighted features are convolved over time
   with that kernel (depthwise, stride 1, zero padding ``K // 2``), a cross-correlation as
   ``torch.nn.functional.conv2d`` computes it: ``y[t] = sum_k kernel[k] * x'[t + k - K//2]``.

No layer has a bias. Submodule and parameter names are the reference implementations'
(the authors' and mmaction2 0.24's ``TAM``: ``G.0``, ``G.1``, ``G.3``, ``L.0``, ``L.1``,
``L.3``), whose layers also keep PyTorch's default initialisation.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .shapes import check_channels, check_rank

__all__ = ["TemporalAdaptiveModule"]

LOCAL_KERNEL_SIZE = 3  # the local branch's first Conv1d (paper and reference: 3)


class TemporalAdaptiveModule(nn.Module):
    """TAM over ``[N*T, C, H, W]`` features (frames of each clip consecutive).

    Args:
        channels: ``C``, the feature channels.
        num_segments: ``T``, frames per clip.
        alpha: the global branch's hidden width is ``alpha * T``.
        beta: the local branch's hidden width is ``C // beta`` (at least 1).
        adaptive_kernel_size: ``K`` taps of the learnt temporal kernel (odd, so that
            padding ``K // 2`` keeps the ``T`` frames).
    """

    def __init__(self, channels: int, num_segments: int, alpha: int = 2, beta: int = 4, adaptive_kernel_size: int = 3):
        super().__init__()
        if num_segments < 1:
            raise ValueError(f"TAM num_segments T={num_segments} must be >= 1")
        if alpha < 1:
            raise ValueError(f"TAM alpha={alpha} must be >= 1")
        if beta < 1 or channels // beta < 1:
            raise ValueError(f"TAM beta={beta} must be in [1, channels C={channels}] (hidden width C // beta)")
        if adaptive_kernel_size < 1 or adaptive_kernel_size % 2 == 0:
            raise ValueError(f"TAM adaptive_kernel_size K={adaptive_kernel_size} must be odd and >= 1")
        self.channels = channels
        self.num_segments = num_segments
        self.adaptive_kernel_size = adaptive_kernel_size
        self.G = nn.Sequential(
            nn.Linear(num_segments, num_segments * alpha, bias=False),
            nn.BatchNorm1d(num_segments * alpha),
            nn.ReLU(inplace=True),
            nn.Linear(num_segments * alpha, adaptive_kernel_size, bias=False),
            nn.Softmax(dim=-1),
        )
        self.L = nn.Sequential(
            nn.Conv1d(channels, channels // beta, LOCAL_KERNEL_SIZE, padding=LOCAL_KERNEL_SIZE // 2, bias=False),
            nn.BatchNorm1d(channels // beta),
            nn.ReLU(inplace=True),
            nn.Conv1d(channels // beta, channels, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: ``[N*T, C, H, W]`` features, the ``T`` frames of each clip consecutive.

        Returns:
            ``[N*T, C, H, W]`` temporally aggregated features.
        """
        check_rank("x", x, 4, "[N*T, C, H, W]")
        check_channels("x", x, self.channels)
        num_frames, channels, height, width = x.shape
        segments, taps = self.num_segments, self.adaptive_kernel_size
        if num_frames % segments:
            raise ValueError(f"x has N*T={num_frames} frames, not a multiple of num_segments T={segments}")
        num_clips = num_frames // segments
        clips = x.view(num_clips, segments, channels, height, width)  # (N, T, C, H, W)
        signal = clips.mean(dim=(3, 4)).transpose(1, 2)  # (N, C, T)
        kernels = self.G(signal.reshape(num_clips * channels, segments)).view(num_clips, 1, channels, taps)
        importance = self.L(signal).transpose(1, 2)  # (N, T, C)
        reweighted = clips * importance[..., None, None]  # (N, T, C, H, W)
        padded = F.pad(reweighted, (0, 0, 0, 0, 0, 0, taps // 2, taps // 2))  # (N, T+K-1, C, H, W)
        aggregated = kernels[..., 0, None, None] * padded[:, :segments]
        for tap in range(1, taps):
            aggregated = aggregated + kernels[..., tap, None, None] * padded[:, tap : tap + segments]
        return aggregated.view(num_frames, channels, height, width)

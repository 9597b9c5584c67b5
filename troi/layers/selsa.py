"""SELSA: sequence level semantics aggregation of proposal features (Wu et al., ICCV 2019).

Each key proposal attends over the reference proposals of the whole sequence with
multi-head attention: per head (a group of ``C/heads`` channels) the scaled dot product
of the embedded key with the embedded references, a softmax over the references, and
the weighted sum of the transformed references, then one output projection.
"""

import math

import torch
from torch import nn

from .shapes import check_channels, check_finite, check_rank, compute_dtype, similarity_dtype

__all__ = ["SelsaAggregator"]


class SelsaAggregator(nn.Module):
    """Multi-head attention of key proposal features over reference proposal features.

    Child names match the public reference implementation's state dict
    (``fc_embed``, ``ref_fc_embed``, ``fc``, ``ref_fc``), so its checkpoints load as is.

    Args:
        in_channels: ``C``, the proposal feature size.
        num_attention_blocks: the number of heads; must divide ``C``.
    """

    def __init__(self, in_channels: int, num_attention_blocks: int = 16):
        super().__init__()
        if num_attention_blocks < 1 or in_channels % num_attention_blocks != 0:
            raise ValueError(
                f"in_channels C={in_channels} must be divisible by num_attention_blocks={num_attention_blocks} (>= 1)"
            )
        self.in_channels = in_channels
        self.num_attention_blocks = num_attention_blocks
        self.fc_embed = nn.Linear(in_channels, in_channels)  # key embedding
        self.ref_fc_embed = nn.Linear(in_channels, in_channels)  # reference embedding
        self.ref_fc = nn.Linear(in_channels, in_channels)  # reference values
        self.fc = nn.Linear(in_channels, in_channels)  # output projection

    def forward(self, x: torch.Tensor, ref_x: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: ``[N, C]`` key proposal features.
            ref_x: ``[M, C]`` reference proposal features (may include the keys).

        Returns:
            ``[N, C]`` aggregated features, in ``x``'s dtype (computed in the module's, see
            :func:`compute_dtype`). With ``M == 0`` the attention sum is empty, so the result
            is ``fc(0)``: the output projection's bias.

        Raises:
            FloatingPointError: ``x`` or ``ref_x`` holds NaN or inf (one such reference
                would make every key's output NaN).
        """
        check_rank("x", x, 2, "[N, C]")
        check_rank("ref_x", ref_x, 2, "[M, C]")
        check_channels("x", x, self.in_channels)
        check_channels("ref_x", ref_x, self.in_channels)
        check_finite("the SELSA key proposal features x", x)
        check_finite("the SELSA reference proposal features ref_x", ref_x)
        input_dtype = x.dtype
        x, ref_x = x.to(compute_dtype(self, x)), ref_x.to(compute_dtype(self, x))
        heads = self.num_attention_blocks
        head_channels = self.in_channels // heads
        keys = self.fc_embed(x).view(-1, heads, head_channels).transpose(0, 1)  # (heads, N, C/heads)
        refs = self.ref_fc_embed(ref_x).view(-1, heads, head_channels).permute(1, 2, 0)  # (heads, C/heads, M)
        values = self.ref_fc(ref_x).view(-1, heads, head_channels).transpose(0, 1)  # (heads, M, C/heads)
        with torch.autocast(x.device.type, enabled=False):
            dtype = similarity_dtype(keys.dtype)
            logits = torch.bmm(keys.to(dtype), refs.to(dtype)) / math.sqrt(head_channels)  # (heads, N, M)
            weights = logits.softmax(dim=2)
            aggregated = torch.bmm(weights, values.to(dtype))  # (heads, N, C/heads)
        aggregated = aggregated.to(x.dtype).transpose(0, 1).reshape(-1, self.in_channels)  # (N, C)
        return self.fc(aggregated).to(input_dtype)

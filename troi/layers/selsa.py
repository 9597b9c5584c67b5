"""SELSA: sequence level semantics aggregation of proposal features (Wu et al., ICCV 2019).

Each key proposal attends over the reference proposals of the whole sequence with
multi-head attention: per head (a group of ``C/heads`` channels) the scaled dot product
of the embedded key with the embedded references, a softmax over the references, and
the weighted sum of the transformed references, then one output projection.
"""

import math
from dataclasses import dataclass
from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .shapes import check_channels, check_finite, check_rank, compute_dtype, similarity_dtype

__all__ = ["SelsaAggregator", "SelsaReferenceProjections"]


@dataclass
class SelsaReferenceProjections:
    """What a :class:`SelsaAggregator` derives from reference proposals alone
    (:meth:`SelsaAggregator.project`), for any keys: rows are references, so the projections
    of several frames' references concatenate and split as the references do.

    Attributes:
        embeds: ``[M, C]`` the embedded references (``ref_fc_embed``).
        values: ``[M, C]`` the transformed references (``ref_fc``).
    """

    embeds: torch.Tensor
    values: torch.Tensor

    def __len__(self) -> int:
        return len(self.embeds)

    @staticmethod
    def cat(projections: Sequence["SelsaReferenceProjections"]) -> "SelsaReferenceProjections":
        """The projections of all of ``projections``' references, in order (at least one)."""
        return SelsaReferenceProjections(
            torch.cat([p.embeds for p in projections]), torch.cat([p.values for p in projections])
        )

    def split(self, sizes: List[int]) -> List["SelsaReferenceProjections"]:
        """Consecutive groups of ``sizes`` references."""
        return [
            SelsaReferenceProjections(embeds, values)
            for embeds, values in zip(self.embeds.split(sizes), self.values.split(sizes))
        ]


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
            :func:`compute_dtype`): :meth:`attend` of :meth:`project`. With ``M == 0`` the
            attention sum is empty, so the result is ``fc(0)``: the output projection's bias.

        Raises:
            FloatingPointError: ``x`` or ``ref_x`` holds NaN or inf (one such reference
                would make every key's output NaN).
        """
        return self.attend(x, self.project(ref_x))

    def project(self, ref_x: torch.Tensor) -> SelsaReferenceProjections:
        """``[M, C]`` reference proposal features -> their :class:`SelsaReferenceProjections`
        (in the module's dtype): what :meth:`attend` needs of them, computed once for every
        key set they serve (e.g. a support frame's proposals for all its target frames).

        Raises:
            FloatingPointError: ``ref_x`` holds NaN or inf.
        """
        check_rank("ref_x", ref_x, 2, "[M, C]")
        check_channels("ref_x", ref_x, self.in_channels)
        check_finite("the SELSA reference proposal features ref_x", ref_x)
        ref_x = ref_x.to(compute_dtype(self, ref_x))
        return SelsaReferenceProjections(self.ref_fc_embed(ref_x), self.ref_fc(ref_x))

    def attend(self, x: torch.Tensor, references: SelsaReferenceProjections) -> torch.Tensor:
        """:meth:`forward` of keys ``x`` ``[N, C]`` over references given by their
        :meth:`project`."""
        check_rank("x", x, 2, "[N, C]")
        check_channels("x", x, self.in_channels)
        check_finite("the SELSA key proposal features x", x)
        input_dtype = x.dtype
        x = x.to(compute_dtype(self, x))
        heads = self.num_attention_blocks
        head_channels = self.in_channels // heads
        keys = self.fc_embed(x).view(-1, heads, head_channels).transpose(0, 1)  # (heads, N, C/heads)
        refs = references.embeds.view(-1, heads, head_channels).transpose(0, 1)  # (heads, M, C/heads)
        values = references.values.view(-1, heads, head_channels).transpose(0, 1)  # (heads, M, C/heads)
        with torch.autocast(x.device.type, enabled=False):
            dtype = similarity_dtype(keys.dtype)
            # softmax(keys refs^T / sqrt(C/heads)) values, a block of references at a time,
            # without the (heads, N, M) weights: 0.5x the time of the products and the softmax
            # on 2 CPU threads at N=300, M=4500 (2026-12-02); no references: zeros
            aggregated = F.scaled_dot_product_attention(
                keys.to(dtype), refs.to(dtype), values.to(dtype), scale=1 / math.sqrt(head_channels)
            )  # (heads, N, C/heads)
        aggregated = aggregated.to(x.dtype).transpose(0, 1).reshape(-1, self.in_channels)  # (N, C)
        return self.fc(aggregated).to(input_dtype)

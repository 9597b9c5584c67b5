"""Temporal RoI Align: Most-Similar RoI Align followed by TAFA, streamed over support frames.

``TemporalRoIAlign(roi, support)`` equals ``TAFA(roi, most_similar_roi_align(roi, support))``
(:func:`.most_similar_roi_align` and :class:`.TemporalAttentionalFeatureAggregation`: the
materialised reference of eq. 2-8, kept for the tests, not used in production) but never
holds the ``[T, R, C, h, w]`` most similar features nor the full ``(R*h*w) x (T*H*W)``
similarity matrix. Algorithm, with ``M = R*h*w`` RoI cells:

1. Embed the target RoI features with ``psi`` (TAFA's 3x3 conv); target logits (eq. 6).
2. Pass over the support frames, one at a time (only ``[M, K]`` state is kept per frame):
   a. top-``K`` cosine-similar positions and their softmaxed scores for every cell, in
      chunks of at most ``similarity_chunk_size`` similarity entries (eq. 2-3): a few
      candidates from a float32 product, re-scored and ranked as float64 ranks them
      (:func:`.most_similar_unit_points`); with ``similarity_precision``
      "bfloat16"/"float16" on fast hardware, candidates from that product
      (:mod:`.low_precision_search`); given the cells' RoI Align sampling (as
      :class:`~troi.modeling.TemporalROIPooler` gives it), candidates from the product of
      the target map's positions instead (:mod:`.roi_cell_sampling`);
   b. ``psi`` of the frame's most similar features without forming them: ``psi`` is
      linear, so ``psi(X_i)(m) = b + sum_o sum_k w_k(m+o) (W_o F_i)[p_k(m+o)]`` over the
      3x3 offsets ``o``. ``W_o F_i`` is computed once per support position (``H*W`` rows,
      not ``M``) and read with weighted gathers, a chunk of RoIs at a time, each chunk
      reduced at once to its logits.
3. Softmax over the ``T+1`` frames' logits (eq. 7; uniform weights when ``N == 0``).
4. Output: the target's weighted features plus, per frame, one weighted gather of the
   support features with weights ``attention * top-K softmax`` (eq. 4 and 8 fused).

What step 2 needs of a support frame alone (its normalised map, its projections ``W_o F_i``)
is the frame's :class:`SupportEncoding`. ``forward`` encodes raw support features on the
fly, a frame at a time, or takes encodings made once by :meth:`TemporalRoIAlign.encode_support`
and reused for every target frame of a video. :meth:`TemporalRoIAlign.similar_points`
returns the points and attention weights ``forward`` uses (the paper's Fig. 6).
"""

import itertools
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .most_similar_roi_align import (
    DEFAULT_SIMILARITY_CHUNK_SIZE,
    check_num_most_similar_points,
    gather_most_similar,
    most_similar_unit_points,
    normalize_cells,
    normalize_support,
)
from .low_precision_search import check_similarity_precision, search_dtype
from .roi_cell_sampling import RoICellSampling
from .shapes import (
    check_channels,
    check_finite,
    check_rank,
    cells_to_rois,
    compute_dtype,
    positions_last,
    rois_to_cells,
    similarity_dtype,
)
from .temporal_attention import attention_embedding, attention_logits, frame_weights

__all__ = ["SimilarPoints", "SupportEncoding", "TemporalRoIAlign"]


@dataclass
class SupportEncoding:
    """What Temporal RoI Align derives from one support frame alone, for any target RoIs.

    Attributes:
        features: ``[C, H, W]`` the frame's features ``F_i``.
        normalized: ``[C, H, W]`` ``F_i`` with unit-length channel vectors (eq. 2), >= float32,
            positions last in memory (the rows the search re-scores).
        projections: ``[H*W*9, C]``: ``(W_o F_i)(p)`` at row ``p*9 + o`` for each offset ``o``
            of TAFA's 3x3 embedding (step 2b); None when ``N == 0``.
        weights_key: which operator and weights made ``projections`` (None when ``N == 0``:
            then nothing in the encoding depends on weights).
    """

    features: torch.Tensor
    normalized: torch.Tensor
    projections: Optional[torch.Tensor]
    weights_key: Optional[tuple] = None


@dataclass
class SimilarPoints:
    """The most similar points and frame weights of ``M = R*h*w`` RoI cells (RoI-major).

    Attributes:
        weights: ``[T, M, K]`` softmaxed similarities of each cell's top-K points (eq. 3).
        indices: ``[T, M, K]`` their positions in each support frame's ``H*W`` grid (row-major).
        attention: ``[T+1, M, N']`` TAFA weights of the target (first) and support frames per
            cell and block (eq. 7); uniform with ``N' = 1`` when ``N == 0``.
    """

    weights: torch.Tensor
    indices: torch.Tensor
    attention: torch.Tensor


# A ``[T, C, H, W]`` tensor of support feature maps, or the T frames' encodings.
SupportInput = Union[torch.Tensor, Sequence[SupportEncoding]]


def _concatenates(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether chunked results are concatenated rather than written into one result: under
    autograd, where each chunk written into a slice would cost its backward a copy and a
    zeroing of the whole result's gradient (``CopySlices``)."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


class TemporalRoIAlign(nn.Module):
    """Temporal RoI features of target-frame RoIs from their support frames.

    Args:
        channels: ``C``, the channels of RoI and support features.
        num_most_similar_points: ``K`` most similar points per RoI cell and support frame.
        num_attention_blocks: ``N`` TAFA blocks; 0 averages the ``T+1`` frames.
        similarity_chunk_size: at most this many similarity entries are held at once.
        similarity_precision: "exact" (float32), or "bfloat16" / "float16" to search the most
            similar points' candidates in that precision (re-scored as the exact ones are) where the
            device multiplies it fast (:mod:`.low_precision_search`; else exact, logged once).
    """

    def __init__(
        self,
        channels: int,
        num_most_similar_points: int = 2,
        num_attention_blocks: int = 4,
        similarity_chunk_size: int = DEFAULT_SIMILARITY_CHUNK_SIZE,
        similarity_precision: str = "exact",
    ):
        super().__init__()
        check_similarity_precision(similarity_precision, "similarity_precision")
        if num_most_similar_points < 1:
            raise ValueError(f"num_most_similar_points K={num_most_similar_points} must be >= 1")
        if similarity_chunk_size < 1:
            raise ValueError(f"similarity_chunk_size={similarity_chunk_size} must be >= 1")
        self.channels = channels
        self.num_most_similar_points = num_most_similar_points
        self.similarity_chunk_size = similarity_chunk_size
        self.similarity_precision = similarity_precision
        self.num_attention_blocks = num_attention_blocks
        self.embed = attention_embedding(channels, num_attention_blocks)  # TAFA's psi (eq. 6)

    def forward(
        self, roi_feats: torch.Tensor, support_feats: SupportInput, cell_sampling: Optional[RoICellSampling] = None
    ) -> torch.Tensor:
        """
        Args:
            roi_feats: ``[R, C, h, w]`` target-frame RoI features (from RoI Align).
            support_feats: ``[T, C, H, W]`` support-frame feature maps, or those frames'
                :class:`SupportEncoding` (:meth:`encode_support`).
            cell_sampling: how RoI Align sampled ``roi_feats``' cells from the target map
                (:func:`.roi_align_sampling`), or None. Given, the search runs through it
                where that is cheaper (:mod:`.roi_cell_sampling`): the same points, except
                where float32 rounding keeps a point out of its candidates.

        Returns:
            ``[R, C, h, w]`` temporal RoI features, in ``roi_feats``' dtype (computed in the
            operator's, see :func:`compute_dtype`); ``roi_feats`` itself when ``T == 0``.

        Raises:
            FloatingPointError: a support frame (or the RoI features) holds NaN or inf.
        """
        input_dtype = roi_feats.dtype
        roi_feats = roi_feats.to(compute_dtype(self, roi_feats))
        frames = self._checked_support(roi_feats, support_feats)
        if not len(frames):
            return roi_feats.to(input_dtype)
        num_rois, _, height, width = roi_feats.shape
        matches, attention, support_rows = self._match(roi_feats, frames, cell_sampling)
        if support_rows is None:
            support_rows = self._support_rows(frames)
        cells = self._aggregate(roi_feats, frames, support_rows, matches, attention)  # (M, C)
        return cells_to_rois(cells.to(input_dtype), num_rois, height, width)

    def similar_points(
        self, roi_feats: torch.Tensor, support_feats: SupportInput, cell_sampling: Optional[RoICellSampling] = None
    ) -> SimilarPoints:
        """The top-K points and frame weights :meth:`forward` uses for ``roi_feats``
        (arguments as :meth:`forward`), without aggregating features."""
        roi_feats = roi_feats.to(compute_dtype(self, roi_feats))
        frames = self._checked_support(roi_feats, support_feats)
        matches, attention, _ = self._match(roi_feats, frames, cell_sampling)
        shape = (len(matches), attention.shape[1], self.num_most_similar_points)
        weights = torch.stack([w for w, _ in matches]) if matches else attention.new_zeros(shape)
        indices = torch.stack([i for _, i in matches]) if matches else attention.new_zeros(shape, dtype=torch.long)
        return SimilarPoints(weights, indices, attention)

    def encode_support(self, support_frame: torch.Tensor) -> SupportEncoding:
        """``[C, H, W]`` one support frame's features -> its :class:`SupportEncoding`.

        Differentiable. It depends on the embedding's weights: it is valid only while they
        stay as they were (inference); :meth:`forward` rejects it otherwise.

        Raises:
            FloatingPointError: the frame holds NaN or inf.
        """
        check_rank("support_frame", support_frame, 3, "[C, H, W]")
        check_channels("support_frame", support_frame, self.channels, dim=0)
        check_finite("a support frame", support_frame)
        support_frame = support_frame.to(compute_dtype(self, support_frame))
        projections = self._projections(support_frame) if self.num_attention_blocks > 0 else None
        # The search's rows made once per frame, not once per target frame (a transposing copy:
        # 1.2-3.7 ms at 512 x 38 x 50); a float32 product with the columns transposed runs as
        # fast (2 Intel Xeon threads, 2026-12-03). The features stay the caller's (a view of
        # the cached backbone features): positions last they would be a copy, 4 MB a frame.
        normalized = positions_last(normalize_support(support_frame))
        return SupportEncoding(support_frame, normalized, projections, self._weights_key())

    def _projections(self, support_frame):
        """``[C, H, W]`` -> ``[H*W*9, C]``: ``(W_o F_i)(p)`` at row ``p*9 + o`` (step 2b)."""
        # rows (o, c_out) of the 3x3 kernel: (9*C, C)
        kernel_rows = self.embed.weight.permute(2, 3, 0, 1).reshape(-1, self.channels)
        return (support_frame.flatten(1).t() @ kernel_rows.t()).view(-1, self.channels)

    def _weights_key(self) -> Optional[tuple]:
        """Identifies this operator and the current values of its embedding (in-place
        updates, e.g. an optimizer step or ``load_state_dict``, change it); None when
        ``N == 0``."""
        if self.num_attention_blocks == 0:
            return None
        conv = self.embed
        return (id(self),) + tuple((p.data_ptr(), p._version) for p in (conv.weight, conv.bias))

    def _checked_support(self, roi_feats, support_feats):
        """Validate the inputs; the support frames as a ``[T, C, H, W]`` tensor of
        ``roi_feats``' dtype or a list of encodings."""
        check_rank("roi_feats", roi_feats, 4, "[R, C, h, w]")
        check_channels("roi_feats", roi_feats, self.channels)
        check_finite("roi_feats", roi_feats)
        if isinstance(support_feats, torch.Tensor):
            check_rank("support_feats", support_feats, 4, "[T, C, H, W]")
            check_channels("support_feats", support_feats, self.channels)
            check_num_most_similar_points(self.num_most_similar_points, support_feats)
            for index, frame in enumerate(support_feats):
                check_finite(f"support frame {index} of {len(support_feats)}", frame)
            return support_feats.to(roi_feats.dtype)
        for encoding in support_feats:
            check_channels("support_feats", encoding.features, self.channels, dim=0)
            check_num_most_similar_points(self.num_most_similar_points, encoding.features)
            if (encoding.projections is None) != (self.num_attention_blocks == 0):
                raise ValueError(
                    "a SupportEncoding must come from this operator's encode_support "
                    f"(projections {'missing' if encoding.projections is None else 'unexpected'})"
                )
            if encoding.weights_key != self._weights_key():
                raise ValueError(
                    "a SupportEncoding must come from this operator's encode_support with its current "
                    "weights: it was made by another operator, or before these weights changed"
                )
        return list(support_feats)

    @staticmethod
    def _support_rows(frames) -> Optional[torch.Tensor]:
        """``[T*H*W, C]`` the rows (one per position, channels last) of support frames given
        as a ``[T, C, H, W]`` tensor, copied once for all the steps that gather from them;
        None for encodings (:meth:`_frame_rows` gives each one's when it is needed)."""
        if not isinstance(frames, torch.Tensor):
            return None
        return frames.permute(0, 2, 3, 1).reshape(-1, frames.shape[1])

    @staticmethod
    def _frame_rows(frames, support_rows, index: int, dtype) -> torch.Tensor:
        """``[H*W, C]`` support frame ``index``'s rows: a view of ``support_rows``, or, for an
        encoding, its features' (a copy unless they are positions last in memory)."""
        frame = frames[index]
        if support_rows is not None:
            positions = frame.shape[1] * frame.shape[2]
            return support_rows[index * positions : (index + 1) * positions]
        return frame.features.to(dtype).flatten(1).t()

    def _match(self, roi_feats, frames, cell_sampling):
        """Steps 1-3: per frame the top-K ``(weights, indices)`` ``[M, K]`` of every cell, the
        ``[T+1, M, N']`` attention over the frames, and the :meth:`_support_rows` it made
        (after the search, which does not need them), or None."""
        logits, matches, support_rows = self._match_support_frames(roi_feats, frames, cell_sampling)
        return matches, self._attention(logits, len(matches) + 1, roi_feats), support_rows

    def _match_support_frames(self, roi_feats, frames, cell_sampling):
        """Step 1-2: per support frame, the top-K (weights, indices) ``[M, K]`` of every cell,
        and the TAFA logits ``[M, N]`` of the target and of every frame (none when N == 0),
        and the :meth:`_support_rows` the target side made (else None). Raw frames are
        encoded one at a time; besides them only the unit cells and (unless the target side
        embeds them a chunk at a time, after the pass) the target embeddings (``[M, C]``
        each) are held during the pass."""
        target_embeds = support_rows = None
        logits = []
        target_side = self.num_attention_blocks > 0 and self._embeds_target_side(roi_feats, frames)
        if self.num_attention_blocks > 0 and not target_side:
            target_embeds = self._embed_target(roi_feats)  # (M, C)
            logits.append(attention_logits(target_embeds, target_embeds, self.num_attention_blocks, 1))
            # psi's bias term of every frame's logits, <b_n, e_n(m)>: once, not per frame
            bias_logits = attention_logits(self.embed.bias.view(1, -1), target_embeds, self.num_attention_blocks, 1)
        matches: List[Tuple[torch.Tensor, torch.Tensor]] = []
        if not len(frames):
            return logits, matches, support_rows
        unit_cells = self._unit_cells(roi_feats)  # (M, C), once for all frames
        precision = search_dtype(self.similarity_precision, unit_cells.device)
        for frame in frames:
            encoded = isinstance(frame, SupportEncoding)
            normalized = frame.normalized if encoded else normalize_support(frame)
            weights, indices = most_similar_unit_points(
                unit_cells,
                normalized,
                self.num_most_similar_points,
                self.similarity_chunk_size,
                precision,
                cell_sampling,
            )
            matches.append((weights, indices))
            if target_embeds is not None:
                projections = frame.projections if encoded else self._projections(frame)
                logits.append(
                    self._most_similar_logits(
                        projections, weights, indices, target_embeds, bias_logits, roi_feats.shape
                    )
                )
            del normalized  # a raw frame's normalised map goes before the next one is made
        del unit_cells
        if target_side:
            support_rows = self._support_rows(frames)
            logits += self._target_side_logits(roi_feats, frames.shape, support_rows, matches)
        return logits, matches, support_rows

    def _embeds_target_side(self, roi_feats, frames) -> bool:
        """Whether step 2b projects the target side (:meth:`_target_side_logits`) rather than
        the support frames: for raw frames (at least one) without autograd, when it takes fewer
        multiply-adds (``M*9*C*(C + N*T)`` against ``T*H*W*9*C*C``). Under autograd its
        backward would keep ``[M, 9*N, C]`` products (1 GB at 300 RoIs); encodings already
        hold their projections."""
        if not isinstance(frames, torch.Tensor) or not len(frames):
            return False
        tensors = (roi_feats, frames, self.embed.weight, self.embed.bias)
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return False
        num_frames, channels, height, width = frames.shape
        cells = roi_feats.shape[0] * roi_feats.shape[2] * roi_feats.shape[3]
        return cells * (channels + self.num_attention_blocks * num_frames) < num_frames * height * width * channels

    def _target_side_logits(self, roi_feats, frames_shape, support_rows, matches):
        """Eq. 6 for the target and all support frames, with the embedding's weights moved to
        the target side.

        The logit of frame ``i``, block ``n``, cell ``m`` is ``(<b_n, e_n(m)> + sum_o <G_o^n(m),
        X_i(m+o)>) / sqrt(C/N)`` with ``e = psi(X_t)``, the most similar features ``X_i``
        (eq. 4) and ``G_o^n(m) = W_o^{n T} e_n(m)`` (``W_o^n``: the output rows of block ``n``
        at 3x3 offset ``o``). A chunk of RoIs at a time: ``e`` (and the target's own logits),
        ``G`` for all frames, shifted to the cell ``m+o`` it meets, in workspaces made once
        for all chunks (no chunk allocates a large tensor anew: the heap stays as it was).

        Args:
            roi_feats: ``[R, C, h, w]`` the target RoI features.
            frames_shape: ``(T, C, H, W)`` of the raw support frames.
            support_rows: ``[T*H*W, C]`` their rows (:meth:`_support_rows`).
            matches: per frame, ``(weights, indices)`` ``[M, K]``.

        Returns:
            ``[M, N]`` logits of the target, then of each support frame.
        """
        conv = self.embed
        num_rois, channels, height, width = roi_feats.shape
        num_frames, _, support_h, support_w = frames_shape
        blocks = self.num_attention_blocks
        block_channels = channels // blocks
        kernel_h, kernel_w = conv.kernel_size
        pad_h, pad_w = conv.padding
        offsets = kernel_h * kernel_w
        cells_per_roi = height * width
        # n x d x (o, C_in): block n's output rows of every offset's kernel, input side
        kernel = (
            conv.weight.view(blocks, block_channels, channels, offsets)
            .transpose(2, 3)
            .reshape(blocks, block_channels, offsets * channels)
        )
        frame_offsets = torch.arange(num_frames, device=support_rows.device).view(1, num_frames, 1) * (
            support_h * support_w
        )
        indices = torch.stack([i for _, i in matches], dim=1)  # (M, T, K)
        weights = torch.stack([w for w, _ in matches], dim=1)
        # the [m, 9*N, C] products: 4 chunks' worth, as small batched products run slower
        rois_per_chunk = min(self._rois_per_chunk(height, width, offsets * blocks * channels // 4), num_rois)
        chunk_cells = rois_per_chunk * cells_per_roi
        # workspaces; kernel_side's entries no offset writes (outside the RoI grid) stay 0
        dtype = similarity_dtype(support_rows.dtype)
        grid_space = support_rows.new_empty(blocks * chunk_cells * offsets * channels)
        kernel_side_space = support_rows.new_zeros(rois_per_chunk, height, width, offsets, blocks, channels)
        met_space = support_rows.new_empty(chunk_cells * offsets * blocks * num_frames)
        target_logits = support_rows.new_empty(num_rois * cells_per_roi, blocks, dtype=dtype)
        logits = support_rows.new_empty(num_rois * cells_per_roi, blocks, num_frames)
        # the target's embedding in blocks of whole chunks, as large as its own chunks
        embedding_rois = rois_per_chunk * max(1, self._embedding_rois(height, width) // rois_per_chunk)
        for start in range(0, num_rois, rois_per_chunk):
            rois = min(rois_per_chunk, num_rois - start)
            cells = slice(start * cells_per_roi, (start + rois) * cells_per_roi)
            count = rois * cells_per_roi
            if start % embedding_rois == 0:
                block_embeds = self._embed_target(roi_feats[start : start + embedding_rois])
            first = (start % embedding_rois) * cells_per_roi
            target_embeds = block_embeds[first : first + count]  # (m, C)
            target_logits[cells] = attention_logits(target_embeds, target_embeds, blocks, 1)
            embeds = target_embeds.view(-1, blocks, block_channels).transpose(0, 1)  # (N, m, d)
            bias_logits = torch.bmm(embeds, conv.bias.view(blocks, -1, 1)).squeeze(2).t()  # (m, N)
            # X_i of the chunk's cells, all frames: (m, T, C)
            most_similar = gather_most_similar(
                support_rows, (indices[cells] + frame_offsets).flatten(0, 1), weights[cells].flatten(0, 1)
            ).view(-1, num_frames, channels)
            grid = torch.bmm(
                embeds, kernel, out=grid_space[: blocks * count * offsets * channels].view(blocks, count, -1)
            )
            grid = grid.view(blocks, rois, height, width, offsets, channels)  # G at m
            # kernel_side[m', o] = G_o(m' - o): what meets cell m' through offset o
            kernel_side = kernel_side_space[:rois]
            for offset, (dy, dx) in enumerate(itertools.product(range(kernel_h), range(kernel_w))):
                shift_y, shift_x = pad_h - dy, pad_w - dx
                rows = slice(max(0, -shift_y), min(height, height - shift_y))
                cols = slice(max(0, -shift_x), min(width, width - shift_x))
                source = (
                    slice(rows.start + shift_y, rows.stop + shift_y),
                    slice(cols.start + shift_x, cols.stop + shift_x),
                )
                kernel_side[:, rows, cols, offset] = grid[:, :, source[0], source[1], offset].permute(1, 2, 3, 0, 4)
            met = met_space[: count * offsets * blocks * num_frames].view(count, offsets * blocks, num_frames)
            torch.bmm(kernel_side.view(count, offsets * blocks, channels), most_similar.transpose(1, 2), out=met)
            met = F.pad(
                met.view(rois, height, width, offsets, blocks * num_frames), (0, 0, 0, 0, pad_w, pad_w, pad_h, pad_h)
            )
            chunk_logits = logits[cells]
            chunk_logits.copy_(bias_logits.unsqueeze(2).expand_as(chunk_logits))
            chunk_logits = chunk_logits.view(rois, height, width, blocks * num_frames)
            for dy, dx in itertools.product(range(kernel_h), range(kernel_w)):
                chunk_logits += met[:, dy : dy + height, dx : dx + width, dy * kernel_w + dx]
        logits = logits.to(dtype) / math.sqrt(block_channels)  # (M, N, T)
        return [target_logits] + list(logits.permute(2, 0, 1))

    def _rois_per_chunk(self, height: int, width: int, entries_per_cell: Optional[int] = None) -> int:
        """RoIs of ``h x w`` cells whose ``entries_per_cell`` entries each (default ``C``: their
        ``[r*h*w, C]`` features) fit the similarity chunk size."""
        return max(1, self.similarity_chunk_size // (height * width * (entries_per_cell or self.channels)))

    def _unit_cells(self, roi_feats):
        """``[M, C]`` the RoI cells as unit vectors (:func:`.normalize_cells`), a chunk of RoIs
        at a time into the result (no ``[M, C]`` temporaries); concatenated under autograd
        (:func:`_concatenates`)."""
        num_rois, channels, height, width = roi_feats.shape
        rois = self._rois_per_chunk(height, width)
        if _concatenates(roi_feats):
            return torch.cat([normalize_cells(rois_to_cells(chunk)) for chunk in roi_feats.split(rois)])
        units = roi_feats.new_empty(num_rois * height * width, channels, dtype=similarity_dtype(roi_feats.dtype))
        for start in range(0, max(num_rois, 1), rois):
            units[start * height * width : (start + rois) * height * width] = normalize_cells(
                rois_to_cells(roi_feats[start : start + rois])
            )
        return units

    def _embedding_rois(self, height: int, width: int) -> int:
        """RoIs of ``h x w`` cells a chunk of the target's embedding takes (:meth:`_embed_target`)."""
        kernel_h, kernel_w = self.embed.kernel_size
        return self._rois_per_chunk(height, width, kernel_h * kernel_w * self.channels // 4)

    def _embed_target(self, roi_feats):
        """``[M, C]`` TAFA's embedding ``psi`` of the target RoI cells (eq. 6), a chunk of RoIs
        at a time, each written into the result as it is made. The convolution's workspace
        grows with its batch, about ``9*C`` entries a cell on CPU: chunks of a quarter of the
        similarity chunk size in those (18 RoIs of 7x7 at C=512) took 1.15 ms a RoI, as 41
        RoIs did (1.06 ms) and 9 did not (1.39 ms; Intel Xeon, 2 threads, 2026-12-03), with
        under half of 41's workspace. Concatenated under autograd (:func:`_concatenates`)."""
        num_rois, channels, height, width = roi_feats.shape
        rois = self._embedding_rois(height, width)
        if _concatenates(roi_feats, self.embed.weight, self.embed.bias):
            chunks = [self.embed(chunk).permute(0, 2, 3, 1) for chunk in roi_feats.split(rois)]
            return torch.cat(chunks).reshape(-1, channels)
        embeds = None
        for start in range(0, max(num_rois, 1), rois):
            chunk = self.embed(roi_feats[start : start + rois]).permute(0, 2, 3, 1)  # (r, h, w, C)
            if embeds is None:  # in the embedding's dtype (autocast may lower it)
                embeds = chunk.new_empty(num_rois, height, width, channels)
            embeds[start : start + rois] = chunk
        return embeds.view(-1, channels)

    def _most_similar_logits(self, projections, weights, indices, target_embeds, bias_logits, roi_shape):
        """Eq. 6 for one support frame, embedding its most similar features without forming them.

        Args:
            projections: ``[H*W*9, C]`` the frame's :attr:`SupportEncoding.projections`.
            weights, indices: ``[M, K]``, top-K of every cell.
            target_embeds: ``[M, C]`` the target's embedded cells.
            bias_logits: ``[M, N]`` the logits' bias term, ``<b_n, e_n(m)> / sqrt(C/N)``.
            roi_shape: ``(R, C, h, w)``.

        Returns:
            ``[M, N]`` logits, computed for a chunk of RoIs at a time (all at once under autograd).
        """
        conv = self.embed
        num_rois, _, height, width = roi_shape
        kernel_h, kernel_w = conv.kernel_size
        pad_h, pad_w = conv.padding
        offsets = kernel_h * kernel_w
        # The conv input's zero padding: cells outside the RoI grid get weight 0.
        padding = (0, 0, pad_w, pad_w, pad_h, pad_h)
        grid_shape = (num_rois, height, width, self.num_most_similar_points)
        grid_indices = F.pad(indices.view(grid_shape), padding)  # (R, h+2, w+2, K)
        grid_weights = F.pad(weights.view(grid_shape), padding)
        # Under autograd each chunk's backward fills and adds a dense [H*W*9, C] gradient of the
        # projections, so there all RoIs go in one chunk.
        rois_per_chunk = max(num_rois, 1) if projections.requires_grad else self._rois_per_chunk(height, width)
        logits = []
        for start in range(0, num_rois, rois_per_chunk):
            chunk = slice(start, start + rois_per_chunk)
            bag_indices, bag_weights = [], []
            for offset, (dy, dx) in enumerate(itertools.product(range(kernel_h), range(kernel_w))):
                bag_indices.append(grid_indices[chunk, dy : dy + height, dx : dx + width] * offsets + offset)
                bag_weights.append(grid_weights[chunk, dy : dy + height, dx : dx + width])
            bag_indices = torch.cat(bag_indices, dim=3).flatten(0, 2)  # (r*h*w, 9*K)
            bag_weights = torch.cat(bag_weights, dim=3).flatten(0, 2)
            embeds = gather_most_similar(projections, bag_indices, bag_weights)  # (r*h*w, C), without the bias
            cells = slice(start * height * width, (start + rois_per_chunk) * height * width)
            chunk_logits = attention_logits(embeds, target_embeds[cells], self.num_attention_blocks, 1)
            logits.append(chunk_logits + bias_logits[cells])
        return torch.cat(logits) if logits else target_embeds.new_zeros((0, self.num_attention_blocks))

    def _attention(self, logits, num_frames, roi_feats):
        """Step 3: ``[T+1, M, N']`` weights over the frames (eq. 7, :func:`.frame_weights`);
        uniform, ``N' = 1``, when ``N == 0``."""
        if not logits:
            num_rois, _, height, width = roi_feats.shape
            shape = (num_frames, num_rois * height * width, 1)
            return roi_feats.new_full(shape, 1.0 / num_frames, dtype=similarity_dtype(roi_feats.dtype))
        return frame_weights(torch.stack(logits))

    def _aggregate(self, roi_feats, frames, support_rows, matches, attention):
        """Step 4: ``sum_i attention_i * X_i`` (eq. 8), each ``X_i`` gathered on the fly (eq. 4),
        into one ``[M, C]`` result a chunk of RoIs at a time.

        Args:
            roi_feats: ``[R, C, h, w]`` the target RoI features.
            frames, support_rows: the support frames and their :meth:`_support_rows`.

        Returns:
            ``[M, C]`` aggregated cells, accumulated in the attention's dtype (>= float32).
        """
        num_rois, channels, height, width = roi_feats.shape
        blocks = attention.shape[2]
        block_offsets = torch.arange(blocks, device=roi_feats.device).view(1, blocks, 1)
        # under autograd one chunk, accumulated out of place (:func:`_concatenates`)
        functional = _concatenates(roi_feats, attention, support_rows, *(weights for weights, _ in matches))
        rois_per_chunk = max(num_rois, 1) if functional else self._rois_per_chunk(height, width)
        starts = range(0, max(num_rois, 1), rois_per_chunk)  # one chunk, empty, for 0 RoIs (autograd)
        chunks = [slice(start * height * width, (start + rois_per_chunk) * height * width) for start in starts]
        aggregated = None if functional else attention.new_empty(num_rois * height * width, blocks, channels // blocks)
        for start, cells in zip(starts, chunks):
            target_cells = rois_to_cells(roi_feats[start : start + rois_per_chunk]).unflatten(1, (blocks, -1))
            target_term = attention[0, cells].unsqueeze(2) * target_cells  # (m, N', C/N')
            if functional:
                aggregated = target_term
            else:
                aggregated[cells] = target_term
        for frame, (weights, indices) in enumerate(matches):
            # Gather rows: (position p, block n) of the frame; bags: (cell m, block n).
            block_rows = self._frame_rows(frames, support_rows, frame, roi_feats.dtype).reshape(-1, channels // blocks)
            for cells in chunks:
                bag_indices = indices[cells].unsqueeze(1) * blocks + block_offsets  # (m, N', K)
                bag_weights = weights[cells].unsqueeze(1) * attention[frame + 1, cells].unsqueeze(2)  # (m, N', K)
                gathered = gather_most_similar(block_rows, bag_indices.flatten(0, 1), bag_weights.flatten(0, 1))
                gathered = gathered.view(bag_weights.shape[:2] + (channels // blocks,)).to(aggregated.dtype)
                if functional:
                    aggregated = aggregated + gathered
                else:
                    aggregated[cells] += gathered
        return aggregated.reshape(-1, channels)

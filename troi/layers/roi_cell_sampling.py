"""RoI Align's cells as weighted bags of feature-map positions, and eq. 2's search through them.

RoI Align is linear in the feature map: RoI ``r``'s cell ``(i, j)`` is
``sum_{y, x} a(r, i, y) b(r, j, x) F[:, y, x] / n_r``, where ``a`` sums the bilinear row
weights of the bin's sample rows, ``b`` its column weights (bilinear interpolation is
separable) and ``n_r`` is the bin's sample count. So the ``[M, C]`` RoI cells are ``A F_t``
for a sparse ``A`` (at most 16 positions a cell with 2x2 samples), and their similarity
product with a support frame's unit vectors factors as ``(A F_t) F_s^T = A (F_t F_s^T)``:
``U*C + E`` multiply-adds per support position instead of ``M*C``, with ``U`` map
positions the cells sample and ``E`` bag entries. At R50-DC5 test scale (300 RoIs of 7x7
cells on a 38x63 map) that is about 5x fewer.

The cosine similarity divides each cell's product by the cell's norm, which does not change
the order of its scores, so :func:`sampled_candidates` ranks ``A (F_t F_s^T)``. Without
autograd, :func:`sampled_points` takes the points and their weights from those scores
(re-ranking with float64 sums only where their rounding could swap the K-th and the
(K+1)-th); under autograd the candidates are re-scored from the cells themselves
(:func:`.low_precision_search.rescore_candidates`), which carries the gradient.
"""

import functools
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F

from .low_precision_search import rank_near_ties
from .shapes import check_rank, similarity_dtype
from .similarity_product import similarity_product
from .top_k import top_k

__all__ = ["RoICellSampling", "roi_align_sampling", "sampled_candidates", "sampled_points"]


@dataclass
class RoICellSampling:
    """``M = R*h*w`` RoI cells (RoI-major, as :func:`.rois_to_cells`) as weighted bags of
    positions of one feature map: cell ``m`` is ``sum_j weights[j] * position_feats[indices[j]]``
    over ``j`` in ``bounds[m]:bounds[m + 1]``.

    Attributes:
        positions: ``[U]`` the map's ``H*W`` positions (row-major) some cell samples.
        position_feats: ``[U, C]`` the map's features there (no gradient: the search only
            ranks candidates with them).
        indices: ``[E]`` rows of ``position_feats``.
        weights: ``[E]`` their weights (bilinear weight over the bin's sample count).
        bounds: ``[M + 1]`` where each cell's entries start, then ``E``.
    """

    positions: torch.Tensor
    position_feats: torch.Tensor
    indices: torch.Tensor
    weights: torch.Tensor
    bounds: torch.Tensor

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def cells(self, start: int = 0, stop: int = None) -> torch.Tensor:
        """``[stop - start, C]`` the cells ``start:stop`` (default all) it samples."""
        return self.bag(self.position_feats, start, stop)

    def align(self, feature_map: torch.Tensor) -> torch.Tensor:
        """``[M, C]`` RoI Align's cells of ``feature_map [C, H, W]`` (the sampled map, or one of
        its shape), differentiable in it: the bags of its rows at :attr:`positions`, summed in
        at least float32 (as autocast runs ``roi_align``) and returned in its dtype.

        On CPU this is several times faster than torchvision's ``roi_align`` (which runs
        on one thread), and its backward (a gather's) many times: 300 RoIs of 7x7 cells,
        2x2 samples, on a 512 x 38 x 50 map, 2 threads (2026-12-03): 5.2-6.8 ms against
        99-154 ms forward, 23 ms with making the sampling; forward + backward with the
        sampling 76 ms against 0.87-0.98 s."""
        rows = feature_map.flatten(1).t().index_select(0, self.positions)  # (U, C)
        return self.bag(rows.to(self.weights.dtype)).to(feature_map.dtype)

    def bag(self, rows: torch.Tensor, start: int = 0, stop: int = None) -> torch.Tensor:
        """``[stop - start, D]``: the weighted sum of ``rows [U, D]`` (one row per sampled
        position) over each of the cells ``start:stop``."""
        bounds = self.bounds[start : (len(self) if stop is None else stop) + 1]
        entries = slice(int(bounds[0]), int(bounds[-1]))
        return F.embedding_bag(
            self.indices[entries],
            rows,
            bounds - bounds[0],
            mode="sum",
            per_sample_weights=self.weights[entries].to(rows.dtype),
            include_last_offset=True,
        )

    @functools.cached_property
    def cell_norms(self) -> torch.Tensor:
        """``[M]`` the cells' L2 norms (at least ``F.normalize``'s eps, 1e-12), of 4,096 cells
        at a time (no ``[M, C]`` temporary)."""
        with torch.no_grad():
            norms = [self.cells(start, start + 4096).norm(dim=1) for start in range(0, len(self), 4096)]
            return torch.cat(norms).clamp(min=1e-12) if norms else self.position_feats.new_zeros(0)

    @functools.cached_property
    def score_error_bounds(self) -> torch.Tensor:
        """``[M]`` a bound on the rounding error of each cell's cosine similarities as
        :func:`sampled_points` computes them: ``(C + n) eps sum_j w_j |F(u_j)| / |cell|`` for
        ``n`` bag entries (a sum of ``C + n`` products errs by less than ``(C + n)/2`` eps of
        the sum of their magnitudes; the weights are >= 0), so a gap between two of them
        below it may be rounding's."""
        with torch.no_grad():
            magnitudes = self.bag(self.position_feats.norm(dim=1, keepdim=True)).squeeze(1)  # sum_j w_j |F(u_j)|
            products = self.position_feats.shape[1] + self.bounds.diff().to(magnitudes.dtype)
            return products * torch.finfo(magnitudes.dtype).eps * magnitudes / self.cell_norms

    def search_pays(self) -> bool:
        """Whether :func:`sampled_candidates` takes fewer multiply-adds than the cells'
        product: ``U*C + E < M*C`` per support position (never when no cell samples the map)."""
        positions, channels = self.position_feats.shape
        return 0 < positions * channels + len(self.indices) < len(self) * channels


def _axis_weights(starts, lengths, bins: int, grid, size: int) -> torch.Tensor:
    """Summed bilinear weights of each bin's samples along one axis.

    Args:
        starts, lengths: ``[R]`` each RoI's start and extent, in feature-map cells.
        bins: the output size along the axis.
        grid: ``[R]`` samples per bin along the axis (<= 0: none).
        size: the map's size along the axis.

    Returns:
        ``[R, bins, size]``.
    """
    num_rois = len(starts)
    steps = torch.arange(max(int(grid.max()), 0) if num_rois else 0, dtype=starts.dtype, device=starts.device)
    bin_size = (lengths / bins).view(-1, 1, 1)
    bin_starts = (
        starts.view(-1, 1, 1) + torch.arange(bins, dtype=starts.dtype, device=starts.device).view(1, -1, 1) * bin_size
    )
    coords = bin_starts + (steps + 0.5) * bin_size / grid.clamp(min=1).view(-1, 1, 1)  # (R, bins, G)
    # a sample outside [-1, size] reads nothing; one in [-1, 0] reads position 0
    inside = (steps < grid.view(-1, 1, 1)) & (coords >= -1) & (coords <= size)
    coords = coords.clamp(min=0)
    low = coords.floor().long().clamp(max=size - 1)
    at_edge = low >= size - 1  # the last row or column: all weight on it
    high = torch.where(at_edge, low, low + 1)
    fraction = torch.where(at_edge, torch.zeros_like(coords), coords - low.to(coords.dtype)) * inside
    weights = coords.new_zeros(num_rois, bins, size)
    weights.scatter_add_(2, low, inside.to(coords.dtype) - fraction)
    weights.scatter_add_(2, high, fraction)
    return weights


def _nonzero_columns(weights) -> Tuple[torch.Tensor, torch.Tensor]:
    """``[R, n, L]`` -> the positions and weights ``[R, n, Z]`` of each row's nonzero entries
    (``Z`` the most in a row; zero weights pad the others)."""
    most = int((weights != 0).sum(2).max()) if weights.numel() else 0
    values, positions = weights.topk(max(most, 1), dim=2)
    return positions, values


def roi_align_sampling(
    feature_map: torch.Tensor,
    boxes: torch.Tensor,
    output_size: Tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> RoICellSampling:
    """RoI Align's sampling of ``boxes`` on ``feature_map`` as bags of positions.

    The arguments are RoI Align's (torchvision's ``roi_align``, detectron2's ``ROIAlign``):
    ``sampling_ratio <= 0`` takes ``ceil(bin size)`` samples per bin; ``aligned`` shifts the
    boxes by half a cell and keeps boxes under one cell as they are. :meth:`RoICellSampling.cells`
    equals ``roi_align(feature_map[None], boxes)`` as ``[R*h*w, C]`` cells (tested).

    Args:
        feature_map: ``[C, H, W]`` one image's features at one level.
        boxes: ``[R, 4]`` ``(x1, y1, x2, y2)`` in image coordinates.
        output_size: ``(h, w)`` cells per RoI.
        spatial_scale: feature-map cells per image pixel (1 / stride).

    Returns:
        the :class:`RoICellSampling` of the ``R*h*w`` cells.
    """
    check_rank("feature_map", feature_map, 3, "[C, H, W]")
    check_rank("boxes", boxes, 2, "[R, 4]")
    height, width = feature_map.shape[1:]
    out_h, out_w = output_size
    dtype = similarity_dtype(feature_map.dtype)
    scaled = boxes.detach().to(dtype) * spatial_scale - (0.5 if aligned else 0.0)
    lengths = scaled[:, 2:] - scaled[:, :2]  # (R, 2): width, height
    if not aligned:
        lengths = lengths.clamp(min=1.0)
    output = torch.tensor([out_w, out_h], dtype=dtype, device=boxes.device)
    grid = torch.full_like(lengths, sampling_ratio) if sampling_ratio > 0 else torch.ceil(lengths / output)
    grid = grid.long()
    rows, row_weights = _nonzero_columns(_axis_weights(scaled[:, 1], lengths[:, 1], out_h, grid[:, 1], height))
    cols, col_weights = _nonzero_columns(_axis_weights(scaled[:, 0], lengths[:, 0], out_w, grid[:, 0], width))
    count = (grid.clamp(min=0).prod(dim=1).clamp(min=1)).to(dtype).view(-1, 1, 1, 1, 1)
    # (R, h, w, Zy, Zx): every pair of a cell's sampled rows and columns
    positions = rows[:, :, None, :, None] * width + cols[:, None, :, None, :]
    weights = row_weights[:, :, None, :, None] * col_weights[:, None, :, None, :] / count
    positions, weights = positions.flatten(0, 2).flatten(1), weights.flatten(0, 2).flatten(1)  # (M, Zy*Zx)
    sampled = weights != 0
    used, indices = torch.unique(positions[sampled], return_inverse=True)
    bounds = F.pad(sampled.sum(dim=1).cumsum(0), (1, 0))
    position_feats = feature_map.detach().flatten(1).t()[used].to(dtype)  # (U, C)
    return RoICellSampling(used, position_feats, indices, weights[sampled], bounds)


def sampled_candidates(
    sampling: RoICellSampling, normalized_support: torch.Tensor, count: int, chunk_size: int
) -> torch.Tensor:
    """Each cell's ``count`` support positions of highest cosine similarity, ranked by
    ``A (F_t F_s^T)`` (module docstring), without autograd.

    Args:
        sampling: the ``M`` cells' :class:`RoICellSampling`.
        normalized_support: ``[C, H, W]`` a support frame with unit-length channel vectors.
        count: candidates per cell (``<= H*W``).
        chunk_size: the product ``F_t F_s^T`` is formed for at most ``8 * chunk_size`` entries
            (a block of support positions) at once, each cell chunk's scores for ``chunk_size``.
            At the default (32 MB of float32) a 38x63 frame's 2,394 positions are one block:
            its search took 115-127 ms against 145-174 ms in two blocks of ``4 * chunk_size``
            (300 RoIs; Intel Xeon, 2 threads, same process, 2026-12-03).

    Returns:
        scores ``[M, count]``, the ranked ``A (F_t F_s^T)`` (each cell's cosine similarities
        times its norm), best first, and their positions ``[M, count]`` in the frame's
        ``H*W`` grid (row-major).
    """
    support_rows = normalized_support.flatten(1)  # (C, H*W)
    if not len(sampling):
        empty = support_rows.new_zeros((0, count))
        return empty, empty.long()
    positions, total = len(sampling.position_feats), support_rows.shape[1]
    columns = max(count, 8 * chunk_size // max(positions, 1))
    target_rows = sampling.position_feats.to(support_rows.dtype)
    best_scores = best = None
    with torch.no_grad():
        for first in range(0, total, columns):
            block = support_rows[:, first : first + columns]
            product = similarity_product(target_rows, block)  # F_t F_s^T for the block: (U, b)
            rows = max(1, chunk_size // product.shape[1])
            found = [
                top_k(sampling.bag(product, start, start + rows), min(count, product.shape[1]))
                for start in range(0, len(sampling), rows)
            ]
            scores = torch.cat([values for values, _ in found])
            chosen = torch.cat([index for _, index in found]) + first
            if best is not None:
                scores, chosen = torch.cat([best_scores, scores], dim=1), torch.cat([best, chosen], dim=1)
                scores, order = scores.topk(count, dim=1)
                chosen = chosen.gather(1, order)
            best_scores, best = scores, chosen
    return best_scores, best


def sampled_points(
    sampling: RoICellSampling,
    scores: torch.Tensor,
    candidates: torch.Tensor,
    unit_cells: torch.Tensor,
    support_rows: torch.Tensor,
    k: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The top-``k`` of each cell among :func:`sampled_candidates`' candidates and their
    softmaxed cosine similarities (eq. 3), from the search's own scores, without autograd.

    The similarities are the scores over the cells' norms. Where a cell's k-th and (k+1)-th
    differ by less than their rounding can (:attr:`RoICellSampling.score_error_bounds`), its
    candidates are ranked with float64 sums of ``unit_cells`` and ``support_rows``
    (:func:`.rank_near_ties`), as :func:`.rescore_candidates` ranks them; so the points are
    the candidates' float64 top-K, and each weight is within float32 rounding of float64's.
    This spares the re-score's gather of ``Q`` vectors a cell and their products: 19 ms a
    frame at R50-DC5 test scale (300 RoIs, a 38x63 frame), whose search took 84 ms (Intel
    Xeon, 2 threads, 2026-12-03). The bounds make 2.4% of those cell-frames near-tied (the
    re-score's fixed margin 1.7%).

    Args:
        sampling: the ``M`` cells' :class:`RoICellSampling`.
        scores, candidates: ``[M, Q]`` (``Q >= k``), as :func:`sampled_candidates` gives them.
        unit_cells: ``[M, C]`` the cells as unit vectors (:func:`.normalize_cells`).
        support_rows: ``[H*W, C]`` the support frame's unit vectors (:func:`.normalize_support`).

    Returns:
        weights ``[M, k]`` and positions ``[M, k]``.
    """
    with torch.no_grad():
        similarities = scores / sampling.cell_norms.to(scores.dtype).unsqueeze(1)
        ranking = similarities
        if scores.dtype != torch.float64:
            margins = sampling.score_error_bounds.to(scores.dtype)
            ranking = rank_near_ties(similarities, unit_cells, support_rows, candidates, k, margins)
        top = ranking.topk(k, dim=1).indices
        return similarities.gather(1, top).softmax(dim=1), candidates.gather(1, top)

"""Most-Similar RoI Align (Temporal RoI Align paper, eq. 2-4).

For every cell ``m`` of a target-frame RoI feature ``X_t`` and every support frame
``F_{t+i}``:

1. cosine similarity of ``X_t(m)`` to every support position (L2 over channels), eq. 2;
2. the top ``K`` scores ``s^k`` and their positions ``p^k``;
3. softmax over the ``K`` scores, eq. 3;
4. the weighted sum of the **un-normalised** support features at ``p^k``, eq. 4.
"""

import contextlib

import torch
import torch.nn.functional as F

from .low_precision_search import candidate_count, rescore_candidates
from .roi_cell_sampling import sampled_candidates, sampled_points
from .similarity_product import similarity_product
from .shapes import check_channels, check_rank, cells_to_rois, rois_to_cells, similarity_dtype
from .top_k import top_k

__all__ = [
    "DEFAULT_SIMILARITY_CHUNK_SIZE",
    "float32_convolutions",
    "most_similar_points",
    "most_similar_normalized_points",
    "most_similar_unit_points",
    "normalize_cells",
    "normalize_support",
    "gather_most_similar",
    "most_similar_roi_align",
    "check_num_most_similar_points",
]

# Similarity entries (RoI cells x support positions) computed at once: 4 MB in float32.
DEFAULT_SIMILARITY_CHUNK_SIZE = 2**20


@contextlib.contextmanager
def float32_convolutions(device: torch.device):
    """Within it, cuDNN's float32 convolutions on ``device`` are float32, not TF32 (which it
    uses by default on Ampere and later GPUs, with float16's 10-bit mantissa): the exact
    search must be exact. Other devices: unchanged."""
    if device.type != "cuda" or not torch.backends.cudnn.allow_tf32:
        yield
        return
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = True


def check_num_most_similar_points(k: int, support_feats: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``1 <= k <= H*W`` for ``support_feats [..., H, W]``."""
    positions = support_feats.shape[-2] * support_feats.shape[-1]
    if not 1 <= k <= positions:
        raise ValueError(
            f"num_most_similar_points K={k} must be in [1, H*W={positions}] for support "
            f"frames of shape {tuple(support_feats.shape)}"
        )


def normalize_support(support_frame):
    """``[C, H, W]`` support features -> unit-length channel vectors (eq. 2's support side),
    in at least float32, also under autocast.

    Each position's norm is summed in float64: in float32 its rounding (about 1e-6 relative
    over 512 channels, summed along the strided channel axis) shifts that position's
    similarities to every cell, and with them which of two near-tied positions is the K-th
    most similar; float64's norm makes each unit vector float32's rounding of the exact one.
    """
    with torch.autocast(support_frame.device.type, enabled=False):
        precise = support_frame.to(torch.promote_types(support_frame.dtype, torch.float64))
        norms = precise.norm(dim=0, keepdim=True).clamp(min=1e-12)  # F.normalize's eps
        return (precise / norms).to(similarity_dtype(support_frame.dtype))


def most_similar_points(cells, support_frame, k, chunk_size=DEFAULT_SIMILARITY_CHUNK_SIZE):
    """Top-``k`` cosine-similar support positions of each RoI cell, with softmaxed scores.

    Args:
        cells: ``[M, C]`` RoI cells (not normalised).
        support_frame: ``[C, H, W]`` one support frame's features (not normalised).
        k: number of most similar points ``K``.
        chunk_size: at most this many similarity entries (cells x ``H*W``) exist at once.

    Returns:
        weights ``[M, k]`` (softmax over the ``k`` scores, eq. 3) and indices ``[M, k]``
        into the ``H*W`` positions. Computed in at least float32.
    """
    return most_similar_normalized_points(cells, normalize_support(support_frame), k, chunk_size)


def most_similar_normalized_points(cells, normalized_support, k, chunk_size=DEFAULT_SIMILARITY_CHUNK_SIZE):
    """:func:`most_similar_points` of a support frame already normalised by
    :func:`normalize_support` (``[C, H, W]``), e.g. once for many target frames."""
    return most_similar_unit_points(normalize_cells(cells), normalized_support, k, chunk_size)


def normalize_cells(cells):
    """``[M, C]`` RoI cells -> unit-length rows (eq. 2's RoI side), in at least float32,
    also under autocast."""
    with torch.autocast(cells.device.type, enabled=False):
        return F.normalize(cells.to(similarity_dtype(cells.dtype)), dim=1)


def search_rows(chunk_size: int, positions: int, candidates: int, channels: int) -> int:
    """Cells a chunk of the direct search takes: their similarities to the ``positions`` of a
    support frame, or their re-scored vectors (``candidates x channels`` a cell), whichever is
    more, fit ``chunk_size`` entries."""
    return max(1, chunk_size // max(positions, candidates * channels))


def most_similar_unit_points(
    unit_cells, normalized_support, k, chunk_size=DEFAULT_SIMILARITY_CHUNK_SIZE, search_dtype=None, cell_sampling=None
):
    """:func:`most_similar_points` of cells normalised by :func:`normalize_cells` (``[M, C]``)
    and a support frame normalised by :func:`normalize_support` (``[C, H, W]``): each side
    normalised once, e.g. the cells once for all the support frames.

    Every search keeps a few candidates per cell and re-scores them from the cells' and the
    positions' vectors (:func:`.rescore_candidates`: float32 dot products, ranked again with
    float64 sums where float32 cannot tell them apart): the top-K of those are the points,
    and their softmaxed scores the weights. So which of two near-tied positions is chosen is
    decided as float64 decides it, not by the product's float32 rounding, and what the
    product's own rounding or precision can change is only which positions are candidates.

    * Exact (``search_dtype`` None): a float32 product (:func:`.similarity_product`),
      ``K + 1`` candidates.
    * ``search_dtype`` bfloat16 or float16: that product, :func:`.candidate_count` candidates
      (:mod:`.low_precision_search`): the exact search's points, except where a point
      outside the candidates would have been chosen.
    * ``cell_sampling`` (the cells' :class:`.RoICellSampling`, when they come from RoI Align
      of one feature map) searches through RoI Align's sampling where that takes fewer
      multiply-adds (:meth:`.RoICellSampling.search_pays`; :mod:`.roi_cell_sampling`), in the
      cells' dtype whatever ``search_dtype``, with ``K + 2`` candidates (its product rounds
      the cells differently from the cells themselves).

    The search runs without autograd; when a gradient is needed, only the re-score carries it:
    the chosen points' similarities and gradients, without the product's dense backward over
    all ``H*W`` positions. Through the sampling without one, the points and weights come from
    the search's own scores (:func:`.sampled_points`: no re-score).
    """
    height, width = normalized_support.shape[1:]
    positions = height * width
    if cell_sampling is not None and len(cell_sampling) != len(unit_cells):
        raise ValueError(f"cell_sampling describes {len(cell_sampling)} cells, the search got {len(unit_cells)}")
    sampled = cell_sampling is not None and cell_sampling.search_pays()
    if sampled:
        search_dtype, candidates = None, k + 2
    else:
        candidates = k + 1 if search_dtype is None else candidate_count(k)
    candidates = min(candidates, positions)
    rows = search_rows(chunk_size, positions, candidates, unit_cells.shape[1])
    device = unit_cells.device
    # float32 even under autocast, and not TF32
    with torch.autocast(device.type, enabled=False), float32_convolutions(device):
        normalized_support = normalized_support.to(unit_cells.dtype)
        gradient = torch.is_grad_enabled() and (unit_cells.requires_grad or normalized_support.requires_grad)
        rescored = gradient or not sampled  # else :func:`.sampled_points`, from the search's scores
        # (H*W, C), a view if positions last; the re-score's gathers take it contiguous, the
        # sampled points' float64 rows of near-tied cells as it is (no copy of a raw frame)
        support_rows = normalized_support.flatten(1).t()
        support_rows = support_rows.contiguous() if rescored else support_rows
        product_dtype = search_dtype or unit_cells.dtype
        # (C, H*W) columns. A reduced-precision copy has the positions contiguous: bfloat16's GEMM
        # took 0.87 against 1.42 ms at 256 cells the other way. In float32 both layouts multiply
        # at the same speed, so the columns stay as they come (2 Intel Xeon threads, 2026-12-03).
        columns = normalized_support.flatten(1)
        search_columns = columns if product_dtype == columns.dtype else columns.to(product_dtype).contiguous()

        def search(chunk):  # (m, C) -> weights, positions (m, k)
            similarity = similarity_product(chunk.to(product_dtype), search_columns)  # (m, H*W)
            chosen = top_k(similarity, candidates)[1]
            return rescore_candidates(chunk, support_rows, chosen, k)

        # split, not sliced: under autograd one backward for all chunks, not one each
        chunks = unit_cells.split(rows) if len(unit_cells) else ()
        if sampled:
            scores, chosen = sampled_candidates(cell_sampling, normalized_support, candidates, chunk_size)
            if rescored:
                matches = [
                    rescore_candidates(cells, support_rows, cell_candidates, k)
                    for cells, cell_candidates in zip(chunks, chosen.split(rows))
                ]
            else:
                matches = [sampled_points(cell_sampling, scores, chosen, unit_cells, support_rows, k)]
        else:
            matches = [search(cells) for cells in chunks]
    if not matches:
        return unit_cells.new_zeros((0, k)), unit_cells.new_zeros((0, k), dtype=torch.long)
    return torch.cat([weights for weights, _ in matches]), torch.cat([chosen for _, chosen in matches])


def gather_most_similar(support_cells, indices, weights):
    """Eq. 4: ``sum_k weights[m, k] * support_cells[indices[m, k]]`` for every row ``m``.

    Args:
        support_cells: ``[P, D]`` rows to gather from (e.g. ``[H*W, C]`` support features).
        indices: ``[M, B]`` row indices, ``B`` per output row.
        weights: ``[M, B]`` weights (cast to ``support_cells.dtype``).

    Returns:
        ``[M, D]``, computed without materialising the ``[M, B, D]`` gathered rows.
    """
    return F.embedding_bag(indices, support_cells, per_sample_weights=weights.to(support_cells.dtype), mode="sum")


def most_similar_roi_align(roi_feats, support_feats, k, chunk_size=DEFAULT_SIMILARITY_CHUNK_SIZE):
    """Most-Similar RoI Align of target-frame RoIs against every support frame.

    Args:
        roi_feats: ``[R, C, h, w]`` target-frame RoI features ``X_t``.
        support_feats: ``[T, C, H, W]`` support-frame feature maps ``F_{t+i}``.
        k: number of most similar points ``K`` per RoI cell and support frame.
        chunk_size: bound on similarity entries held at once (see :func:`most_similar_points`).

    Returns:
        ``[T, R, C, h, w]`` most similar RoI features ``X_{t+i}``.
    """
    check_rank("roi_feats", roi_feats, 4, "[R, C, h, w]")
    check_rank("support_feats", support_feats, 4, "[T, C, H, W]")
    check_channels("support_feats", support_feats, roi_feats.shape[1])
    check_num_most_similar_points(k, support_feats)
    num_rois, channels, height, width = roi_feats.shape
    cells = rois_to_cells(roi_feats)  # (R*h*w, C)
    frames = []
    for support_frame in support_feats:
        weights, indices = most_similar_points(cells, support_frame, k, chunk_size)
        support_cells = support_frame.flatten(1).t().to(roi_feats.dtype)  # (H*W, C)
        frames.append(cells_to_rois(gather_most_similar(support_cells, indices, weights), num_rois, height, width))
    if not frames:
        return roi_feats.new_zeros((0, num_rois, channels, height, width))
    return torch.stack(frames)

"""Most-Similar RoI Align (Temporal RoI Align paper, eq. 2-4).

For every cell ``m`` of a target-frame RoI feature ``X_t`` and every support frame
``F_{t+i}``:

1. cosine similarity of ``X_t(m)`` to every support position (L2 over channels), eq. 2;
2. the top ``K`` scores ``s^k`` and their positions ``p^k``;
3. softmax over the ``K`` scores, eq. 3;
4. the weighted sum of the **un-normalised** support features at ``p^k``, eq. 4.
"""

import torch
import torch.nn.functional as F

from .shapes import check_channels, check_rank, cells_to_rois, rois_to_cells, similarity_dtype

__all__ = [
    "DEFAULT_SIMILARITY_CHUNK_SIZE",
    "most_similar_points",
    "most_similar_normalized_points",
    "most_similar_unit_points",
    "normalize_cells",
    "normalize_support",
    "gather_most_similar",
    "most_similar_roi_align",
    "check_num_most_similar_points",
]

# Similarity entries (RoI cells x support positions) computed at once: 16 MB in float32.
DEFAULT_SIMILARITY_CHUNK_SIZE = 2**22


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
    in at least float32, also under autocast."""
    with torch.autocast(support_frame.device.type, enabled=False):
        return F.normalize(support_frame.to(similarity_dtype(support_frame.dtype)), dim=0)


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


def most_similar_unit_points(unit_cells, normalized_support, k, chunk_size=DEFAULT_SIMILARITY_CHUNK_SIZE):
    """:func:`most_similar_points` of cells normalised by :func:`normalize_cells` (``[M, C]``)
    and a support frame normalised by :func:`normalize_support` (``[C, H, W]``): each side
    normalised once, e.g. the cells once for all the support frames."""
    height, width = normalized_support.shape[1:]
    dtype = unit_cells.dtype
    rows = max(1, chunk_size // (height * width))
    weights, indices = [], []
    with torch.autocast(unit_cells.device.type, enabled=False):  # float32 even under autocast
        normalized_support = normalized_support.to(dtype)[None]  # (1, C, H, W)
        for start in range(0, unit_cells.shape[0], rows):
            filters = unit_cells[start : start + rows, :, None, None]  # (m, C, 1, 1)
            # A 1x1 convolution is eq. 2's matrix product, and runs faster than it on CPU.
            similarity = F.conv2d(normalized_support, filters).flatten(2)[0]  # (m, H*W)
            scores, positions = similarity.topk(k, dim=1)  # (m, k)
            weights.append(scores.softmax(dim=1))
            indices.append(positions)
    if not weights:
        return unit_cells.new_zeros((0, k)), unit_cells.new_zeros((0, k), dtype=torch.long)
    return torch.cat(weights), torch.cat(indices)


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

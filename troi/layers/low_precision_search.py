"""Reduced-precision search for the most similar points, re-scored exactly.

Eq. 2's similarity product is most of Temporal RoI Align's work. Where the hardware has a
fast bfloat16 or float16 product (GPU tensor cores; CPU AVX-512-BF16/AMX), the search for
each cell's top-K points can run in it: the top :func:`candidate_count` positions of the
low-precision similarities are candidates, their similarities are computed again in float32
and ranked as float64 ranks them (:func:`rescore_candidates`, as the exact search's are), and
the top-K of those are the points. So the softmax weights (eq. 3) and the gathered features
(eq. 4) of the chosen points are the exact search's; only which points are chosen can differ
from it, where a point outside the candidates beats one inside (measured: README, "The
operators", Benchmark).

Where the product is not fast, the search stays exact (float32) and says so once in the log.
"""

import logging
from typing import Optional, Tuple

import torch

__all__ = [
    "SIMILARITY_PRECISIONS",
    "candidate_count",
    "check_similarity_precision",
    "fast_low_precision_product",
    "rank_near_ties",
    "rescore_candidates",
    "search_dtype",
]

logger = logging.getLogger(__name__)

# MODEL.TROI.SIMILARITY_PRECISION values -> the dtype of the candidate search (None: exact).
SIMILARITY_PRECISIONS = {"exact": None, "bfloat16": torch.bfloat16, "float16": torch.float16}

# (device type, dtype) pairs whose fallback to the exact search was already logged.
_logged_fallbacks = set()


def check_similarity_precision(precision: str, name: str = "similarity precision") -> None:
    """Raise ``ValueError`` (naming ``name``) unless ``precision`` is one of :data:`SIMILARITY_PRECISIONS`."""
    if precision not in SIMILARITY_PRECISIONS:
        raise ValueError(f"{name} {precision!r} must be one of {sorted(SIMILARITY_PRECISIONS)}")


def candidate_count(k: int) -> int:
    """Low-precision candidates kept per cell for a top-``k`` search: ``2k + 4``.

    bfloat16's product errs by up to 1.5e-3 in cosine similarity on unit vectors of 512
    channels (float16's by 1.9e-4); with ``k = 2``, the exact top-2 was among the first 4
    bfloat16 candidates on 99.8-100% of cells and among the first 6 on all of them
    (random post-ReLU features, 2940 cells x 3 frames of 38x63).
    """
    return 2 * k + 4


def fast_low_precision_product(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether ``device`` multiplies ``dtype`` (bfloat16 or float16) matrices faster than
    float32: CUDA tensor cores (compute capability >= 8.0 for bfloat16, >= 7.0 for
    float16), or a CPU with AVX-512-BF16 / AMX-BF16 (bfloat16) or AVX-512-FP16 / AMX-FP16
    (float16). Other devices: False."""
    device = torch.device(device)
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return major >= (8 if dtype == torch.bfloat16 else 7)
    if device.type == "cpu":
        get_capabilities = getattr(torch.cpu, "get_capabilities", None)  # torch >= 2.6
        capabilities = get_capabilities() if get_capabilities is not None else {}
        flags = ("avx512_bf16", "amx_bf16") if dtype == torch.bfloat16 else ("avx512_fp16", "amx_fp16")
        return any(capabilities.get(flag, False) for flag in flags)
    return False


def search_dtype(precision: str, device: torch.device) -> Optional[torch.dtype]:
    """The dtype to search the most similar points in for ``MODEL.TROI.SIMILARITY_PRECISION``
    ``precision`` on ``device``: None (exact float32) for "exact", and for "bfloat16" /
    "float16" where :func:`fast_low_precision_product` says no (logged once per device type
    and dtype).

    Raises:
        ValueError: ``precision`` is not one of :data:`SIMILARITY_PRECISIONS`.
    """
    check_similarity_precision(precision)
    dtype = SIMILARITY_PRECISIONS[precision]
    if dtype is None or fast_low_precision_product(device, dtype):
        return dtype
    key = (torch.device(device).type, dtype)
    if key not in _logged_fallbacks:
        _logged_fallbacks.add(key)
        logger.warning(
            "Temporal RoI Align: similarity precision %r asked for, but this %s has no fast %s matrix "
            "product; searching the most similar points in exact float32 instead",
            precision,
            key[0],
            precision,
        )
    return None


def rescore_candidates(
    unit_cells: torch.Tensor, support_rows: torch.Tensor, candidates: torch.Tensor, k: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The top-``k`` of each cell among its candidates, ordered as float64 orders them.

    The candidates' similarities are dot products in the cells' dtype. Where a cell's k-th
    and (k+1)-th of them are closer than their rounding can be (``C`` units in the last
    place of 1: float32's sum of ``C`` products of unit vectors errs by less than half of
    that), the cell's candidates are ranked again with float64 sums (:func:`rank_near_ties`):
    the same points as float64 everywhere, at about float32's cost (3,358 of the 205,800
    cell-frames, 1.6%, in the R50-DC5 operator benchmark).

    Args:
        unit_cells: ``[m, C]`` unit-length RoI cells (float32 or float64).
        support_rows: ``[H*W, C]`` the support frame's unit-length vectors, same dtype.
        candidates: ``[m, Q]`` candidate positions per cell (``Q >= k``).
        k: points to keep.

    Returns:
        weights ``[m, k]`` (softmax of the ``k`` similarities, eq. 3) and their positions
        ``[m, k]``; differentiable in ``unit_cells`` and ``support_rows``.
    """
    vectors = support_rows.index_select(0, candidates.flatten()).view(*candidates.shape, -1)  # (m, Q, C)
    scores = torch.matmul(unit_cells.unsqueeze(1), vectors.transpose(1, 2)).squeeze(1)  # (m, Q)
    with torch.no_grad():
        ranking = scores.detach()
        if scores.dtype != torch.float64:
            margin = unit_cells.shape[1] * torch.finfo(scores.dtype).eps
            ranking = rank_near_ties(ranking, unit_cells, support_rows, candidates, k, margin)
        top = ranking.topk(k, dim=1).indices
    return scores.gather(1, top).softmax(dim=1), candidates.gather(1, top)


def rank_near_ties(ranking, unit_cells, support_rows, candidates, k: int, margin) -> torch.Tensor:
    """``ranking [m, Q]``, each cell's scores of its candidates, with the cells whose k-th and
    (k+1)-th scores are closer than ``margin`` (a number, or ``[m]`` one a cell) scored again
    with float64 sums of ``unit_cells [m, C]`` and the candidates' ``support_rows [H*W, C]``
    (then float64; as it is where none is close, or ``Q <= k``). Without autograd."""
    if candidates.shape[1] <= k:
        return ranking
    with torch.no_grad():
        ranked = ranking.topk(k + 1, dim=1).values
        close = ((ranked[:, k - 1] - ranked[:, k]) < margin).nonzero().flatten()
        if not len(close):
            return ranking
        vectors = support_rows.index_select(0, candidates[close].flatten()).view(len(close), candidates.shape[1], -1)
        ranking = ranking.double()
        ranking[close] = torch.matmul(
            unit_cells[close].double().unsqueeze(1), vectors.double().transpose(1, 2)
        ).squeeze(1)
    return ranking

"""Eq. 2's similarity product, computed whichever way this machine computes it faster.

The product of ``m`` rows and ``n`` columns of ``C`` channels is one matrix product
(``rows @ columns``, the BLAS library's GEMM) or equally a 1x1 convolution of the columns
with the rows as kernels (oneDNN's convolution on CPU). Which is faster depends on the
machine more than on the shapes: at R50-DC5 test scale in float32 on 2 cores, the
convolutions took 0.54x the matrix product's time on an AMD EPYC (AVX2), and on an Intel
Xeon (AVX-512, AMX) the matrix product 0.51x the convolution's (2026-12-02). So on CPU
the first large product of each dtype times both ways (on its own operands, after a first
call of each) and keeps the faster for the rest of the process
(:func:`similarity_product_way`); on CUDA it is the convolution, under
:func:`.float32_convolutions` where exactness matters. Both ways give the same values up to
float32 rounding (tested), which the exact search's re-score absorbs
(:func:`.rescore_candidates`).
"""

import logging
import time
from typing import Dict, Tuple

import torch
import torch.nn.functional as F

__all__ = ["PRODUCT_WAYS", "TIMED_MULTIPLY_ADDS", "similarity_product", "similarity_product_way"]

logger = logging.getLogger(__name__)

# name -> (rows [m, C], columns [C, n]) -> [m, n]
PRODUCT_WAYS = {
    "matrix_product": lambda rows, columns: rows @ columns,
    "convolution": lambda rows, columns: F.conv2d(columns[None, :, None], rows[:, :, None, None]).view(
        rows.shape[0], columns.shape[1]
    ),
}

# (device type, dtype) -> the way chosen for this process
_chosen_ways: Dict[Tuple[str, torch.dtype], str] = {}

# Products of fewer multiply-adds are not timed (their times say little about large ones):
# they take the matrix product, until a larger one has chosen.
TIMED_MULTIPLY_ADDS = 2**26


def similarity_product_way(rows: torch.Tensor, columns: torch.Tensor) -> str:
    """The name (a key of :data:`PRODUCT_WAYS`) of the way products of ``rows``' device
    type and dtype are computed in this process: on CPU, the faster on the first such
    operands of at least :data:`TIMED_MULTIPLY_ADDS` (then logged once), kept for every
    later product; elsewhere "convolution"."""
    key = (rows.device.type, rows.dtype)
    if key not in _chosen_ways and rows.device.type == "cpu" and rows.numel() * columns.shape[1] < TIMED_MULTIPLY_ADDS:
        return "matrix_product"
    if key not in _chosen_ways:
        if rows.device.type != "cpu":
            _chosen_ways[key] = "convolution"
        else:
            seconds = {}
            with torch.no_grad():
                for name, product in PRODUCT_WAYS.items():
                    product(rows, columns)  # the first call of a way sets it up
                    start = time.perf_counter()
                    product(rows, columns)
                    seconds[name] = time.perf_counter() - start
            _chosen_ways[key] = min(seconds, key=seconds.get)
            logger.info(
                "similarity product in %s on CPU: %s (%s)",
                str(rows.dtype).replace("torch.", ""),
                _chosen_ways[key],
                ", ".join(f"{name} {value * 1e3:.1f} ms" for name, value in seconds.items()),
            )
    return _chosen_ways[key]


def similarity_product(rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """``rows [m, C] @ columns [C, n] -> [m, n]``, the way :func:`similarity_product_way`
    chose (without autograd: the searches only rank with it)."""
    with torch.no_grad():
        return PRODUCT_WAYS[similarity_product_way(rows, columns)](rows, columns)

"""Shape checks and layout conversions shared by the temporal operators."""

import torch

__all__ = [
    "check_rank",
    "check_channels",
    "check_finite",
    "compute_dtype",
    "positions_last",
    "rois_to_cells",
    "cells_to_rois",
    "similarity_dtype",
]


def check_rank(name: str, tensor: torch.Tensor, rank: int, layout: str) -> None:
    """Raise ``ValueError`` unless ``tensor`` has ``rank`` dimensions (``layout`` names them)."""
    if tensor.dim() != rank:
        raise ValueError(f"{name} must be a {rank}-d tensor {layout}, got shape {tuple(tensor.shape)}")


def check_channels(name: str, tensor: torch.Tensor, channels: int, dim: int = 1) -> None:
    """Raise ``ValueError`` unless ``tensor.shape[dim] == channels``."""
    if tensor.shape[dim] != channels:
        raise ValueError(
            f"{name} has {tensor.shape[dim]} channels (dim {dim} of shape {tuple(tensor.shape)}), expected {channels}"
        )


def check_finite(name: str, tensor: torch.Tensor) -> None:
    """Raise ``FloatingPointError`` if ``tensor`` holds a NaN or an infinity.

    One non-finite support position would be every RoI cell's most similar point (and one
    non-finite reference every proposal's attention), turning all outputs into NaN, which
    detectron2 then drops silently; failing here names where it came from instead.
    """
    # One reduction: any NaN or inf makes the sum non-finite (a huge finite sum can
    # overflow to inf too, hence the exact count before raising).
    with torch.no_grad():
        if bool(torch.isfinite(tensor.sum())):
            return
        count = int((~torch.isfinite(tensor)).sum())
    if count:
        raise FloatingPointError(
            f"{name} holds {count} non-finite value(s) (NaN or inf) of {tensor.numel()}: the features feeding "
            "it are broken (a diverged model or a corrupt input)"
        )


def compute_dtype(module: torch.nn.Module, tensor: torch.Tensor) -> torch.dtype:
    """The dtype a module with parameters computes ``tensor`` in: its parameters' (inputs
    of another floating dtype, e.g. float16 into a float32 module, are cast to it and the
    output cast back), except under autocast, which casts per operation itself."""
    if torch.is_autocast_enabled(tensor.device.type):
        return tensor.dtype
    parameter = next(module.parameters(), None)
    return tensor.dtype if parameter is None else parameter.dtype


def rois_to_cells(roi_feats: torch.Tensor) -> torch.Tensor:
    """``[R, C, h, w]`` RoI features -> ``[R*h*w, C]``, one row per RoI cell (RoI-major)."""
    return roi_feats.permute(0, 2, 3, 1).reshape(-1, roi_feats.shape[1])


def cells_to_rois(cells: torch.Tensor, num_rois: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`rois_to_cells`: ``[R*h*w, C]`` -> ``[R, C, h, w]``."""
    return cells.view(num_rois, height, width, cells.shape[1]).permute(0, 3, 1, 2)


def positions_last(frame: torch.Tensor) -> torch.Tensor:
    """``[C, H, W]`` -> the same values as a ``[C, H, W]`` view of ``[H, W, C]`` memory: each
    position's channel vector contiguous, so that ``frame.flatten(1).t()`` is its ``[H*W, C]``
    rows without a copy (differentiable)."""
    return frame.permute(1, 2, 0).contiguous().permute(2, 0, 1)


def similarity_dtype(dtype: torch.dtype) -> torch.dtype:
    """Similarities and softmaxes run in at least float32 (float64 stays float64)."""
    return torch.promote_types(dtype, torch.float32)

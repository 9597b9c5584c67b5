"""detectron2's optimizer, with clipping of the whole model's gradient norm as an option.

detectron2 v0.6 clips each parameter's gradient on its own (``CLIP_TYPE`` "value" or
"norm"). ``SOLVER.CLIP_GRADIENTS.CLIP_TYPE: "full_model"`` instead scales all gradients
together so that their joint ``NORM_TYPE``-norm is at most ``CLIP_VALUE``
(``torch.nn.utils.clip_grad_norm_``), as the MaskTrack R-CNN reference (norm 35) does.
"""

from . import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
import torch

from detectron2.solver import build_optimizer as build_detectron2_optimizer

__all__ = ["FULL_MODEL_CLIP_TYPE", "build_optimizer"]

FULL_MODEL_CLIP_TYPE = "full_model"


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """detectron2's ``build_optimizer``; with ``CLIP_TYPE: "full_model"``, gradients are
    clipped by their joint norm before every step."""
    clipping = cfg.SOLVER.CLIP_GRADIENTS
    if not (clipping.ENABLED and clipping.CLIP_TYPE == FULL_MODEL_CLIP_TYPE):
        return build_detectron2_optimizer(cfg, model)
    unclipped = cfg.clone()
    unclipped.defrost()
    unclipped.SOLVER.CLIP_GRADIENTS.ENABLED = False
    optimizer = build_detectron2_optimizer(unclipped, model)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    max_norm, norm_type = clipping.CLIP_VALUE, clipping.NORM_TYPE

    def clip_full_model(optimizer, args, kwargs):
        torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type)

    optimizer.register_step_pre_hook(clip_full_model)
    return optimizer

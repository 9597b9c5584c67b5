"""BatchNorm with frozen statistics and a trainable affine (mmdet's ``norm_eval=True``)."""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FrozenStatsBatchNorm2d", "freeze_bn_stats"]


class FrozenStatsBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d that always normalizes with its running statistics and never updates
    them, in training too, while its ``weight`` and ``bias`` keep training. detectron2's
    FrozenBatchNorm2d freezes all four; plain BN in training uses batch statistics. Same
    state dict as BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W]`` -> ``[N, C, H, W]``."""
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, training=False, eps=self.eps
        )


def freeze_bn_stats(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in ``module`` (SyncBN included; FrozenBatchNorm2d is not
    one) by a :class:`FrozenStatsBatchNorm2d` with the same parameters and statistics, in
    place; returns ``module`` (or its replacement, if it is a BatchNorm2d itself)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, FrozenStatsBatchNorm2d):
        frozen = FrozenStatsBatchNorm2d(module.num_features, eps=module.eps, affine=module.affine)
        frozen.load_state_dict(module.state_dict())
        return frozen.to(module.running_mean.device)
    for name, child in module.named_children():
        replacement = freeze_bn_stats(child)
        if replacement is not child:
            setattr(module, name, replacement)
    return module

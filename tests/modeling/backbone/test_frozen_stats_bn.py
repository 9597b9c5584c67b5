import torch
from torch import nn

from detectron2.modeling import build_model

from tests.conftest import tiny_video_cfg
from troi.modeling.backbone.frozen_stats_bn import FrozenStatsBatchNorm2d, freeze_bn_stats


def test_training_uses_and_keeps_the_running_statistics_while_the_affine_learns():
    bn = nn.BatchNorm2d(3)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    frozen = freeze_bn_stats(nn.Sequential(bn))[0]
    assert isinstance(frozen, FrozenStatsBatchNorm2d)
    frozen.train()
    statistics = frozen.running_mean.clone(), frozen.running_var.clone()
    x = torch.randn(4, 3, 5, 5) * 3 + 2
    y = frozen(x)
    expected = (x - statistics[0].view(1, 3, 1, 1)) / torch.sqrt(statistics[1].view(1, 3, 1, 1) + frozen.eps)
    torch.testing.assert_close(y, expected * frozen.weight.view(1, 3, 1, 1) + frozen.bias.view(1, 3, 1, 1))
    assert torch.equal(frozen.running_mean, statistics[0]) and torch.equal(frozen.running_var, statistics[1])
    y.sum().backward()
    assert frozen.weight.grad is not None and frozen.bias.grad is not None


def test_the_config_freezes_every_backbone_bn():
    cfg = tiny_video_cfg()
    plain = build_model(cfg).state_dict()
    cfg.MODEL.BACKBONE.FREEZE_BN_STATS = True
    model = build_model(cfg)
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, FrozenStatsBatchNorm2d) for m in norms)
    assert set(model.state_dict()) == set(plain)  # checkpoints load either way

import torch

from tests.conftest import tiny_video_cfg
from troi.solver import build_optimizer


def optimizer_step(clip_type, gradients):
    model = torch.nn.Linear(2, 1, bias=False)
    cfg = tiny_video_cfg()
    cfg.merge_from_list(
        [
            "SOLVER.BASE_LR",
            1.0,
            "SOLVER.MOMENTUM",
            0.0,
            "SOLVER.WEIGHT_DECAY",
            0.0,
            "SOLVER.CLIP_GRADIENTS.ENABLED",
            True,
            "SOLVER.CLIP_GRADIENTS.CLIP_TYPE",
            clip_type,
            "SOLVER.CLIP_GRADIENTS.CLIP_VALUE",
            5.0,
        ]
    )
    optimizer = build_optimizer(cfg, model)
    before = model.weight.detach().clone()
    model.weight.grad = torch.tensor([gradients])
    optimizer.step()
    return before - model.weight.detach()


def test_full_model_clipping_scales_the_joint_gradient_norm():
    step = optimizer_step("full_model", [30.0, 40.0])  # norm 50 -> 5
    assert torch.allclose(step, torch.tensor([[3.0, 4.0]]))
    assert torch.allclose(optimizer_step("full_model", [3.0, 0.0]), torch.tensor([[3.0, 0.0]]))  # under the limit


def test_other_clip_types_are_detectron2s():
    assert torch.allclose(optimizer_step("value", [30.0, -1.0]), torch.tensor([[5.0, -1.0]]))

"""mmtracking state dict -> detectron2 names: counts, anchor order, delta scaling, errors."""

import numpy as np
import pytest
import torch

from troi.converters.mmtracking_weights import (
    CheckpointConversionError,
    TargetLayout,
    anchor_permutation,
    checkpoint_kind,
    convert_state_dict,
    delta_scales,
)

from .mmtracking_cases import CASES, Case

DC5 = TargetLayout(backbone_prefix="backbone.resnet.", anchor_sizes=4, anchor_ratios=3)


def reference_state_dict(name):
    return torch.load(Case.load(name).path / "checkpoint.pth", map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("name, kind, tensors", [("selsa_w8_a", "selsa", 297), ("selsa_troi_w8_a", "selsa_troi", 309)])
def test_every_tensor_but_the_batch_norm_counters_is_converted(name, kind, tensors):
    state_dict = reference_state_dict(name)
    assert checkpoint_kind(list(state_dict)) == kind
    converted = convert_state_dict(state_dict, kind, DC5)
    counters = sum(key.endswith("num_batches_tracked") for key in state_dict)
    assert counters == 53 and len(converted) == len(state_dict) - counters == tensors
    assert sum(v.size for v in converted.values()) == sum(
        v.numel() for k, v in state_dict.items() if not k.endswith("num_batches_tracked")
    )
    assert list(converted) == sorted(converted)
    np.testing.assert_array_equal(
        converted["backbone.resnet.res5.2.conv3.norm.running_var"],
        state_dict["detector.backbone.layer4.2.bn3.running_var"].numpy(),
    )
    np.testing.assert_array_equal(
        converted["roi_heads.box_head.aggregators.fc2.ref_fc_embed.weight"],
        state_dict["detector.roi_head.bbox_head.aggregator.1.ref_fc_embed.weight"].numpy(),
    )
    if kind == "selsa_troi":
        assert "roi_heads.box_pooler.temporal_roi_align.embed.weight" in converted


def test_anchor_permutation_maps_ratio_major_to_size_major():
    # detectron2 anchor (size s, ratio r) is s * 3 + r; mmdet's is r * 4 + s.
    assert anchor_permutation(4, 3) == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]
    assert anchor_permutation(1, 3) == [0, 1, 2]  # one size per level (FPN): no reorder


def test_rpn_rows_follow_the_anchor_permutation():
    state_dict = reference_state_dict("selsa_w8_a")
    converted = convert_state_dict(state_dict, "selsa", DC5)
    old_logits = state_dict["detector.rpn_head.rpn_cls.weight"].numpy()
    old_deltas = state_dict["detector.rpn_head.rpn_reg.bias"].numpy().reshape(12, 4)
    new_logits = converted["proposal_generator.rpn_head.objectness_logits.weight"]
    new_deltas = converted["proposal_generator.rpn_head.anchor_deltas.bias"].reshape(12, 4)
    for new, old in enumerate(anchor_permutation(4, 3)):
        np.testing.assert_array_equal(new_logits[new], old_logits[old])
        np.testing.assert_array_equal(new_deltas[new], old_deltas[old])


def test_box_regression_rows_scale_by_std_times_weight():
    # mmdet decodes delta * 0.2; detectron2 with weights (10, 10, 5, 5) decodes delta / 10
    # for dx, dy: those rows double, dw, dh stay.
    scales = delta_scales([0.2] * 4, [10, 10, 5, 5])
    assert scales == pytest.approx((2.0, 2.0, 1.0, 1.0))
    assert delta_scales([0.2] * 4, [5, 5, 5, 5]) == pytest.approx((1.0,) * 4)
    state_dict = reference_state_dict("selsa_w8_a")
    layout = TargetLayout(backbone_prefix="backbone.resnet.", anchor_sizes=4, anchor_ratios=3, box_delta_scales=scales)
    converted = convert_state_dict(state_dict, "selsa", layout)
    old = state_dict["detector.roi_head.bbox_head.fc_reg.weight"].numpy().reshape(30, 4, -1)
    new = converted["roi_heads.box_predictor.bbox_pred.weight"].reshape(30, 4, -1)
    np.testing.assert_allclose(new[:, :2], 2 * old[:, :2], rtol=1e-7)
    np.testing.assert_array_equal(new[:, 2:], old[:, 2:])


def test_an_unknown_key_is_an_error_naming_it():
    state_dict = dict(reference_state_dict("selsa_w8_a"))
    state_dict["detector.roi_head.bbox_head.extra_fc.weight"] = torch.zeros(2, 2)
    with pytest.raises(CheckpointConversionError, match=r"1 keys .* detector\.roi_head\.bbox_head\.extra_fc\.weight"):
        convert_state_dict(state_dict, "selsa", DC5)


def test_a_state_dict_of_another_model_is_named_as_such():
    with pytest.raises(CheckpointConversionError, match="not an mmtracking SELSA"):
        checkpoint_kind(["backbone.body.conv1.weight", "head.weight"])


def test_a_torchvision_resnet_converts_to_detectron2_resnet_names():
    import torchvision

    state_dict = torchvision.models.resnet50().state_dict()
    assert checkpoint_kind(list(state_dict)) == "torchvision_resnet"
    converted = convert_state_dict(state_dict, "torchvision_resnet", TargetLayout(backbone_prefix=""))
    assert "fc.weight" not in converted and not any(k.endswith("num_batches_tracked") for k in converted)
    assert set(converted) >= {
        "stem.conv1.weight",
        "stem.conv1.norm.running_mean",
        "res2.0.shortcut.weight",
        "res5.2.conv3.norm.bias",
        "res4.5.conv2.weight",
    }
    assert len(converted) == 265  # 53 convs + 53 BNs x 4


@pytest.mark.parametrize("name", CASES)
def test_conversion_is_deterministic(name):
    state_dict = reference_state_dict(name)
    kind = checkpoint_kind(list(state_dict))
    first, second = (convert_state_dict(state_dict, kind, DC5) for _ in range(2))
    assert list(first) == list(second) and all(np.array_equal(first[k], second[k]) for k in first)

import pytest
import torch

from detectron2.config import get_cfg
from detectron2.layers import ROIAlign
from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels
from detectron2.structures import Boxes

from troi import add_troi_config
from troi.layers import TemporalRoIAlign
from troi.modeling import TemporalROIPooler
from troi.modeling.poolers import temporal_roi_align_from_config

POOLER_ARGS = dict(output_size=7, sampling_ratio=2, pooler_type="ROIAlignV2")


def random_boxes(num, size):
    xy = torch.rand(num, 2) * size * 0.6
    return Boxes(torch.cat([xy, xy + 8 + torch.rand(num, 2) * size * 0.4], dim=1))


def test_each_image_uses_its_own_support_frames():
    operator = TemporalRoIAlign(8, 2, 4)
    pooler = TemporalROIPooler(temporal_roi_align=operator, in_features=["dc5"], scales=(1 / 16,), **POOLER_ARGS)
    features = [torch.randn(2, 8, 6, 8)]
    boxes = [random_boxes(3, 96), random_boxes(4, 96)]
    supports = [[torch.randn(2, 8, 6, 8)], [torch.randn(3, 8, 5, 8)]]
    out = pooler(features, boxes, supports)
    plain = ROIPooler(scales=(1 / 16,), **POOLER_ARGS)(features, boxes)
    assert torch.allclose(out[:3], operator(plain[:3], supports[0][0]), atol=1e-6)
    assert torch.allclose(out[3:], operator(plain[3:], supports[1][0]), atol=1e-6)
    assert torch.allclose(pooler(features, boxes), plain, atol=1e-6)  # no supports: RoI Align
    assert torch.allclose(pooler(features, boxes, [None, supports[1]])[:3], plain[:3], atol=1e-6)


def test_fpn_rois_search_the_support_features_of_their_own_level():
    operator = TemporalRoIAlign(4, 1, 0)
    scales = (1 / 4, 1 / 8, 1 / 16)
    pooler = TemporalROIPooler(
        temporal_roi_align=operator, in_features=["p2", "p3", "p4"], scales=scales, **POOLER_ARGS
    )
    features = [torch.randn(1, 4, 64 // s, 64 // s) for s in (4, 8, 16)]
    boxes = [Boxes(torch.tensor([[0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 60.0, 60.0], [4.0, 4.0, 200.0, 200.0]]))]
    levels = assign_boxes_to_levels(boxes, 2, 4, 224, 4)
    supports = [[torch.randn(2, 4, 64 // s, 64 // s) for s in (4, 8, 16)]]
    out = pooler(features, boxes, supports)
    plain = ROIPooler(scales=scales, **POOLER_ARGS)(features, boxes)
    for roi, level in enumerate(levels.tolist()):
        expected = operator(plain[roi : roi + 1], supports[0][level])
        assert torch.allclose(out[roi : roi + 1], expected, atol=1e-6)


def test_gradients_reach_the_embedding():
    operator = TemporalRoIAlign(8, 2, 4)
    pooler = TemporalROIPooler(temporal_roi_align=operator, in_features=["dc5"], scales=(1 / 16,), **POOLER_ARGS)
    pooler([torch.randn(1, 8, 6, 8)], [random_boxes(3, 96)], [[torch.randn(2, 8, 6, 8)]]).sum().backward()
    assert operator.embed.weight.grad.abs().sum() > 0


def test_the_frame_group_scope_gives_the_supports_to_an_unchanged_call():
    from troi.modeling.frame_group_scope import FrameGroupScope
    from troi.modeling.support_frames import SupportFrames

    operator = TemporalRoIAlign(8, 2, 4)
    pooler = TemporalROIPooler(temporal_roi_align=operator, in_features=["dc5"], scales=(1 / 16,), **POOLER_ARGS)
    pooler.frame_group = FrameGroupScope()
    features, boxes = [torch.randn(1, 8, 6, 8)], [random_boxes(3, 96)]
    frames = torch.randn(2, 8, 6, 8)
    support = SupportFrames([{"dc5": frame} for frame in frames], [2], [(96, 128)] * 2)
    plain = pooler(features, boxes)
    with pooler.frame_group.of(support):
        scoped = pooler(features, boxes)
        with pooler.frame_group.of(None):  # a nested call without supports keeps them
            assert torch.equal(pooler(features, boxes), scoped)
    assert torch.allclose(scoped, operator(plain, frames), atol=1e-6)
    assert torch.equal(pooler(features, boxes), plain)  # the scope ended: plain RoI Align again


def test_the_operator_takes_its_settings_from_the_config():
    cfg = get_cfg()
    add_troi_config(cfg)
    assert cfg.MODEL.TROI.SIMILARITY_PRECISION == "exact"
    cfg.merge_from_list(["MODEL.TROI.SIMILARITY_PRECISION", "bfloat16", "MODEL.TROI.SIMILARITY_CHUNK_SIZE", 1000])
    operator = temporal_roi_align_from_config(cfg, 16)
    assert (operator.similarity_precision, operator.similarity_chunk_size) == ("bfloat16", 1000)
    cfg.merge_from_list(["MODEL.TROI.SIMILARITY_PRECISION", "fp8"])
    with pytest.raises(ValueError, match="similarity_precision 'fp8' must be one of"):
        temporal_roi_align_from_config(cfg, 16)


def test_many_rois_search_through_the_poolers_sampling_with_the_same_result():
    # 40 RoIs of 49 cells on a 6x8 map: the search through RoI Align's sampling pays
    operator = TemporalRoIAlign(16, 2, 4).double()
    pooler = TemporalROIPooler(temporal_roi_align=operator, in_features=["dc5"], scales=(1 / 16,), **POOLER_ARGS)
    features = [torch.randn(1, 16, 6, 8, dtype=torch.float64).relu()]
    corners = torch.rand(40, 2, dtype=torch.float64) * torch.tensor([60.0, 30.0])
    boxes = [Boxes(torch.cat([corners, corners + 16 + torch.rand(40, 2, dtype=torch.float64) * 40], dim=1))]
    supports = [[torch.randn(3, 16, 7, 9, dtype=torch.float64).relu()]]
    assert pooler.cell_sampling(0, features[0][0], boxes[0].tensor).search_pays()
    with torch.no_grad():
        out = pooler(features, boxes, supports)
        plain = ROIPooler(scales=(1 / 16,), **POOLER_ARGS)(features, boxes)
        assert torch.allclose(out, operator(plain, supports[0][0]), rtol=0, atol=1e-12)
    roi_pool = TemporalROIPooler(
        temporal_roi_align=operator,
        in_features=["dc5"],
        scales=(1 / 16,),
        output_size=7,
        sampling_ratio=0,
        pooler_type="ROIPool",
    )
    assert roi_pool.cell_sampling(0, features[0][0], boxes[0].tensor) is None


@pytest.mark.parametrize("pooler_type, sampling_ratio", [("ROIAlignV2", 2), ("ROIAlign", 0), ("ROIAlignV2", 0)])
def test_on_cpu_roi_align_runs_through_the_bags_with_its_values_and_gradients(monkeypatch, pooler_type, sampling_ratio):
    args = dict(output_size=7, scales=(1 / 4, 1 / 8, 1 / 16), sampling_ratio=sampling_ratio, pooler_type=pooler_type)
    pooler = TemporalROIPooler(temporal_roi_align=TemporalRoIAlign(4, 1, 0), in_features=["p2", "p3", "p4"], **args)
    generator = torch.Generator().manual_seed(0)
    features = [torch.randn(2, 4, 128 // s, 96 // s, generator=generator, dtype=torch.float64) for s in (4, 8, 16)]
    corners = torch.rand(9, 2, generator=generator, dtype=torch.float64) * 80 - 10
    sizes = 2 + torch.rand(9, 2, generator=generator, dtype=torch.float64) * 400
    boxes = [Boxes(torch.cat([corners, corners + sizes], dim=1)), Boxes(torch.zeros(0, 4, dtype=torch.float64))]
    boxes = boxes[::-1] + [boxes[0]]  # images without, with, with RoIs: (3, 4, ...) features
    features = [torch.cat([level, level[:1]]).requires_grad_() for level in features]
    assert len(set(assign_boxes_to_levels(boxes, 2, 4, 224, 4).tolist())) == 3  # RoIs on every level
    expected = ROIPooler(**args)(features, boxes)
    expected_grads = torch.autograd.grad(expected.square().sum(), features)
    assert pooler.aligns_through_bags(features)
    monkeypatch.setattr(ROIAlign, "forward", lambda *_: pytest.fail("torchvision's roi_align ran"))
    out = pooler(features, boxes)
    assert out.shape == expected.shape and torch.allclose(out, expected, rtol=0, atol=1e-12)
    grads = torch.autograd.grad(out.square().sum(), features)
    assert all(torch.allclose(g, e, rtol=0, atol=1e-10) for g, e in zip(grads, expected_grads))
    no_rois = pooler(features, [Boxes(torch.zeros(0, 4, dtype=torch.float64))] * 3)
    assert no_rois.shape == (0, 4, 7, 7)


def test_features_and_rois_of_other_images_or_levels_are_an_error():
    pooler = TemporalROIPooler(
        temporal_roi_align=TemporalRoIAlign(4, 1, 0), in_features=["dc5"], scales=(1 / 16,), **POOLER_ARGS
    )
    features = [torch.randn(1, 4, 6, 8)]
    with pytest.raises(
        ValueError,
        match=r"pools 1 level\(s\); it got features of 1 level\(s\) of 1 image\(s\), and RoIs of 2 image\(s\)",
    ):
        pooler(features, [random_boxes(2, 96), random_boxes(3, 96)])
    with pytest.raises(ValueError, match=r"features of 2 level\(s\)"):
        pooler(features * 2, [random_boxes(2, 96)])

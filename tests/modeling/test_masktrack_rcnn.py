import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances
from detectron2.utils.events import EventStorage

from tests.conftest import tiny_video_cfg, tiny_vis_cfg
from troi.modeling import TemporalROIPooler

SIZE = (64, 96)


def ground_truth(boxes, ids, classes=None):
    instances = Instances(SIZE)
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    instances.gt_boxes = Boxes(boxes)
    instances.gt_classes = torch.tensor(classes if classes is not None else [0] * len(boxes), dtype=torch.long)
    masks = torch.zeros(len(boxes), *SIZE, dtype=torch.bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes.int().tolist()):
        mask[y0:y1, x0:x1] = True
    instances.gt_masks = BitMasks(masks)
    instances.gt_ids = torch.tensor(ids, dtype=torch.long)
    return instances


def frame_group(
    num_supports=1,
    video_id=1,
    seed=0,
    boxes=((8, 8, 40, 36), (50, 20, 90, 60)),
    ids=(3, 4),
    reference_boxes=((10, 8, 42, 36),),
    reference_ids=(3,),
    training=True,
):
    """A target frame, its reference frame (the first support) and ``num_supports`` more."""
    generator = torch.Generator().manual_seed(seed)
    image = lambda: torch.rand(3, *SIZE, generator=generator) * 255  # noqa: E731
    num_frames = num_supports + (1 if training else 0)
    group = {
        "image": image(),
        "height": SIZE[0],
        "width": SIZE[1],
        "video_id": video_id,
        "frame_id": seed,
        "support_images": [image() for _ in range(num_frames)],
        "support_frame_ids": [100 + seed * 10 + k for k in range(num_frames)],
    }
    if training:
        group["instances"] = ground_truth(boxes, ids)
        group["reference_instances"] = ground_truth(reference_boxes, reference_ids)
    return group


def build(troi_on=False, **changes):
    cfg = tiny_vis_cfg(troi_on)
    cfg.merge_from_list([item for pair in changes.items() for item in pair])
    torch.manual_seed(0)
    return build_model(cfg)


def training_batch():
    return [
        frame_group(seed=0),
        frame_group(seed=1, boxes=(), ids=()),  # no GT in the target
        frame_group(seed=2, reference_boxes=(), reference_ids=()),  # nothing to match in the reference
    ]


@pytest.mark.parametrize("troi_on", [False, True], ids=["roi_align", "troi"])
def test_one_training_iteration(troi_on):
    model = build(troi_on)
    heads = model.roi_heads
    for pooler in (heads.box_pooler, heads.mask_pooler, heads.track_pooler):
        assert isinstance(pooler, TemporalROIPooler) == troi_on
    with EventStorage():
        losses = model(training_batch())
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_mask", "loss_track", "loss_rpn_cls", "loss_rpn_loc"}
    total = sum(losses.values())
    assert torch.isfinite(total) and losses["loss_track"] > 0
    total.backward()
    assert heads.track_head.fcs[0].weight.grad.abs().sum() > 0
    troi_parameters = [(name, p) for name, p in model.named_parameters() if "temporal_roi_align" in name]
    assert len({name.split(".")[1] for name, _ in troi_parameters}) == (3 if troi_on else 0)  # one per branch
    for name, param in troi_parameters:
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_track_branch_embeds_the_reference_ground_truth():
    model = build()
    batch_sizes = []
    model.roi_heads.track_head.register_forward_hook(lambda module, inputs, output: batch_sizes.append(len(inputs[0])))
    with EventStorage():
        model(training_batch())
    assert batch_sizes[1] == 2  # the second call: the reference instances (1 + 0 + 1)


def test_troi_branches_are_switched_separately():
    heads = build(True, **{"MODEL.TROI.BRANCHES": ["track"]}).roi_heads
    assert not isinstance(heads.box_pooler, TemporalROIPooler)
    assert not isinstance(heads.mask_pooler, TemporalROIPooler)
    assert isinstance(heads.track_pooler, TemporalROIPooler)
    with pytest.raises(ValueError, match="unknown branches"):
        build(True, **{"MODEL.TROI.BRANCHES": ["keypoint"]})


def run_video(model, video_id, frames):
    with torch.no_grad():
        return [
            model([frame_group(2, video_id=video_id, seed=seed, training=False)])[0]["instances"] for seed in frames
        ]


@pytest.mark.parametrize("troi_on", [False, True], ids=["roi_align", "troi"])
def test_inference_tracks_each_video(troi_on):
    model = build(troi_on).eval()
    first = run_video(model, 1, [0, 1, 0])
    for instances in first:
        assert {"pred_boxes", "scores", "pred_classes", "pred_masks", "track_ids"} == set(instances.get_fields())
        assert instances.track_ids.dtype == torch.long
        assert len(set(instances.track_ids.tolist())) == len(instances) > 0  # unique within a frame
        assert instances.pred_masks.shape[1:] == SIZE
    assert torch.equal(first[2].track_ids, first[0].track_ids)  # the same frame again: the same tracks
    second = run_video(model, 2, [0])[0]
    assert sorted(second.track_ids.tolist()) == list(range(len(second)))  # a new video starts afresh


def test_frame_without_detections_keeps_the_tracks(monkeypatch):
    model = build().eval()
    first = run_video(model, 1, [0])[0]
    detect = model.proposal_generator.forward
    empty = Instances(SIZE, proposal_boxes=Boxes(torch.zeros(0, 4)), objectness_logits=torch.zeros(0))
    monkeypatch.setattr(
        model.proposal_generator, "forward", lambda images, features, gt=None: ([empty] * len(images.image_sizes), {})
    )
    nothing = run_video(model, 1, [1])[0]
    assert len(nothing) == 0 and nothing.track_ids.shape == (0,)
    monkeypatch.setattr(model.proposal_generator, "forward", detect)
    again = run_video(model, 1, [0])[0]
    assert torch.equal(again.track_ids, first.track_ids)


def test_the_meta_architecture_alone_says_it_trains_on_reference_frames():
    """The former MODEL.TRACK_HEAD.ENABLED switch (a second source of that fact) is ignored."""
    model = build(**{"MODEL.TRACK_HEAD.ENABLED": False})
    assert type(model).trains_on_reference_frames
    assert not build_model(tiny_video_cfg(False, False)).trains_on_reference_frames


def test_clear_errors():
    with pytest.raises(ValueError, match="MaskTrackRCNN needs MODEL.ROI_HEADS.NAME = 'MaskTrackROIHeads'"):
        build(**{"MODEL.ROI_HEADS.NAME": "TemporalROIHeads"})
    model = build()
    batch = training_batch()
    del batch[1]["reference_instances"]
    with EventStorage(), pytest.raises(ValueError, match=r"inputs \[1\] have no 'reference_instances'"):
        model(batch)

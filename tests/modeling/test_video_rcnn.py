import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from tests.conftest import tiny_video_cfg
from troi.layers import SelsaAggregator, TemporalRoIAlign

VARIANTS = {"single_frame": (False, False), "troi": (True, False), "selsa": (False, True), "selsa_troi": (True, True)}
SIZE = (64, 96)


def frame_group(num_supports, video_id=1, boxes=((8.0, 8.0, 40.0, 36.0),), support_ids=None):
    generator = torch.Generator().manual_seed(video_id)
    image = lambda: torch.rand(3, *SIZE, generator=generator) * 255  # noqa: E731
    instances = Instances(SIZE)
    instances.gt_boxes = Boxes(torch.tensor(boxes).reshape(-1, 4))
    instances.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
    return {
        "image": image(), "height": SIZE[0], "width": SIZE[1], "instances": instances, "video_id": video_id,
        "support_images": [image() for _ in range(num_supports)],
        "support_frame_ids": list(support_ids if support_ids is not None else range(num_supports)),
    }


def build(variant):
    torch.manual_seed(0)
    return build_model(tiny_video_cfg(*VARIANTS[variant]))


def count_backbone_images(model):
    """Records the batch size of every backbone call."""
    calls = []
    model.backbone.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    return calls


@pytest.mark.parametrize("variant", VARIANTS)
def test_train_and_eval_every_variant(variant):
    model = build(variant)
    assert any(isinstance(m, TemporalRoIAlign) for m in model.modules()) == VARIANTS[variant][0]
    assert any(isinstance(m, SelsaAggregator) for m in model.modules()) == VARIANTS[variant][1]
    batch = [frame_group(2), frame_group(2, video_id=2, boxes=()), frame_group(0, video_id=3)]  # empty GT, no supports
    with EventStorage():
        losses = model(batch)
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_rpn_cls", "loss_rpn_loc"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    for name, param in model.named_parameters():
        if "temporal_roi_align" in name or "aggregators" in name:
            assert param.grad is not None and torch.isfinite(param.grad).all(), name
    model.eval()
    with torch.no_grad():
        outputs = model([frame_group(3, video_id=4), frame_group(0, video_id=5)])
    for output in outputs:
        instances = output["instances"]
        assert instances.image_size == SIZE and len(instances) <= 100
        assert (instances.scores >= 0).all() and (instances.pred_classes < 3).all()


@pytest.mark.parametrize("variant", ["troi", "selsa_troi"])
def test_zero_proposals_at_inference(variant, monkeypatch):
    model = build(variant).eval()
    empty = Instances(SIZE)
    empty.proposal_boxes = Boxes(torch.zeros(0, 4))
    empty.objectness_logits = torch.zeros(0)
    monkeypatch.setattr(model.proposal_generator, "forward",
                        lambda images, features, gt=None: ([empty] * len(images.image_sizes), {}))
    with torch.no_grad():
        outputs = model([frame_group(3)])
    assert len(outputs[0]["instances"]) == 0


@pytest.mark.parametrize("variant", ["troi", "selsa_troi"])
def test_one_frame_video_computes_its_copies_once(variant):
    model = build(variant)
    calls = count_backbone_images(model)
    with EventStorage():
        model([frame_group(2, support_ids=[0, 0])])  # a one-frame video: both supports are frame 0
    assert calls == [2]  # one pass: the target and one copy


def test_one_backbone_pass_for_targets_and_supports():
    model = build("selsa_troi")
    calls = count_backbone_images(model)
    with EventStorage():
        model([frame_group(2), frame_group(2, video_id=2)])
    assert calls == [6]


def test_inference_reuses_support_frames_across_targets():
    model = build("selsa_troi").eval()
    calls = count_backbone_images(model)
    with torch.no_grad():
        first = model([frame_group(3)])[0]["instances"]
        second = model([frame_group(3)])[0]["instances"]  # same video and support frames
        model([frame_group(3, support_ids=[1, 2, 3])])  # one new support frame
    assert calls == [4, 1, 2]
    # Same values; float32 rounding differs with the backbone's batch composition.
    assert torch.allclose(first.pred_boxes.tensor, second.pred_boxes.tensor, atol=1e-2)
    model.train()  # a mode switch (e.g. the next evaluation) drops the caches
    model.eval()
    with torch.no_grad():
        model([frame_group(3)])
    assert calls[-1] == 4


def test_cached_inference_equals_uncached():
    model = build("selsa_troi").eval()
    with torch.no_grad():
        model([frame_group(3, video_id=9)])  # fills the caches
        cached = model([frame_group(3, video_id=9)])[0]["instances"]
        model.train().eval()
        fresh = model([frame_group(3, video_id=9)])[0]["instances"]
    assert torch.allclose(cached.pred_boxes.tensor, fresh.pred_boxes.tensor, atol=1e-2)
    assert torch.allclose(cached.scores, fresh.scores, atol=1e-3)  # float32 rounding differs with the batch


def test_needs_temporal_roi_heads():
    cfg = tiny_video_cfg()
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    with pytest.raises(ValueError, match="VideoRCNN needs MODEL.ROI_HEADS.NAME = 'TemporalROIHeads'"):
        build_model(cfg)


def numbered_frame(frame_id, num_supports=3, video_id=1):
    """Inference input for frame ``frame_id`` of a video whose frames 0..9 are fixed images."""
    frames = [torch.rand(3, *SIZE, generator=torch.Generator().manual_seed(video_id * 100 + i)) * 255 for i in range(10)]
    supports = list(range(num_supports))
    return {"image": frames[frame_id], "height": SIZE[0], "width": SIZE[1], "video_id": video_id, "frame_id": frame_id,
            "support_images": [frames[i] for i in supports], "support_frame_ids": supports}


def test_a_target_that_was_a_support_skips_the_backbone():
    model = build("selsa_troi").eval()
    calls = count_backbone_images(model)
    with torch.no_grad():
        model([numbered_frame(0)])  # frame 0 is the target and a support: computed once
        cached = model([numbered_frame(2)])[0]["instances"]  # every frame cached: no backbone call
        model([numbered_frame(5)])  # a new target
        model.train().eval()
        fresh = model([numbered_frame(2)])[0]["instances"]
    assert calls == [3, 1, 3]
    assert torch.allclose(cached.pred_boxes.tensor, fresh.pred_boxes.tensor, atol=1e-2)
    assert torch.allclose(cached.scores, fresh.scores, atol=1e-3)


def test_cached_frames_keep_their_operator_encodings(monkeypatch):
    model = build("troi").eval()
    encoded = []
    operator = model.roi_heads.box_pooler.temporal_roi_align
    encode = operator.encode_support
    monkeypatch.setattr(operator, "encode_support", lambda frame: encoded.append(frame.shape) or encode(frame))
    with torch.no_grad():
        for frame_id in range(4):
            model([numbered_frame(frame_id)])
    assert len(encoded) == 3  # each support frame once, for all four targets


def test_frames_without_ids_are_never_cached():
    model = build("troi").eval()
    with torch.no_grad():
        model([frame_group(3)])  # target without a frame_id
        assert model.cached_frames == 3
        model([{k: v for k, v in frame_group(2).items() if k != "support_frame_ids"}])
    assert model.cached_frames == 3
    model.train()
    assert model.cached_frames == 0

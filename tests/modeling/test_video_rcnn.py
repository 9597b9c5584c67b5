import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from tests.conftest import tiny_video_cfg
from troi.layers import SelsaAggregator, TemporalRoIAlign
from troi.modeling.video_inference_cache import VideoInferenceCache

VARIANTS = {"single_frame": (False, False), "troi": (True, False), "selsa": (False, True), "selsa_troi": (True, True)}
SIZE = (64, 96)


def frame_group(num_supports, video_id=1, boxes=((8.0, 8.0, 40.0, 36.0),), support_ids=None):
    generator = torch.Generator().manual_seed(video_id)
    image = lambda: torch.rand(3, *SIZE, generator=generator) * 255  # noqa: E731
    instances = Instances(SIZE)
    instances.gt_boxes = Boxes(torch.tensor(boxes).reshape(-1, 4))
    instances.gt_classes = torch.zeros(len(boxes), dtype=torch.long)
    return {
        "image": image(),
        "height": SIZE[0],
        "width": SIZE[1],
        "instances": instances,
        "video_id": video_id,
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


def count_backbone_images_per_call(model):
    """Records the images the backbone ran on in every model call (at inference it runs
    one image at a time)."""
    calls = []
    model.register_forward_pre_hook(lambda module, inputs: calls.append(0))
    model.backbone.register_forward_hook(
        lambda module, inputs, output: calls.__setitem__(-1, calls[-1] + len(inputs[0]))
    )
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
    groups = [frame_group(3, video_id=4), frame_group(0, video_id=5)]
    resupported = dict(groups[0], support_images=frame_group(3, video_id=6)["support_images"])
    with torch.no_grad():
        batched = [output["instances"] for output in model(groups)]
        alone = [model([group])[0]["instances"] for group in groups]
        other_supports = model([resupported])[0]["instances"]
    for together, by_itself in zip(batched, alone):  # a frame group's detections do not depend on the batch
        assert together.image_size == SIZE and len(together) > 0
        torch.testing.assert_close(together.scores, by_itself.scores, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(together.pred_boxes.tensor, by_itself.pred_boxes.tensor, atol=1e-3, rtol=1e-4)
    # The detections of a temporal variant depend on the support frames; the single-frame ones do not.
    same = len(other_supports) == len(alone[0]) and torch.allclose(other_supports.scores, alone[0].scores)
    assert same == (VARIANTS[variant] == (False, False))


@pytest.mark.parametrize("variant", ["troi", "selsa_troi"])
def test_zero_proposals_at_inference(variant, monkeypatch):
    model = build(variant).eval()
    empty = Instances(SIZE)
    empty.proposal_boxes = Boxes(torch.zeros(0, 4))
    empty.objectness_logits = torch.zeros(0)
    monkeypatch.setattr(
        model.proposal_generator, "forward", lambda images, features, gt=None: ([empty] * len(images.image_sizes), {})
    )
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


def cached(inputs, cache):
    return {**inputs, "inference_cache": cache}


def test_inference_reuses_support_frames_across_targets():
    model = build("selsa_troi").eval()
    calls = count_backbone_images_per_call(model)
    passes = count_backbone_images(model)
    cache = VideoInferenceCache(max_frames=8)
    with torch.no_grad():
        first = model([cached(frame_group(3), cache)])[0]["instances"]
        second = model([cached(frame_group(3), cache)])[0]["instances"]  # same video and support frames
        model([cached(frame_group(3, support_ids=[1, 2, 3]), cache)])  # one new support frame
    assert calls == [4, 1, 2] and passes == [1] * 7  # one image per backbone pass
    # Same values; float32 rounding differs with the backbone's batch composition.
    assert torch.allclose(first.pred_boxes.tensor, second.pred_boxes.tensor, atol=1e-2)
    cache.reset()  # e.g. the next evaluation: the caller's cache starts empty
    with torch.no_grad():
        model([cached(frame_group(3), cache)])
        model([frame_group(3)])  # no cache: the model keeps nothing between calls
        model([frame_group(3)])
    assert calls[-3:] == [4, 4, 4]


def test_cached_inference_equals_uncached():
    model = build("selsa_troi").eval()
    cache = VideoInferenceCache(max_frames=8)
    with torch.no_grad():
        model([cached(frame_group(3, video_id=9), cache)])  # fills the cache
        from_cache = model([cached(frame_group(3, video_id=9), cache)])[0]["instances"]
        fresh = model([frame_group(3, video_id=9)])[0]["instances"]
    assert torch.allclose(from_cache.pred_boxes.tensor, fresh.pred_boxes.tensor, atol=1e-2)
    assert torch.allclose(from_cache.scores, fresh.scores, atol=1e-3)  # float32 rounding differs with the batch
    assert len(cache.frames) == 3  # the supports (the target has no frame_id)
    # SELSA's plain references are per support frame, with its encodings; none per set.
    assert len(cache.references) == 0
    assert all((model.roi_heads.box_head, "references") in cache.frames.get(key).encodings for key in cache.frames)


def test_aggregated_references_are_kept_per_support_set():
    cfg = tiny_video_cfg(troi_on=True, selsa_on=True)
    cfg.MODEL.SELSA.AGGREGATE_REFERENCES = True
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    cache = VideoInferenceCache(max_frames=8)
    with torch.no_grad():
        model([numbered_frame(4, cache=cache)])
        from_cache = model([numbered_frame(5, cache=cache)])[0]["instances"]  # the same support set
        fresh = model([numbered_frame(5)])[0]["instances"]
    assert len(cache.references) == 1
    assert torch.allclose(from_cache.pred_boxes.tensor, fresh.pred_boxes.tensor, atol=1e-2)
    assert torch.allclose(from_cache.scores, fresh.scores, atol=1e-3)


def test_the_inputs_of_a_batch_share_one_cache():
    model = build("troi").eval()
    with pytest.raises(ValueError, match="must share one 'inference_cache'"):
        model([cached(frame_group(2), VideoInferenceCache(4)), cached(frame_group(2), VideoInferenceCache(4))])


def test_needs_temporal_roi_heads():
    cfg = tiny_video_cfg()
    cfg.MODEL.ROI_HEADS.NAME = "StandardROIHeads"
    with pytest.raises(ValueError, match="VideoRCNN needs MODEL.ROI_HEADS.NAME = 'TemporalROIHeads'"):
        build_model(cfg)


def numbered_frame(frame_id, num_supports=3, video_id=1, cache=None):
    """Inference input for frame ``frame_id`` of a video whose frames 0..9 are fixed images."""
    frames = [
        torch.rand(3, *SIZE, generator=torch.Generator().manual_seed(video_id * 100 + i)) * 255 for i in range(10)
    ]
    supports = list(range(num_supports))
    inputs = {
        "image": frames[frame_id],
        "height": SIZE[0],
        "width": SIZE[1],
        "video_id": video_id,
        "frame_id": frame_id,
        "support_images": [frames[i] for i in supports],
        "support_frame_ids": supports,
    }
    return inputs if cache is None else cached(inputs, cache)


def test_a_target_that_was_a_support_skips_the_backbone():
    model = build("selsa_troi").eval()
    calls = count_backbone_images_per_call(model)
    cache = VideoInferenceCache(max_frames=8)
    with torch.no_grad():
        model([numbered_frame(0, cache=cache)])  # frame 0 is the target and a support: computed once
        from_cache = model([numbered_frame(2, cache=cache)])[0]["instances"]  # every frame cached: no backbone
        model([numbered_frame(5, cache=cache)])  # a new target
        fresh = model([numbered_frame(2)])[0]["instances"]
    assert calls == [3, 0, 1, 3]
    assert torch.allclose(from_cache.pred_boxes.tensor, fresh.pred_boxes.tensor, atol=1e-2)
    assert torch.allclose(from_cache.scores, fresh.scores, atol=1e-3)


def test_cached_frames_keep_their_operator_encodings(monkeypatch):
    model = build("troi").eval()
    encoded = []
    operator = model.roi_heads.box_pooler.temporal_roi_align
    encode = operator.encode_support
    monkeypatch.setattr(operator, "encode_support", lambda frame: encoded.append(frame.shape) or encode(frame))
    cache = VideoInferenceCache(max_frames=8)
    with torch.no_grad():
        for frame_id in range(4):
            model([numbered_frame(frame_id, cache=cache)])
    assert len(encoded) == 3  # each support frame once, for all four targets


def test_frames_without_ids_are_never_cached():
    model = build("troi").eval()
    cache = VideoInferenceCache(max_frames=8)
    with torch.no_grad():
        model([cached(frame_group(3), cache)])  # target without a frame_id
        assert len(cache.frames) == 3
        model([cached({k: v for k, v in frame_group(2).items() if k != "support_frame_ids"}, cache)])
    assert len(cache.frames) == 3


def test_the_cache_holds_at_most_its_capacity():
    model = build("troi").eval()
    cache = VideoInferenceCache(max_frames=4)
    with torch.no_grad():
        for frame_id in range(6):
            model([numbered_frame(frame_id, cache=cache)])
            assert len(cache.frames) <= 4
    assert sorted(frame_id for _, frame_id, _ in cache.frames) == [0, 1, 2, 5]  # the supports, the latest target


def test_given_detections_get_temporal_mask_features():
    """Before, inference with detected_instances skipped the support frames in the mask branch."""
    cfg = tiny_video_cfg(troi_on=True)
    cfg.merge_from_list(
        [
            "MODEL.MASK_ON",
            True,
            "MODEL.ROI_MASK_HEAD.NAME",
            "MaskRCNNConvUpsampleHead",
            "MODEL.ROI_MASK_HEAD.NUM_CONV",
            1,
            "MODEL.ROI_MASK_HEAD.CONV_DIM",
            8,
            "MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION",
            7,
            "MODEL.ROI_MASK_HEAD.POOLER_TYPE",
            "ROIAlignV2",
        ]
    )
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    assert model.roi_heads.mask_pooler.temporal_roi_align is not None
    seen = []
    operator = model.roi_heads.mask_pooler.temporal_roi_align
    operator.register_forward_hook(lambda module, inputs, output: seen.append(len(inputs[0])))
    detected = Instances(SIZE, pred_boxes=Boxes(torch.tensor([[8.0, 8.0, 40.0, 36.0]])), pred_classes=torch.tensor([0]))
    with torch.no_grad():
        out = model.inference([numbered_frame(4)], detected_instances=[detected])[0]["instances"]
    assert seen == [1] and out.pred_masks.shape == (1, *SIZE)

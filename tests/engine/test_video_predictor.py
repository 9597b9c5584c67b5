import numpy as np
import pytest
import torch

from tests.conftest import tiny_video_cfg
from troi.data.support_frame_positions import past_support_frames, uniform_support_frames
from troi.engine import VideoPredictor


def predictor_cfg(num_supports=14, stride=1, troi_on=True, selsa_on=False):
    cfg = tiny_video_cfg(troi_on=troi_on, selsa_on=selsa_on)
    cfg.merge_from_list(
        [
            "INPUT.MIN_SIZE_TEST",
            64,
            "INPUT.MAX_SIZE_TEST",
            96,
            "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
            0.2,
            "INPUT.SUPPORT_FRAMES.TEST.NUM",
            num_supports,
            "INPUT.SUPPORT_FRAMES.TEST.STRIDE",
            stride,
        ]
    )
    return cfg


def video(num_frames, size=(64, 96), seed=0):
    """BGR frames of a smooth random video."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[0], size[1], 3))
    return [np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8) for _ in range(num_frames)]


def build_predictor(*args, **kwargs):
    torch.manual_seed(0)
    return VideoPredictor(predictor_cfg(*args, **kwargs))


def bounded_run(predictor, frames, mode):
    """Predict, checking after every frame that the model's cache stays bounded."""
    predictions = []
    for prediction in predictor(frames, mode=mode, progress=False):
        assert len(predictor.inference_cache.frames) <= predictor.num_support_frames + 1  # the supports and this frame
        predictions.append(prediction)
    assert len(predictor.inference_cache.frames) == 0  # freed at the end of the video
    return predictions


def test_offline_runs_each_frame_through_the_backbone_once():
    predictor = build_predictor(selsa_on=True)  # TRoI and SELSA: every inference cache in use
    frames = video(30)
    predictions = bounded_run(predictor, frames, "offline")
    assert predictor.stats.frames == 30 and predictor.stats.backbone_calls == 30
    assert predictor.stats.seconds > 0 and predictor.stats.fps > 0
    assert [p.index for p in predictions] == list(range(30))
    supports = uniform_support_frames(30, 14)
    for prediction in predictions:
        assert prediction.inputs["support_frame_ids"] == supports
        assert prediction.image is frames[prediction.index]
        assert prediction.instances.image_size == (64, 96) and prediction.instances.pred_boxes.device.type == "cpu"
    # A naive pass (each frame group from scratch, no cache) gives the same outputs.
    naive_images = 0
    for prediction, (index, _, inputs) in list(zip(predictions, predictor.frame_groups(frames, "offline")))[::3]:
        calls = predictor.stats.backbone_calls
        with torch.no_grad():  # without the cache: every frame group from scratch
            naive = predictor.model([{k: v for k, v in inputs.items() if k != "inference_cache"}])[0]["instances"]
        naive_images += predictor.stats.backbone_calls - calls
        assert len(naive) == len(prediction.instances), index
        # the same detections (rounding may swap two whose scores differ by < 1e-3)
        box_distance = torch.cdist(naive.pred_boxes.tensor, prediction.instances.pred_boxes.tensor, p=float("inf"))
        nearest = box_distance.argmin(dim=1)
        assert sorted(nearest.tolist()) == list(range(len(naive))), index
        assert (box_distance.min(dim=1).values <= 0.1).all()
        assert torch.allclose(naive.scores, prediction.instances.scores[nearest], atol=1e-3)
        assert torch.equal(naive.pred_classes, prediction.instances.pred_classes[nearest])
    assert naive_images == sum(14 + (index not in supports) for index in range(0, 30, 3))


@pytest.mark.parametrize("stride", [1, 3])
def test_streaming_uses_past_frames_each_through_the_backbone_once(stride):
    predictor = build_predictor(num_supports=3, stride=stride)
    predictions = bounded_run(predictor, video(40), "streaming")
    assert predictor.stats.frames == predictor.stats.backbone_calls == 40
    for prediction in predictions:
        assert prediction.inputs["support_frame_ids"] == past_support_frames(prediction.index, 3, stride)
    # One ring buffer: a frame's image is the same tensor as target and as a later support.
    images = {p.index: p.inputs["image"] for p in predictions}
    for prediction in predictions[1:]:
        for frame_id, image in zip(prediction.inputs["support_frame_ids"], prediction.inputs["support_images"]):
            assert image is images[frame_id]


def test_streaming_memory_does_not_grow_with_the_video():
    predictor = build_predictor(num_supports=2)
    sizes = []
    for prediction in predictor(video(50), mode="streaming", progress=False):
        sizes.append(len(predictor.inference_cache.frames))
    assert max(sizes) <= predictor.inference_cache.frames.capacity == 3  # T supports and the current frame
    assert sizes[10:] == [sizes[10]] * 40  # steady state
    assert predictor.stats.backbone_calls == 50


def test_frames_from_a_folder_and_arrays_agree(tmp_path):
    import cv2

    frames = video(5)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{index}.png"), frame)
    predictor = build_predictor(num_supports=2)
    from_arrays = [p.instances for p in predictor(frames, progress=False)]
    from_folder = [p.instances for p in predictor(str(tmp_path), progress=False)]
    for a, b in zip(from_arrays, from_folder):
        assert torch.equal(a.scores, b.scores)


def test_rgb_models_get_rgb_frames():
    cfg = predictor_cfg(num_supports=1)
    cfg.INPUT.FORMAT = "RGB"
    frames = video(2)
    index, _, inputs = next(iter(VideoPredictor(cfg).frame_groups(frames)))
    assert torch.equal(inputs["image"], torch.as_tensor(frames[0][:, :, ::-1].transpose(2, 0, 1).copy()))


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown video inference mode 'online'"):
        build_predictor(num_supports=1).frame_groups(video(2), "online")


def test_streaming_takes_a_live_stream():
    predictor = build_predictor(num_supports=2)
    live = (frame for frame in video(5))  # no length, read once
    assert [p.index for p in predictor(live, mode="streaming", progress=False)] == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="offline inference needs a video file, a folder or a list"):
        next(predictor((frame for frame in video(5)), mode="offline", progress=False))


@pytest.mark.parametrize("mode", ["offline", "streaming"])
def test_the_target_frame_can_be_its_own_last_support(mode):
    cfg = predictor_cfg(num_supports=4)
    cfg.INPUT.SUPPORT_FRAMES.TEST.INCLUDE_TARGET = True  # as the reference's test
    torch.manual_seed(0)
    predictor = VideoPredictor(cfg)
    predictions = bounded_run(predictor, video(9), mode)
    assert predictor.stats.backbone_calls == 9  # the target as a support costs nothing more
    for prediction in predictions:
        assert prediction.inputs["support_frame_ids"][-1] == prediction.index
        assert prediction.inputs["support_images"][-1] is prediction.inputs["image"]
        assert len(prediction.inputs["support_frame_ids"]) == 5

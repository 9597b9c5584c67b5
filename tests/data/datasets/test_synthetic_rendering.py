"""render_video: one synthetic video, drawn from its generator, rendered frame by frame."""

import numpy as np

from troi.data.datasets.synthetic_rendering import DEGRADATIONS, SYNTHETIC_CLASSES, render_video


def render(seed):
    objects, frames = render_video(np.random.default_rng([seed, 1]), (64, 96), (6, 12), 3, first_instance_id=5)
    return objects, list(frames)


def test_frames_objects_and_masks():
    objects, frames = render(0)
    assert 6 <= len(frames) <= 12 and 1 <= len(objects) <= 3
    assert [obj.instance_id for obj in objects] == list(range(5, 5 + len(objects)))
    assert all(1 <= obj.category_id <= len(SYNTHETIC_CLASSES) for obj in objects)
    for frame in frames:
        assert frame.image.shape == (64, 96, 3) and frame.image.dtype == np.uint8
        assert frame.degradation is None or frame.degradation in DEGRADATIONS
        assert len(frame.amodal) == len(frame.visible) == len(objects)
        for amodal, visible in zip(frame.amodal, frame.visible):
            assert amodal.any() and not (visible & ~amodal).any()  # the visible part lies in the object
            if frame.degradation != "occlusion":
                assert np.array_equal(visible, amodal)


def test_the_same_generator_state_renders_the_same_video():
    (_, first), (_, again), (_, other) = render(0), render(0), render(1)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again)) and len(first) == len(again)
    assert len(first) != len(other) or any(not np.array_equal(a.image, b.image) for a, b in zip(first, other))

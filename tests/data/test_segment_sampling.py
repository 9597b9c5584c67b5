import numpy as np
import pytest

from troi.data import segment_frame_indices


def test_one_frame_from_each_equal_segment_at_random_in_training():
    np.random.seed(0)
    draws = np.stack([segment_frame_indices(80, 8, random=True) for _ in range(2000)])
    assert draws.shape == (2000, 8)
    for segment in range(8):
        assert set(draws[:, segment]) == set(range(10 * segment, 10 * segment + 10))  # all of its 10 frames
    counts = np.bincount(draws[:, 3] - 30, minlength=10)
    assert counts.min() > 150  # uniform within the segment (200 expected each)


def test_centre_frames_at_test():
    assert segment_frame_indices(80, 8, random=False).tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    assert segment_frame_indices(17, 8, random=False).tolist() == [1, 3, 5, 7, 9, 11, 13, 15]  # floor((k+.5)*17/8)
    assert segment_frame_indices(8, 8, random=False).tolist() == list(range(8))


def test_short_videos_repeat_frames_in_order():
    np.random.seed(1)
    for num_frames in (1, 3, 7):
        for random in (True, False):
            indices = segment_frame_indices(num_frames, 8, random=random)
            assert len(indices) == 8 and indices.min() >= 0 and indices.max() < num_frames
            assert (np.diff(indices) >= 0).all()
    assert segment_frame_indices(1, 8, random=True).tolist() == [0] * 8


def test_clear_errors():
    with pytest.raises(ValueError, match="at least 1 frame"):
        segment_frame_indices(0, 8, random=False)
    with pytest.raises(ValueError, match="num_segments T must be >= 1"):
        segment_frame_indices(10, 0, random=False)

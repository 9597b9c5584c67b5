import numpy as np
import pytest

from troi.data.support_frame_positions import (
    past_support_frames,
    random_support_frames,
    reference_frame_position,
    sample_support_frames,
    strided_support_frames,
    uniform_support_frames,
)


def test_uniform_spreads_over_the_whole_video_for_every_target():
    assert uniform_support_frames(29, 15) == list(range(0, 29, 2))
    assert uniform_support_frames(100, 14)[0] == 0 and uniform_support_frames(100, 14)[-1] == 99
    assert sample_support_frames("uniform", 3, 50, 5) == sample_support_frames("uniform", 40, 50, 5)
    assert uniform_support_frames(50, 1) == [24]


def test_uniform_on_a_short_video_repeats_frames():
    positions = uniform_support_frames(4, 14)
    assert len(positions) == 14 and set(positions) == {0, 1, 2, 3} and positions == sorted(positions)


def test_stride_is_symmetric_and_copies_the_ends():
    assert strided_support_frames(10, 30, 4, 3) == [7, 4, 13, 16]
    assert strided_support_frames(1, 30, 4, 2) == [0, 0, 3, 5]  # before the start: copies of frame 0
    assert strided_support_frames(28, 30, 4, 2) == [26, 24, 29, 29]  # past the end: copies of the last
    assert sample_support_frames("consecutive", 5, 30, 3) == [4, 6, 7]


def test_random_draws_one_on_each_side_within_range():
    rng = np.random.default_rng(0)
    for _ in range(200):
        before, after = random_support_frames(50, 100, 2, 9, rng)
        assert 41 <= before < 50 < after <= 59


def test_random_is_reproducible_and_covers_the_range():
    draws = [
        tuple(sample_support_frames("random", 50, 100, 2, frame_range=9, rng=np.random.default_rng(s)))
        for s in range(300)
    ]
    assert draws[:5] == [
        tuple(sample_support_frames("random", 50, 100, 2, frame_range=9, rng=np.random.default_rng(s)))
        for s in range(5)
    ]
    assert {d[0] for d in draws} == set(range(41, 50)) and {d[1] for d in draws} == set(range(51, 60))


def test_random_without_repeats_when_the_side_has_room():
    rng = np.random.default_rng(1)
    positions = random_support_frames(50, 100, 8, 9, rng)
    assert len(set(positions[:4])) == 4 and len(set(positions[4:])) == 4


@pytest.mark.parametrize("method", ["uniform", "stride", "consecutive", "random"])
def test_one_frame_video_gets_copies_of_itself(method):
    assert sample_support_frames(method, 0, 1, 3, rng=np.random.default_rng(0)) == [0, 0, 0]


@pytest.mark.parametrize("method", ["uniform", "stride", "random"])
def test_zero_supports(method):
    assert sample_support_frames(method, 2, 5, 0, rng=np.random.default_rng(0)) == []


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("bilateral", 0, 5, 2), {}, "unknown support frame sampling method 'bilateral'"),
        (("uniform", 0, 0, 2), {}, "a video needs at least one frame"),
        (("uniform", 5, 5, 2), {}, "target position 5 is outside the video's 5 frames"),
        (("stride", 0, 5, 2), {"stride": 0}, "stride must be >= 1"),
        (("random", 0, 5, 2), {"frame_range": 0}, "frame_range must be >= 1"),
        (("random", 0, 5, 2), {}, "needs an rng"),
    ],
)
def test_clear_errors(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sample_support_frames(*args, **kwargs)


def test_past_support_frames_stay_on_the_stride_grid_before_the_target():
    assert past_support_frames(0, 3) == [0, 0, 0]  # the first frame supports itself
    assert past_support_frames(2, 3) == [1, 0, 0]  # before the start: copies of frame 0
    assert past_support_frames(10, 3) == [9, 8, 7]
    for target in range(1, 40):
        positions = past_support_frames(target, 4, stride=3)
        assert all(p < target and p % 3 == 0 for p in positions)
        assert positions == sorted(positions, reverse=True)
    # The T latest grid frames before the target: a ring buffer of T grid frames serves every target.
    assert past_support_frames(30, 4, stride=3) == [27, 24, 21, 18]
    assert past_support_frames(31, 4, stride=3) == [30, 27, 24, 21]
    with pytest.raises(ValueError, match="stride >= 1"):
        past_support_frames(3, 2, stride=0)


def test_reference_position_is_near_the_target_and_never_the_target():
    rng = np.random.default_rng(0)
    draws = [reference_frame_position(5, 30, 3, rng) for _ in range(300)]
    assert set(draws) == {2, 3, 4, 6, 7, 8}
    assert {reference_frame_position(0, 3, 100, rng) for _ in range(50)} == {1, 2}
    assert reference_frame_position(0, 1, 100, rng) == 0  # a one-frame video: the target itself
    with pytest.raises(ValueError, match="range must be >= 1"):
        reference_frame_position(0, 5, 0, rng)


def test_drop_samples_only_frames_inside_the_video_as_the_reference_trainer():
    """mmtracking's bilateral_uniform: each side draws among its in-video frames within
    the range, never the target; at the first frame there is no left support."""
    rng = np.random.default_rng(0)
    seen_left = set()
    for _ in range(300):
        positions = sample_support_frames("random", 3, 100, 2, frame_range=9, rng=rng, beyond_ends="drop")
        assert len(positions) == 2 and positions[0] in (0, 1, 2) and 4 <= positions[1] <= 12
        seen_left.add(positions[0])
    assert seen_left == {0, 1, 2}  # uniform over the 3 frames, where clamping favours frame 0
    assert sample_support_frames("random", 0, 100, 2, frame_range=9, rng=rng, beyond_ends="drop")[0] > 0
    assert len(sample_support_frames("random", 0, 100, 2, frame_range=9, rng=rng, beyond_ends="drop")) == 1
    assert sample_support_frames("random", 0, 2, 4, frame_range=9, rng=rng, beyond_ends="drop") == [1]
    assert strided_support_frames(1, 30, 4, 2, beyond_ends="drop") == [3, 5]


def test_a_one_frame_video_is_its_own_support_whatever_the_ends_rule():
    rng = np.random.default_rng(0)
    assert sample_support_frames("random", 0, 1, 2, frame_range=9, rng=rng, beyond_ends="drop") == [0, 0]
    assert sample_support_frames("stride", 0, 1, 2, stride=3, beyond_ends="drop") == [0, 0]


def test_include_target_appends_the_target_last():
    assert sample_support_frames("uniform", 5, 12, 14, include_target=True) == [
        0,
        1,
        2,
        3,
        3,
        4,
        5,
        6,
        7,
        8,
        8,
        9,
        10,
        11,
        5,
    ]
    assert sample_support_frames("uniform", 5, 12, 0, include_target=True) == [5]
    with pytest.raises(ValueError, match="unknown beyond_ends 'wrap'"):
        sample_support_frames("uniform", 0, 12, 2, beyond_ends="wrap")

"""Which frames of a video support a target frame: pure functions of positions in the video.

Every function returns positions in ``[0, num_frames)``. Positions beyond the first or
last frame are clamped by default, i.e. those supports are copies of the first/last frame
(as STSN and the TRoI paper do), or dropped (``beyond_ends="drop"``, as mmtracking's
training sampler). A one-frame video or still image gets copies of itself.
"""

from typing import List, Optional

import numpy as np

__all__ = [
    "BEYOND_ENDS",
    "SAMPLING_METHODS",
    "sample_support_frames",
    "uniform_support_frames",
    "strided_support_frames",
    "random_support_frames",
    "reference_frame_position",
    "past_support_frames",
    "frames_kept_at_test",
]

SAMPLING_METHODS = ("uniform", "stride", "consecutive", "random")
# What happens to positions before the first / after the last frame.
BEYOND_ENDS = ("clamp", "drop")


def _clamp(positions, num_frames: int) -> List[int]:
    return [min(max(int(position), 0), num_frames - 1) for position in positions]


def uniform_support_frames(num_frames: int, num_supports: int) -> List[int]:
    """``num_supports`` positions evenly spread over the whole video, first and last
    included (adaptive stride ``(num_frames - 1) / (num_supports - 1)``); the same for
    every target frame. One support: the middle frame."""
    if num_supports == 1:
        return [(num_frames - 1) // 2]
    stride = (num_frames - 1) / max(num_supports - 1, 1)
    return _clamp((round(k * stride) for k in range(num_supports)), num_frames)


def strided_support_frames(
    target: int, num_frames: int, num_supports: int, stride: int, beyond_ends: str = "clamp"
) -> List[int]:
    """``target -/+ k * stride`` for ``k = 1, 2, ...``: ``num_supports // 2`` before, the
    rest after, each side in increasing distance; those outside the video clamped or
    dropped (``beyond_ends``)."""
    before = num_supports // 2
    after = num_supports - before
    offsets = [-k * stride for k in range(1, before + 1)] + [k * stride for k in range(1, after + 1)]
    positions = [target + offset for offset in offsets]
    if beyond_ends == "drop":
        return [position for position in positions if 0 <= position < num_frames]
    return _clamp(positions, num_frames)


def past_support_frames(target: int, num_supports: int, stride: int = 1) -> List[int]:
    """Streaming: the ``num_supports`` latest frames before ``target`` on the grid ``0,
    stride, 2*stride, ...``, latest first, so that a bounded memory of grid frames serves
    every target. Positions before the first frame are clamped (copies of frame 0); the
    first frame, which has no past, supports itself."""
    if target < 0 or num_supports < 0 or stride < 1:
        raise ValueError(
            f"need target >= 0, num_supports >= 0 and stride >= 1; got target={target}, "
            f"num_supports={num_supports}, stride={stride}"
        )
    latest = (target - 1) // stride * stride
    return [max(latest - k * stride, 0) for k in range(num_supports)]


def random_support_frames(
    target: int,
    num_frames: int,
    num_supports: int,
    frame_range: int,
    rng: np.random.Generator,
    beyond_ends: str = "clamp",
) -> List[int]:
    """``num_supports`` positions drawn at random within ``target +- frame_range``, half on
    each side (an odd extra one on a random side).

    ``beyond_ends="clamp"``: each side draws among its ``frame_range`` offsets, without
    repeats when it has room, and positions outside the video are clamped.
    ``beyond_ends="drop"``: each side draws without repeats among its frames inside the
    video, as many as it has up to its share (mmtracking's ``bilateral_uniform``), so near
    the ends there are fewer supports."""
    before = num_supports // 2
    if num_supports % 2 and rng.random() < 0.5:
        before += 1
    after = num_supports - before

    def side(count, sign):
        offsets = np.arange(1, frame_range + 1)
        if beyond_ends == "drop":
            offsets = offsets[(0 <= target + sign * offsets) & (target + sign * offsets < num_frames)]
            count = min(count, len(offsets))
        drawn = rng.choice(offsets, size=count, replace=count > len(offsets))
        return [target + sign * int(offset) for offset in drawn]

    return _clamp(side(before, -1) + side(after, 1), num_frames)


def sample_support_frames(
    method: str,
    target: int,
    num_frames: int,
    num_supports: int,
    *,
    frame_range: int = 9,
    stride: int = 1,
    rng: Optional[np.random.Generator] = None,
    beyond_ends: str = "clamp",
    include_target: bool = False,
) -> List[int]:
    """Positions of a target frame's support frames in its video.

    Args:
        method: one of :data:`SAMPLING_METHODS` (see ``add_troi_config``).
        target: position of the target frame, in ``[0, num_frames)``.
        num_frames: frames in the video (>= 1).
        num_supports: how many support frames (>= 0), before ``include_target``; fewer with
            ``beyond_ends="drop"`` near the ends of a video.
        frame_range: half-width of the window of ``"random"``.
        stride: distance between supports of ``"stride"``.
        rng: randomness of ``"random"``.
        beyond_ends: one of :data:`BEYOND_ENDS`: positions outside the video clamped to
            its first/last frame, or dropped. A one-frame video gets copies of its frame
            either way.
        include_target: append the target itself as the last support.
    """
    positions = _sample(method, target, num_frames, num_supports, frame_range, stride, rng, beyond_ends)
    return positions + [target] if include_target else positions


def _sample(method, target, num_frames, num_supports, frame_range, stride, rng, beyond_ends) -> List[int]:
    if method not in SAMPLING_METHODS:
        raise ValueError(f"unknown support frame sampling method {method!r}; choose one of {SAMPLING_METHODS}")
    if beyond_ends not in BEYOND_ENDS:
        raise ValueError(f"unknown beyond_ends {beyond_ends!r}; choose one of {BEYOND_ENDS}")
    if num_frames < 1:
        raise ValueError(f"a video needs at least one frame, got num_frames={num_frames}")
    if not 0 <= target < num_frames:
        raise ValueError(f"target position {target} is outside the video's {num_frames} frames")
    if num_supports < 0:
        raise ValueError(f"num_supports must be >= 0, got {num_supports}")
    step = 1 if method == "consecutive" else stride
    if method == "stride" and step < 1:
        raise ValueError(f"stride must be >= 1, got {step}")
    if method == "random" and frame_range < 1:
        raise ValueError(f"frame_range must be >= 1 for random sampling, got {frame_range}")
    if method == "random" and rng is None:
        raise ValueError("random support frame sampling needs an rng")
    if num_supports == 0:
        return []
    if num_frames == 1:
        return [0] * num_supports  # a still image: copies of itself, whatever beyond_ends says
    if method == "uniform":
        return uniform_support_frames(num_frames, num_supports)
    if method in ("stride", "consecutive"):
        return strided_support_frames(target, num_frames, num_supports, step, beyond_ends)
    return random_support_frames(target, num_frames, num_supports, frame_range, rng, beyond_ends)


def reference_frame_position(target: int, num_frames: int, frame_range: int, rng: np.random.Generator) -> int:
    """MaskTrack R-CNN's reference frame: a position drawn uniformly from ``target +-
    frame_range`` within the video, other than ``target`` (``target`` itself only in a
    one-frame video)."""
    if frame_range < 1:
        raise ValueError(f"the reference frame range must be >= 1, got {frame_range}")
    if not 0 <= target < num_frames:
        raise ValueError(f"target position {target} is outside the video's {num_frames} frames")
    candidates = [
        p for p in range(max(target - frame_range, 0), min(target + frame_range, num_frames - 1) + 1) if p != target
    ]
    return int(rng.choice(candidates)) if candidates else target


def frames_kept_at_test(num_supports: int, include_target: bool) -> int:
    """How many frames a test pass keeps (decoded, or with their features) while it runs a
    video's targets in order: two consecutive targets with their support sets, each of
    ``num_supports`` frames plus the target when ``include_target``; enough for every
    sampling method's supports to be reused from one target to the next."""
    return 2 * (num_supports + int(include_target)) + 2

"""TSN's sparse sampling: one frame from each of ``T`` equal segments of a video."""

import numpy as np

__all__ = ["segment_frame_indices"]


def segment_frame_indices(num_frames: int, num_segments: int, *, random: bool) -> np.ndarray:
    """The ``T`` frame indices of a clip of a ``num_frames``-frame video.

    The video is cut into ``T`` equal segments ``[k L / T, (k + 1) L / T)``; from segment
    ``k`` the frame ``floor((k + u_k) L / T)`` is taken, with ``u_k`` uniform in ``[0, 1)``
    (``random``, training; numpy's global generator, which detectron2 seeds per data-loader
    worker) or ``u_k = 1/2`` (the centre frame, test; mmaction2's ``test_mode``). A video of
    fewer than ``T`` frames repeats frames, in order.

    mmaction2's training sampling (``SampleFrames``) rounds the segment length down to
    ``L // T`` frames and never samples the last ``L mod T`` frames; here the segments
    cover the whole video.

    Returns:
        ``[T]`` int64 indices in ``[0, num_frames)``, non-decreasing.
    """
    if num_frames < 1:
        raise ValueError(f"a video needs at least 1 frame to sample a clip from, got {num_frames}")
    if num_segments < 1:
        raise ValueError(f"num_segments T must be >= 1, got {num_segments}")
    offsets = np.random.random_sample(num_segments) if random else np.full(num_segments, 0.5)
    positions = (np.arange(num_segments) + offsets) * (num_frames / num_segments)
    return np.minimum(np.floor(positions).astype(np.int64), num_frames - 1)

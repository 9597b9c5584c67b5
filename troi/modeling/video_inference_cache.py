"""What inference keeps across the target frames of a video, in one object the caller owns."""

from typing import Callable, Hashable, Optional

from ..utils.lru_cache import LRUCache

__all__ = ["INFERENCE_CACHE_KEY", "VideoInferenceCache"]

# The model-input key under which a VideoInferenceCache travels with each frame group.
INFERENCE_CACHE_KEY = "inference_cache"


class VideoInferenceCache:
    """Inference state across calls of a ``VideoRCNN``, owned by who feeds it the frames in
    order (``VideoPredictor``, the test loader of ``build_frame_group_test_loader``) and given
    to the model with every input (``inputs["inference_cache"]``). Models keep nothing
    between calls themselves.

    Attributes:
        frames: per frame key, the frame's backbone features and what depends on them
            alone (SELSA support proposals and their references, Temporal RoI Align
            encodings); ``max_frames`` of them, least recently used out.
        references: per support set, the SELSA references aggregated over its proposals
            (``MODEL.SELSA.AGGREGATE_REFERENCES``); ``max_support_sets`` of them.
    """

    def __init__(self, max_frames: int, max_support_sets: int = 4):
        self.frames = LRUCache(max_frames)
        self.references = LRUCache(max_support_sets)
        self._tracker = None
        self._tracked_video: Optional[Hashable] = None

    def tracker(self, video_id: Optional[Hashable], new_tracker: Callable[[], object]):
        """The tracker of ``video_id``'s tracks: the current one while frames of the same
        video come, ``new_tracker()`` when another video starts (or ``video_id`` is None)."""
        if video_id is None or self._tracker is None or video_id != self._tracked_video:
            self._tracker, self._tracked_video = new_tracker(), video_id
        return self._tracker

    def reset(self):
        """Forget everything (a new video, or weights that changed)."""
        self.frames.clear()
        self.references.clear()
        self._tracker, self._tracked_video = None, None

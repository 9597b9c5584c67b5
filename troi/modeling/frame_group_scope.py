"""The support frames of one ROI-heads call, where its poolers and box head read them."""

import contextlib
from typing import Iterator, List, Optional

import torch

from .support_frames import SupportFrames

__all__ = ["FrameGroupScope", "SelsaReferences"]


class SelsaReferences:
    """The SELSA references of a batch: per aggregator, ``[sum M_i, C_k]`` features of all
    images' support proposals (:meth:`SelsaBoxHead.set_references`), ``refs_per_image``
    rows per image, and ``rois_per_image`` target RoIs per image (set once sampled)."""

    def __init__(self, features: List[torch.Tensor], refs_per_image: List[int]):
        self.features = features
        self.refs_per_image = refs_per_image
        self.rois_per_image: Optional[List[int]] = None


class FrameGroupScope:
    """What detectron2's unchanged ``StandardROIHeads`` methods cannot pass down: the
    support frames (and SELSA references) of the current call, read by the
    :class:`TemporalROIPooler` and :class:`SelsaBoxHead` that share this scope with their
    ROI heads. Set only for the duration of one call (:meth:`of`); empty between calls.
    """

    def __init__(self):
        self.support: Optional[SupportFrames] = None
        self.references: Optional[SelsaReferences] = None

    @contextlib.contextmanager
    def of(self, support: Optional[SupportFrames], references: Optional[SelsaReferences] = None) -> Iterator[None]:
        """Within the block, the scope holds ``support`` and ``references``; a nested call
        without support frames (e.g. ``forward_with_given_boxes`` from ``forward``) keeps
        the enclosing ones. Restored on exit, also on error."""
        outer = self.support, self.references
        if support is not None:
            self.support, self.references = support, references
        try:
            yield
        finally:
            self.support, self.references = outer

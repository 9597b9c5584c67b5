"""The support frames of a batch of target frames, as the ROI heads consume them."""

import math
from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from detectron2.structures import Boxes, Instances

from ..utils.lru_cache import LRUCache

__all__ = ["SupportFrames", "crop_to_image", "pad_and_stack"]


def pad_and_stack(maps: List[torch.Tensor]) -> torch.Tensor:
    """``B`` maps ``[C, h_i, w_i]`` -> ``[B, C, max h, max w]``, zero-padded at the bottom
    and right (differentiable)."""
    height, width = max(m.shape[-2] for m in maps), max(m.shape[-1] for m in maps)
    return torch.stack([F.pad(m, (0, width - m.shape[-1], 0, height - m.shape[-2])) for m in maps])


def crop_to_image(features: Dict[str, torch.Tensor], strides: Dict[str, int], image_size: Tuple[int, int]):
    """One frame's ``{level: [C, H, W]}`` padded features -> the part covering its image.

    ``image_size`` is the ``(h, w)`` of the (unpadded) input image; a level of stride ``s``
    keeps ``ceil(h / s) x ceil(w / s)`` positions (padding is at the bottom/right).
    """
    height, width = image_size
    return {
        name: feature[:, : math.ceil(height / strides[name]), : math.ceil(width / strides[name])]
        for name, feature in features.items()
    }


@dataclass
class SupportFrames:
    """Support frames of ``B`` target frames, target ``i`` owning ``counts[i]`` consecutive frames.

    Attributes:
        features: per support frame, ``{level: [C, h, w]}`` cropped to the frame's image.
        counts: support frames per target frame.
        image_sizes: per support frame, the ``(h, w)`` of its input image.
        proposals: per support frame, its RPN proposals (SELSA references), if computed.
        target_keys: per target frame, a hashable id of its support set (same key, same
            frames), or None; lets inference reuse work that depends on the set only.
        encodings: per support frame, a dict in which the ROI heads keep what they derive
            from the frame alone (each Temporal RoI Align operator's encoding per level, the
            SELSA box head's references of its proposals), living as long as the frame
            stays cached (inference); None: computed afresh (training).
        references: where SELSA references aggregated over a support set are kept per set
            (``target_keys``) across calls: the :class:`VideoInferenceCache`'s; None:
            computed per call.
    """

    features: List[Dict[str, torch.Tensor]]
    counts: List[int]
    image_sizes: List[Tuple[int, int]]
    proposals: Optional[List[Instances]] = None
    target_keys: Optional[List[Optional[Hashable]]] = None
    encodings: Optional[List[dict]] = None
    references: Optional[LRUCache] = None

    def __post_init__(self):
        if sum(self.counts) != len(self.features) or len(self.image_sizes) != len(self.features):
            raise ValueError(
                f"{len(self.features)} support frames with {len(self.image_sizes)} image sizes do not "
                f"match the per-target counts {self.counts}"
            )

    def frames_of(self, target: int) -> range:
        """Indices of target ``target``'s support frames."""
        start = sum(self.counts[:target])
        return range(start, start + self.counts[target])

    def stacked(self, target: int, names: Sequence[str]) -> List[torch.Tensor]:
        """Per level in ``names``, target ``target``'s supports as one ``[T, C, h, w]`` tensor
        (``T >= 1``: a target's supports share its transform, hence one size)."""
        frames = self._nonempty_frames_of(target)
        return [torch.stack([self.features[index][name] for index in frames]) for name in names]

    def temporal_inputs(self, target: int, names: Sequence[str], operator) -> list:
        """Per level in ``names``, target ``target``'s supports as the Temporal RoI Align
        ``operator`` takes them: :meth:`stacked`, or with :attr:`encodings` the list of the
        frames' ``operator.encode_support(...)``, each computed once per frame and operator."""
        if self.encodings is None:
            return self.stacked(target, names)
        frames = self._nonempty_frames_of(target)
        return [[self._encoding(index, name, operator) for index in frames] for name in names]

    def _encoding(self, index: int, name: str, operator):
        memo = self.encodings[index]
        if (operator, name) not in memo:
            memo[operator, name] = operator.encode_support(self.features[index][name])
        return memo[operator, name]

    def _nonempty_frames_of(self, target: int) -> range:
        frames = self.frames_of(target)
        if not frames:
            raise ValueError(f"target frame {target} has no support frames")
        return frames

    def proposal_boxes(self, target: int) -> List[Boxes]:
        """Target ``target``'s support frames' proposal boxes, one ``Boxes`` per frame."""
        if self.proposals is None:
            raise ValueError("support proposals were not computed for these support frames")
        return [self.proposals[index].proposal_boxes for index in self.frames_of(target)]

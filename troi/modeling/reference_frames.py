"""The reference frames of a training batch, as the track branch consumes them."""

from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch

from detectron2.structures import Instances

from .support_frames import SupportFrames, crop_to_image, pad_and_stack

__all__ = ["ReferenceFrames", "reference_frames_of"]


@dataclass
class ReferenceFrames:
    """One reference frame per target frame (MaskTrack R-CNN training).

    Attributes:
        features: ``{level: [B, C, H, W]}``, target ``i``'s reference frame at ``[i]``,
            zero-padded to the largest of the batch.
        instances: per target frame, its reference frame's ground truth (``gt_boxes``,
            ``gt_ids``), in the target's transformed coordinates.
        support: the reference frames' own support frames (for Temporal RoI Align): those
            of target ``i`` are target ``i`` itself and its other support frames.
    """

    features: Dict[str, torch.Tensor]
    instances: List[Instances]
    support: SupportFrames


def reference_frames_of(
    target_features: Dict[str, torch.Tensor],
    image_sizes: List[Tuple[int, int]],
    strides: Dict[str, int],
    support: SupportFrames,
    instances: List[Instances],
) -> ReferenceFrames:
    """The :class:`ReferenceFrames` of a batch whose reference frames are each target's
    first support frame (see ``VISFrameGroupDatasetMapper``), so the backbone ran on them
    already.

    Args:
        target_features: ``{level: [B, C, H, W]}`` padded features of the target frames.
        image_sizes: ``(h, w)`` of each target's (and thus its support frames') input image.
        strides: ``{level: stride}``.
        support: the target frames' support frames; every target needs at least one.
        instances: per target frame, its reference frame's ground truth.
    """
    if any(count == 0 for count in support.counts):
        raise ValueError(
            f"every target frame needs its reference frame as first support frame; support "
            f"frames per target: {support.counts}"
        )
    if len(instances) != len(support.counts):
        raise ValueError(f"{len(instances)} reference instances for {len(support.counts)} target frames")
    references, reference_supports = [], []
    for target, image_size in enumerate(image_sizes):
        frames = support.frames_of(target)
        references.append(support.features[frames[0]])
        target_frame = crop_to_image(
            {name: level[target] for name, level in target_features.items()}, strides, image_size
        )
        reference_supports.append([target_frame] + [support.features[index] for index in frames[1:]])
    return ReferenceFrames(
        features={name: pad_and_stack([frame[name] for frame in references]) for name in target_features},
        instances=instances,
        support=SupportFrames(
            features=[frame for frames in reference_supports for frame in frames],
            counts=[len(frames) for frames in reference_supports],
            image_sizes=[size for size, frames in zip(image_sizes, reference_supports) for _ in frames],
        ),
    )

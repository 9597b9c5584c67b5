"""A frame-group mapper that also yields a reference frame's ground truth (MaskTrack R-CNN)."""

import numpy as np

from detectron2.config import configurable

from .frame_group_mapper import FrameGroupDatasetMapper
from .support_frame_positions import reference_frame_position

__all__ = ["VISFrameGroupDatasetMapper"]


class VISFrameGroupDatasetMapper(FrameGroupDatasetMapper):
    """:class:`FrameGroupDatasetMapper` for training a track head.

    In training, a reference frame is drawn within ``+-reference_frame_range`` of the target
    (:func:`reference_frame_position`) and becomes the first support frame: its image is
    ``support_images[0]``, under the target's transforms like every support frame, and the
    output gains

    * ``reference_instances``: its non-crowd GT as :class:`Instances` (``gt_boxes``,
      ``gt_classes``, ``gt_masks`` when masks are used, ``gt_ids``), in the same
      transformed coordinates as the target's ``instances``.

    At inference it is :class:`FrameGroupDatasetMapper` (no reference frame).

    Args:
        reference_frame_range: ``INPUT.REFERENCE_FRAME.FRAME_RANGE``.
        **kwargs: :class:`FrameGroupDatasetMapper` arguments; its ``videos`` must keep the
            frames' annotations (``VideoIndex(..., keep_annotations=True)``).
    """

    @configurable
    def __init__(self, is_train: bool, *, reference_frame_range: int, **kwargs):
        super().__init__(is_train, **kwargs)
        if reference_frame_range < 1:
            raise ValueError(f"INPUT.REFERENCE_FRAME.FRAME_RANGE must be >= 1, got {reference_frame_range}")
        self.reference_frame_range = reference_frame_range

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, *, videos):
        ret = super().from_config(cfg, is_train, videos=videos)
        ret["reference_frame_range"] = cfg.INPUT.REFERENCE_FRAME.FRAME_RANGE
        return ret

    def support_frames(self, dataset_dict: dict):
        """In training the reference frame, then the sampled support frames."""
        supports = super().support_frames(dataset_dict)
        if not self.is_train:
            return supports
        frames = self.videos.frames(dataset_dict)
        rng = np.random.default_rng(np.random.randint(2**31))
        position = reference_frame_position(
            self.videos.position(dataset_dict), len(frames), self.reference_frame_range, rng
        )
        return [frames[position]] + supports

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        """The target's ``instances`` and its reference frame's ``reference_instances``."""
        super()._transform_annotations(dataset_dict, transforms, image_shape)
        reference = self.videos.frame(dataset_dict, dataset_dict["support_frame_ids"][0])
        if "annotations" not in reference:
            raise ValueError(
                "VISFrameGroupDatasetMapper needs the reference frame's annotations: build its "
                "VideoIndex with keep_annotations=True"
            )
        annotations = [a for a in reference["annotations"] if a.get("iscrowd", 0) == 0]
        dataset_dict["reference_instances"] = self.annotations_to_instances(annotations, transforms, image_shape)

"""A DatasetMapper that yields a target frame together with its support frames."""

import copy
from typing import List

import numpy as np
import torch

from detectron2.config import configurable
from detectron2.data import DatasetMapper
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Instances

from ..utils.lru_cache import LRUCache
from .support_frame_positions import BEYOND_ENDS, SAMPLING_METHODS, sample_support_frames, frames_kept_at_test
from .transforms import build_resize
from .video_index import VideoIndex

__all__ = ["FrameGroupDatasetMapper"]


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))


class FrameGroupDatasetMapper(DatasetMapper):
    """:class:`DatasetMapper` whose output also holds the target frame's support frames.

    The augmentation is sampled once, on the target frame, and the same transforms are
    applied to every support frame; the resize resamples as ``INPUT.RESIZE_BACKEND`` says.
    Output: DatasetMapper's dict (``image``, and
    ``instances`` with ``gt_ids`` from the annotations' ``instance_id`` in training) plus

    * ``support_images``: list of ``[3, H, W]`` tensors, same size as ``image``;
    * ``support_frame_ids``: their ``frame_id`` (copies at the video's ends repeat it).

    Args:
        videos: every frame of every video (support frames need not be targets).
        num_support_frames, sampling_method, frame_range, stride, beyond_ends, include_target:
            as ``INPUT.SUPPORT_FRAMES.{TRAIN,TEST}`` (see :func:`sample_support_frames`).
        **kwargs: :class:`DatasetMapper` arguments.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        videos: VideoIndex,
        num_support_frames: int,
        sampling_method: str,
        frame_range: int,
        stride: int,
        beyond_ends: str = "clamp",
        include_target: bool = False,
        **kwargs,
    ):
        super().__init__(is_train, **kwargs)
        if sampling_method not in SAMPLING_METHODS:
            raise ValueError(
                f"unknown support frame sampling method {sampling_method!r}; choose one of {SAMPLING_METHODS}"
            )
        if beyond_ends not in BEYOND_ENDS:
            raise ValueError(f"INPUT.SUPPORT_FRAMES.*.BEYOND_ENDS={beyond_ends!r}: choose one of {BEYOND_ENDS}")
        self.videos = videos
        self.num_support_frames = num_support_frames
        self.sampling_method = sampling_method
        self.frame_range = frame_range
        self.stride = stride
        self.beyond_ends = beyond_ends
        self.include_target = include_target
        # At test time the same support frames recur for many targets: keep a few decoded.
        self._decoded = LRUCache(0 if is_train else frames_kept_at_test(num_support_frames, include_target))

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, *, videos: VideoIndex):
        ret = super().from_config(cfg, is_train)
        ret["augmentations"] = [
            build_resize(cfg, is_train) if isinstance(augmentation, T.ResizeShortestEdge) else augmentation
            for augmentation in ret["augmentations"]
        ]
        support = cfg.INPUT.SUPPORT_FRAMES.TRAIN if is_train else cfg.INPUT.SUPPORT_FRAMES.TEST
        ret.update(
            videos=videos,
            num_support_frames=support.NUM,
            sampling_method=support.METHOD,
            frame_range=support.FRAME_RANGE,
            stride=support.STRIDE,
            beyond_ends=support.BEYOND_ENDS,
            include_target=support.INCLUDE_TARGET,
        )
        return ret

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        image = self._read(dataset_dict)
        utils.check_image_size(dataset_dict, image)
        supports = self.support_frames(dataset_dict)
        support_images = [self._read(frame, like=dataset_dict, size=image.shape[:2]) for frame in supports]
        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        dataset_dict["image"] = _image_tensor(aug_input.image)
        dataset_dict["support_images"] = [_image_tensor(transforms.apply_image(s)) for s in support_images]
        dataset_dict["support_frame_ids"] = [frame["frame_id"] for frame in supports]
        if not self.is_train:
            dataset_dict.pop("annotations", None)
            return dataset_dict
        if "annotations" in dataset_dict:
            self._transform_annotations(dataset_dict, transforms, aug_input.image.shape[:2])
        return dataset_dict

    def support_frames(self, dataset_dict: dict) -> List[dict]:
        """The target frame's support frames (records of the :class:`VideoIndex`)."""
        frames = self.videos.frames(dataset_dict)
        rng = np.random.default_rng(np.random.randint(2**31)) if self.sampling_method == "random" else None
        positions = sample_support_frames(
            self.sampling_method,
            self.videos.position(dataset_dict),
            len(frames),
            self.num_support_frames,
            frame_range=self.frame_range,
            stride=self.stride,
            rng=rng,
            beyond_ends=self.beyond_ends,
            include_target=self.include_target,
        )
        return [frames[position] for position in positions]

    def _transform_annotations(self, dataset_dict, transforms, image_shape):
        """Replace ``annotations`` by ``instances`` (crowd annotations dropped)."""
        annotations = [a for a in dataset_dict.pop("annotations") if a.get("iscrowd", 0) == 0]
        dataset_dict["instances"] = self.annotations_to_instances(annotations, transforms, image_shape)

    def annotations_to_instances(self, annotations, transforms, image_shape) -> Instances:
        """As DatasetMapper does, plus ``gt_ids`` from each annotation's ``instance_id``
        (-1 when absent), attached before empty instances are filtered out."""
        transformed = []
        for annotation in annotations:
            annotation = dict(annotation)
            if not self.use_instance_mask:
                annotation.pop("segmentation", None)
            if not self.use_keypoint:
                annotation.pop("keypoints", None)
            transformed.append(
                utils.transform_instance_annotations(
                    annotation, transforms, image_shape, keypoint_hflip_indices=self.keypoint_hflip_indices
                )
            )
        instances = utils.annotations_to_instances(transformed, image_shape, mask_format=self.instance_mask_format)
        instances.gt_ids = torch.as_tensor([a.get("instance_id", -1) for a in annotations], dtype=torch.long)
        if self.recompute_boxes:
            instances.gt_boxes = instances.gt_masks.get_bounding_boxes()
        return utils.filter_empty_instances(instances)

    def _read(self, frame: dict, like: dict = None, size=None) -> np.ndarray:
        """Decode ``frame["file_name"]`` in the mapper's image format, with a clear error;
        a support frame (``like`` = its target) must have its target's ``size``."""
        file_name = frame["file_name"]
        image = self._decoded.get(file_name)
        if image is None:
            try:
                image = utils.read_image(file_name, format=self.image_format)
            except FileNotFoundError as error:
                raise FileNotFoundError(f"frame {file_name} does not exist") from error
            except (OSError, ValueError, SyntaxError) as error:
                raise ValueError(f"could not decode frame {file_name}: {error}") from error
            self._decoded[file_name] = image
        if size is not None and image.shape[:2] != tuple(size):
            raise ValueError(
                f"frame size changes within a video: support frame {file_name} is {image.shape[1]}x{image.shape[0]} "
                f"but target frame {like['file_name']} is {size[1]}x{size[0]} (width x height)"
            )
        return image

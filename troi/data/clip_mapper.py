"""Map a video recognition dataset dict to a clip: TSN-sampled frames, augmented as one."""

import os
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch

from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T

from .video_frames import VideoFrames
from .clip_transforms import CenterCrop, MultiScaleCrop
from .segment_sampling import segment_frame_indices
from .transforms import build_resize

__all__ = ["ClipDatasetMapper", "build_clip_augmentations", "count_rawframes", "dataset_flip_label_map"]

CLIP_FORMATS = ("RGB", "BGR")


def build_clip_augmentations(cfg, is_train: bool) -> List[T.Augmentation]:
    """The resize of ``INPUT.MIN_SIZE_TRAIN/TEST`` (``INPUT.RESIZE_BACKEND``), then at train
    a :class:`MultiScaleCrop` resized to ``INPUT.CLIP.CROP_SIZE`` squared and a horizontal
    flip (``INPUT.CLIP.FLIP_PROB``), at test the centre ``CROP_SIZE`` crop."""
    clip = cfg.INPUT.CLIP
    resize = build_resize(cfg, is_train)
    if not is_train:
        return [resize, CenterCrop(clip.CROP_SIZE)]
    augmentations = [
        resize,
        MultiScaleCrop(clip.CROP_SIZE, clip.CROP_SCALES, clip.MAX_ASPECT_GAP, clip.RANDOM_CROP_POSITION),
        T.Resize((clip.CROP_SIZE, clip.CROP_SIZE)),
    ]
    if clip.FLIP_PROB > 0:
        augmentations.append(T.RandomFlip(prob=clip.FLIP_PROB, horizontal=True))
    return augmentations


def dataset_flip_label_map(dataset_names: Sequence[str]) -> Dict[int, int]:
    """The ``flip_label_map`` (class -> class under a horizontal flip) the datasets'
    metadata share; ``{}`` (classes unchanged) when they have none."""
    maps = {
        name: {int(k): int(v) for k, v in MetadataCatalog.get(name).get("flip_label_map", {}).items()}
        for name in dataset_names
    }
    if len({tuple(sorted(m.items())) for m in maps.values()}) > 1:
        raise ValueError(
            f"datasets {list(dataset_names)} have different flip_label_maps {maps}: train on one of "
            "them at a time, or set INPUT.CLIP.FLIP_PROB 0"
        )
    return next(iter(maps.values()), {})


def count_rawframes(frame_dir: str, filename_tmpl: str, start_index: int) -> int:
    """How many frames ``filename_tmpl.format(start_index), ...(start_index + 1), ...`` a
    folder holds, consecutively."""
    if not os.path.isdir(frame_dir):
        raise FileNotFoundError(f"frame folder {frame_dir} does not exist")
    names = set(os.listdir(frame_dir))
    count = 0
    while filename_tmpl.format(start_index + count) in names:
        count += 1
    return count


class ClipDatasetMapper:
    """Turn a dataset dict (see :mod:`troi.data.datasets.video_lists`) into the input of
    :class:`troi.modeling.VideoRecognizer`:

    * ``"clip"``: ``[T, 3, H, W]`` uint8 frames in ``INPUT.FORMAT``, one frame from each of
      ``T`` equal segments (:func:`segment_frame_indices`: random at train, centre at
      test), augmented by one draw of the augmentations for the whole clip;
    * ``"label"``: the class, through the dataset's ``flip_label_map`` when flipped;
    * ``"video_id"``, ``"frame_indices"`` (0-based, in the video).

    Errors name the clip: a missing or unreadable frame or video, no frames.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        num_segments: int,
        augmentations: List[T.Augmentation],
        image_format: str = "RGB",
        flip_label_map: Optional[Dict[int, int]] = None,
    ):
        if image_format not in CLIP_FORMATS:
            raise ValueError(f"INPUT.FORMAT {image_format!r}: clips are read as one of {CLIP_FORMATS}")
        self.is_train = is_train
        self.num_segments = num_segments
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.flip_label_map = dict(flip_label_map or {})

    @classmethod
    def from_config(cls, cfg, is_train: bool, dataset_names: Sequence[str] = ()):
        return {
            "is_train": is_train,
            "num_segments": cfg.INPUT.CLIP.NUM_SEGMENTS,
            "augmentations": build_clip_augmentations(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "flip_label_map": dataset_flip_label_map(dataset_names) if is_train else {},
        }

    def __call__(self, record: dict) -> dict:
        video_id = record["video_id"]
        frames, indices = self._read(record)
        aug_input = T.AugInput(frames[0])
        transforms = self.augmentations(aug_input)
        clip = [aug_input.image] + [transforms.apply_image(frame) for frame in frames[1:]]
        label = record["label"]
        if any(isinstance(t, T.HFlipTransform) for t in transforms.transforms):
            label = self.flip_label_map.get(label, label)
        clip = np.ascontiguousarray(np.stack(clip).transpose(0, 3, 1, 2))  # (T, 3, H, W)
        return {"clip": torch.from_numpy(clip), "label": label, "video_id": video_id, "frame_indices": indices.tolist()}

    def _read(self, record: dict):
        """The sampled frames (``[H, W, 3]`` uint8 in ``image_format``) and their indices."""
        if "video_file" in record:
            video = VideoFrames(record["video_file"])
            indices = segment_frame_indices(len(video), self.num_segments, random=self.is_train)
            decoded = video.read(indices.tolist())  # BGR
            frames = [decoded[int(index)] for index in indices]
        else:
            frame_dir, template, start = record["frame_dir"], record["filename_tmpl"], record["start_index"]
            num_frames = record["num_frames"] or count_rawframes(frame_dir, template, start)
            if num_frames < 1:
                raise ValueError(f"clip {record['video_id']}: {frame_dir} holds no frame {template.format(start)}")
            indices = segment_frame_indices(num_frames, self.num_segments, random=self.is_train)
            frames = [
                self._read_frame(os.path.join(frame_dir, template.format(start + int(index))), record["video_id"])
                for index in indices
            ]
        if self.image_format == "RGB":
            frames = [frame[:, :, ::-1] for frame in frames]
        return frames, indices

    @staticmethod
    def _read_frame(path: str, video_id: str) -> np.ndarray:
        """A BGR frame file."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"clip {video_id}: frame {path} does not exist")
        frame = cv2.imread(path, cv2.IMREAD_COLOR)
        if frame is None:
            raise ValueError(f"clip {video_id}: frame {path} is not an image OpenCV can decode")
        return frame

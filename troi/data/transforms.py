"""Resizing as mmcv does it (``INPUT.RESIZE_BACKEND "cv2"``).

detectron2 resizes uint8 images with PIL's bilinear filter. mmcv (the reference
implementation's image library) resizes with ``cv2.resize(..., INTER_LINEAR)``: no
antialiasing, cv2's fixed-point arithmetic on uint8, and an output size rounded from
``min(long / max(h, w), short / min(h, w))``. The two differ by up to a few grey levels per
pixel, which a detector's output follows: converted reference checkpoints need cv2's.
"""

from typing import Tuple

import cv2
import numpy as np
from PIL import Image

from detectron2.data import transforms as T

__all__ = ["RESIZE_BACKENDS", "CV2ResizeShortestEdge", "CV2ResizeTransform", "build_resize"]

RESIZE_BACKENDS = ("PIL", "cv2")

# PIL interpolation -> cv2's, for the modes detectron2's transforms ask for.
_CV2_INTERPOLATION = {
    Image.BILINEAR: cv2.INTER_LINEAR,
    Image.NEAREST: cv2.INTER_NEAREST,
    Image.BICUBIC: cv2.INTER_CUBIC,
}


class CV2ResizeTransform(T.ResizeTransform):
    """detectron2's ResizeTransform, resampling with ``cv2.resize`` (any dtype, no
    antialiasing), as ``mmcv.imresize``. Coordinates map as in ResizeTransform."""

    def apply_image(self, img: np.ndarray, interp=None) -> np.ndarray:
        """``[h, w(, c)]`` -> ``[new_h, new_w(, c)]``, same dtype."""
        if img.shape[:2] != (self.h, self.w):
            raise ValueError(f"image of {img.shape[1]}x{img.shape[0]} given to a resize from {self.w}x{self.h}")
        interpolation = _CV2_INTERPOLATION[interp if interp is not None else self.interp]
        resized = cv2.resize(np.ascontiguousarray(img), (self.new_w, self.new_h), interpolation=interpolation)
        if img.ndim == 3 and resized.ndim == 2:  # cv2 drops a single channel
            resized = resized[:, :, None]
        return resized


class CV2ResizeShortestEdge(T.ResizeShortestEdge):
    """detectron2's ResizeShortestEdge with mmcv's ``Resize(keep_ratio=True)`` arithmetic:
    the output size is ``int(side * scale + 0.5)`` with ``scale = min(max_size / long
    side, short_edge_length / short side)``, resampled by :class:`CV2ResizeTransform`."""

    def get_transform(self, image: np.ndarray):
        height, width = image.shape[:2]
        if self.is_range:
            short_edge = np.random.randint(self.short_edge_length[0], self.short_edge_length[1] + 1)
        else:
            short_edge = np.random.choice(self.short_edge_length)
        if short_edge == 0:
            return T.NoOpTransform()
        new_h, new_w = self.get_output_shape(height, width, short_edge, self.max_size)
        return CV2ResizeTransform(height, width, new_h, new_w, self.interp)

    @staticmethod
    def get_output_shape(oldh: int, oldw: int, short_edge_length: int, max_size: int) -> Tuple[int, int]:
        """``(new_h, new_w)`` as ``mmcv.rescale_size`` computes it."""
        scale = min(max_size / max(oldh, oldw), short_edge_length / min(oldh, oldw))
        return int(oldh * float(scale) + 0.5), int(oldw * float(scale) + 0.5)


def build_resize(cfg, is_train: bool) -> T.ResizeShortestEdge:
    """The ResizeShortestEdge of ``cfg.INPUT`` (sizes as detectron2's ``build_augmentation``)
    with ``INPUT.RESIZE_BACKEND``'s resampling."""
    backend = cfg.INPUT.RESIZE_BACKEND
    if backend not in RESIZE_BACKENDS:
        raise ValueError(f"INPUT.RESIZE_BACKEND={backend!r}: choose one of {RESIZE_BACKENDS}")
    if is_train:
        sizes, max_size, style = cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING
    else:
        sizes, max_size, style = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice"
    resize_class = CV2ResizeShortestEdge if backend == "cv2" else T.ResizeShortestEdge
    return resize_class(sizes, max_size, style)

"""The crops of TSN-style clip augmentation, as detectron2 augmentations.

:class:`MultiScaleCrop` is TSN's (and mmaction2's ``MultiScaleCrop``) training crop: its
width and height are each one of ``scales`` times the image's shorter side, with scale
indices at most ``max_aspect_gap`` apart (so aspect ratios vary a little), a side within
3 px of the output size snapping to it; the crop sits at one of 13 fixed places (the
corners, the centre, the middles of the sides and the centres of the four quarter
crops, on a grid of quarter steps of the free space) or anywhere with ``random_position``.
:class:`CenterCrop` is the test crop. Both return detectron2 ``CropTransform``\\ s, so one
drawn on a clip's first frame applies to all its frames.
"""

from typing import Sequence

import numpy as np

from detectron2.data import transforms as T

__all__ = ["CenterCrop", "MultiScaleCrop", "fixed_crop_offsets"]

SNAP_DISTANCE = 3  # px: a crop side this close to the output size becomes the output size


def fixed_crop_offsets(image_width: int, image_height: int, crop_width: int, crop_height: int):
    """The 13 ``(x0, y0)`` of TSN's fixed crops: with steps ``s = free space // 4``, the
    corners, the centre, the middles of the four sides and the points ``(1|3) s``."""
    step_x, step_y = (image_width - crop_width) // 4, (image_height - crop_height) // 4
    grid = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2), (0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]
    return [(i * step_x, j * step_y) for i, j in grid]


class MultiScaleCrop(T.Augmentation):
    """TSN's multi-scale crop (see the module doc); resize the crop to ``output_size``
    afterwards.

    Args:
        output_size: the side the crop is resized to afterwards (for the snapping).
        scales: crop sides as fractions of the shorter image side.
        max_aspect_gap: width and height scale indices differ by at most this.
        random_position: any position instead of the 13 fixed ones.
    """

    def __init__(
        self,
        output_size: int,
        scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
        max_aspect_gap: int = 1,
        random_position: bool = False,
    ):
        super().__init__()
        if not scales or not all(0 < scale <= 1 for scale in scales):
            raise ValueError(f"INPUT.CLIP.CROP_SCALES must be fractions in (0, 1], got {list(scales)}")
        if max_aspect_gap < 0:
            raise ValueError(f"INPUT.CLIP.MAX_ASPECT_GAP must be >= 0, got {max_aspect_gap}")
        self.output_size = output_size
        self.scales = tuple(scales)
        self.max_aspect_gap = max_aspect_gap
        self.random_position = random_position

    def get_transform(self, image: np.ndarray) -> T.CropTransform:
        height, width = image.shape[:2]
        sides = [int(min(height, width) * scale) for scale in self.scales]
        sides = [self.output_size if abs(side - self.output_size) < SNAP_DISTANCE else side for side in sides]
        sizes = [
            (crop_width, crop_height)
            for i, crop_height in enumerate(sides)
            for j, crop_width in enumerate(sides)
            if abs(i - j) <= self.max_aspect_gap
        ]
        crop_width, crop_height = (
            min(side, limit) for side, limit in zip(sizes[np.random.randint(len(sizes))], (width, height))
        )
        if self.random_position:
            x0 = np.random.randint(width - crop_width + 1)
            y0 = np.random.randint(height - crop_height + 1)
        else:
            offsets = fixed_crop_offsets(width, height, crop_width, crop_height)
            x0, y0 = offsets[np.random.randint(len(offsets))]
        return T.CropTransform(int(x0), int(y0), int(crop_width), int(crop_height))


class CenterCrop(T.Augmentation):
    """The centre ``size x size`` crop (``x0 = (W - size) // 2``, likewise ``y0``)."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_transform(self, image: np.ndarray) -> T.CropTransform:
        height, width = image.shape[:2]
        if height < self.size or width < self.size:
            raise ValueError(
                f"a {width}x{height} frame is smaller than the {self.size}x{self.size} centre crop "
                "(INPUT.CLIP.CROP_SIZE; resize with INPUT.MIN_SIZE_TEST)"
            )
        return T.CropTransform((width - self.size) // 2, (height - self.size) // 2, self.size, self.size)

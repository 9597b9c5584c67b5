import numpy as np
import pytest

from detectron2.data import transforms as T

from troi.data import CenterCrop, MultiScaleCrop
from troi.data.clip_transforms import fixed_crop_offsets


def test_crop_sides_are_scales_of_the_shorter_side_at_most_one_step_apart():
    np.random.seed(0)
    image = np.zeros((256, 340, 3), dtype=np.uint8)
    augmentation = MultiScaleCrop(224, scales=(1, 0.875, 0.75, 0.66), max_aspect_gap=1)
    sides = [256, 224, 192, 168]  # int(256 * scale); 224 is the output size already
    seen = set()
    for _ in range(500):
        crop = augmentation.get_transform(image)
        assert isinstance(crop, T.CropTransform)
        i, j = sides.index(crop.h), sides.index(crop.w)
        assert abs(i - j) <= 1
        seen.add((crop.w, crop.h))
        assert (crop.x0, crop.y0) in fixed_crop_offsets(340, 256, crop.w, crop.h)
    assert len(seen) == 10  # 4 squares + 2 x 3 neighbours


def test_sides_within_3_px_of_the_output_snap_to_it():
    np.random.seed(0)
    image = np.zeros((258, 258, 3), dtype=np.uint8)  # 258 * 0.875 = 225.75 -> 225, within 3 of 224
    sides = {MultiScaleCrop(224, scales=(0.875,)).get_transform(image).w for _ in range(5)}
    assert sides == {224}


def test_the_13_fixed_places():
    offsets = fixed_crop_offsets(image_width=120, image_height=100, crop_width=80, crop_height=60)
    assert len(offsets) == len(set(offsets)) == 13
    assert {(0, 0), (40, 0), (0, 40), (40, 40), (20, 20)} <= set(offsets)  # corners and centre
    assert {(0, 20), (40, 20), (20, 40), (20, 0), (10, 10), (30, 10), (10, 30), (30, 30)} <= set(offsets)


def test_random_positions_cover_the_image():
    np.random.seed(0)
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    augmentation = MultiScaleCrop(50, scales=(0.5,), random_position=True)
    x0s = {augmentation.get_transform(image).x0 for _ in range(400)}
    assert min(x0s) == 0 and max(x0s) == 50 and len(x0s) > 40


def test_centre_crop():
    crop = CenterCrop(64).get_transform(np.zeros((72, 90, 3), dtype=np.uint8))
    assert (crop.x0, crop.y0, crop.w, crop.h) == (13, 4, 64, 64)
    with pytest.raises(ValueError, match="smaller than the 64x64 centre crop"):
        CenterCrop(64).get_transform(np.zeros((60, 90, 3), dtype=np.uint8))


def test_bad_settings():
    with pytest.raises(ValueError, match=r"CROP_SCALES must be fractions in \(0, 1\]"):
        MultiScaleCrop(224, scales=(1.2,))
    with pytest.raises(ValueError, match="MAX_ASPECT_GAP must be >= 0"):
        MultiScaleCrop(224, max_aspect_gap=-1)

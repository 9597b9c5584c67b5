"""cv2 resizing as mmcv does it (INPUT.RESIZE_BACKEND)."""

import cv2
import numpy as np
import pytest

from detectron2.config import get_cfg
from detectron2.data import transforms as T

from troi import add_troi_config
from troi.data import FrameGroupDatasetMapper, VideoIndex
from troi.data.transforms import CV2ResizeShortestEdge, CV2ResizeTransform, build_resize


def test_output_size_is_mmcv_keep_ratio_rounding():
    # min(1000 / 320, 600 / 240) = 2.5; 1280x720: min(1000 / 1280, 600 / 720) = 0.78125 -> 562.5 -> 563
    assert CV2ResizeShortestEdge.get_output_shape(240, 320, 600, 1000) == (600, 800)
    assert CV2ResizeShortestEdge.get_output_shape(720, 1280, 600, 1000) == (563, 1000)
    assert CV2ResizeShortestEdge.get_output_shape(375, 500, 600, 1000) == (600, 800)


def test_images_are_resampled_by_cv2_bilinear_and_masks_by_nearest():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    transform = CV2ResizeShortestEdge(60, 100, "choice").get_transform(image)
    assert isinstance(transform, CV2ResizeTransform) and (transform.new_h, transform.new_w) == (60, 80)
    np.testing.assert_array_equal(
        transform.apply_image(image), cv2.resize(image, (80, 60), interpolation=cv2.INTER_LINEAR)
    )
    mask = (rng.random((24, 32)) > 0.5).astype(np.uint8)
    resized = transform.apply_segmentation(mask)
    assert resized.shape == (60, 80) and set(np.unique(resized)) <= {0, 1}
    np.testing.assert_allclose(transform.apply_coords(np.array([[32.0, 24.0]])), [[80.0, 60.0]])
    with pytest.raises(ValueError, match="image of 10x10 given to a resize from 32x24"):
        transform.apply_image(np.zeros((10, 10, 3), dtype=np.uint8))


def cfg_with(backend):
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.INPUT.RESIZE_BACKEND = backend
    return cfg


def test_the_config_picks_the_backend_for_the_mapper():
    assert type(build_resize(cfg_with("PIL"), is_train=False)) is T.ResizeShortestEdge
    assert isinstance(build_resize(cfg_with("cv2"), is_train=True), CV2ResizeShortestEdge)
    mapper = FrameGroupDatasetMapper(cfg_with("cv2"), is_train=False, videos=VideoIndex([]))
    assert isinstance(mapper.augmentations.augs[0], CV2ResizeShortestEdge)
    with pytest.raises(ValueError, match=r"INPUT.RESIZE_BACKEND='skimage': choose one of \('PIL', 'cv2'\)"):
        build_resize(cfg_with("skimage"), is_train=False)

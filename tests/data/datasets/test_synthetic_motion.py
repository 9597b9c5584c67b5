import filecmp
import json
import os

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from tests.conftest import unregister_datasets
from troi.data.datasets import (
    SYNTHETIC_MOTION_CLASSES,
    SYNTHETIC_MOTION_FLIP_LABEL_MAP,
    ensure_synthetic_motion_clips,
    generate_synthetic_motion_clips,
    register_synthetic_motion_clips,
    render_motion_clip,
)

SMALL = {"num_frames": (5, 7), "image_size": (40, 48)}


def clip(class_name, seed=0, num_frames=9, image_size=(72, 72)):
    return render_motion_clip(
        np.random.default_rng(seed), SYNTHETIC_MOTION_CLASSES.index(class_name), num_frames, image_size
    ).astype(np.float32)


def test_same_seed_same_bytes_and_mmaction2_list(tmp_path):
    first = generate_synthetic_motion_clips(str(tmp_path / "a"), seed=5, num_clips=10, **SMALL)
    second = generate_synthetic_motion_clips(str(tmp_path / "b"), seed=5, num_clips=10, **SMALL)
    comparison = filecmp.dircmp(tmp_path / "a" / "frames", tmp_path / "b" / "frames")
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only
    assert all(
        not filecmp.dircmp(tmp_path / "a" / "frames" / d, tmp_path / "b" / "frames" / d).diff_files
        for d in comparison.common_dirs
    )
    assert filecmp.cmp(first, second, shallow=False)
    lines = [line.split() for line in open(first)]
    assert [label for _, _, label in lines] == [str(i % 8) for i in range(10)]  # balanced classes
    for name, num_frames, _ in lines:
        frames = sorted(os.listdir(tmp_path / "a" / "frames" / name))
        assert frames == [f"img_{i:05d}.jpg" for i in range(1, int(num_frames) + 1)]
        assert 5 <= int(num_frames) <= 7
    assert cv2.imread(str(tmp_path / "a" / "frames" / "clip_00001" / "img_00001.jpg")).shape == (40, 48, 3)
    other = generate_synthetic_motion_clips(str(tmp_path / "c"), seed=6, num_clips=10, **SMALL)
    assert (
        not filecmp.cmp(first, other, shallow=False)
        or filecmp.dircmp(tmp_path / "a" / "frames" / "clip_00001", tmp_path / "c" / "frames" / "clip_00001").diff_files
    )


def test_a_single_frame_does_not_tell_the_class():
    """With the same seed every class draws the same plane, view and speed: the middle
    frame (tau = 0) is the same image, up to the sensor noise, for all eight classes."""
    middle = [clip(name)[4] for name in SYNTHETIC_MOTION_CLASSES]
    for frame in middle[1:]:
        assert np.abs(frame - middle[0]).mean() < 3.0  # two draws of std-2 noise: ~2.3
    moving = clip("moving_left")
    assert np.abs(moving[0] - moving[8]).mean() > 10  # while the clip itself changes


@pytest.mark.parametrize(
    "name, reverse",
    [
        ("moving_left", "moving_right"),
        ("moving_up", "moving_down"),
        ("moving_up_left", "moving_down_right"),
        ("moving_up_right", "moving_down_left"),
    ],
)
def test_time_reversal_pairs_show_the_same_frames_in_reverse(name, reverse):
    forward, backward = clip(name, seed=2), clip(reverse, seed=2)[::-1]
    assert np.abs(forward - backward).mean() < 3.0
    assert np.abs(forward - clip(reverse, seed=2)).mean() > 5


@pytest.mark.parametrize(
    "name, direction",
    [
        ("moving_left", (-1, 0)),
        ("moving_right", (1, 0)),
        ("moving_up", (0, -1)),
        ("moving_down", (0, 1)),
        ("moving_up_left", (-1, -1)),
        ("moving_up_right", (1, -1)),
        ("moving_down_left", (-1, 1)),
        ("moving_down_right", (1, 1)),
    ],
)
def test_the_plane_slides_the_way_the_name_says(name, direction):
    frames = clip(name, seed=4, num_frames=3)
    grey = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float64) for frame in frames]
    (dx, dy), _ = cv2.phaseCorrelate(grey[0], grey[1])  # how far frame 1 is shifted from frame 0
    assert np.sign(np.round([dx, dy])).tolist() == list(direction)
    assert 1.5 < np.hypot(dx, dy) < 3.2  # 2.5-4% of the 72 px side per frame


def test_shading_makes_the_slide_change_brightness_and_tint():
    """Sliding right brings the plane's darker left part into view; sliding down its redder top."""

    def mean(frames, channel=None):
        return frames.mean(axis=(1, 2, 3)) if channel is None else frames[..., channel].mean(axis=(1, 2))

    right, down = clip("moving_right", seed=5), clip("moving_down", seed=5)
    assert (np.diff(mean(right)) < 0).all()
    assert (np.diff(mean(down, 2)) > 0).all() and (np.diff(mean(down, 0)) < 0).all()  # redder, less blue


def test_flip_label_map_swaps_the_mirrored_classes():
    names = {
        SYNTHETIC_MOTION_CLASSES[a]: SYNTHETIC_MOTION_CLASSES[b] for a, b in SYNTHETIC_MOTION_FLIP_LABEL_MAP.items()
    }
    assert names == {
        "moving_left": "moving_right",
        "moving_right": "moving_left",
        "moving_up_left": "moving_up_right",
        "moving_up_right": "moving_up_left",
        "moving_down_left": "moving_down_right",
        "moving_down_right": "moving_down_left",
    }


def test_registration_generates_on_first_use_and_refuses_other_data(tmp_path):
    names = register_synthetic_motion_clips(
        str(tmp_path / "motion"), prefix="motion_test", seed=1, num_train_clips=8, num_val_clips=4, **SMALL
    )
    try:
        assert names == ["motion_test_train", "motion_test_val"]
        assert not (tmp_path / "motion").exists()  # registering reads and writes nothing
        metadata = MetadataCatalog.get("motion_test_val")
        assert metadata.evaluator_type == "recognition" and metadata.num_classes == 8
        records = DatasetCatalog.get("motion_test_val")
        assert len(records) == 4 and [r["label"] for r in records] == [0, 1, 2, 3]
        assert records[0]["frame_dir"] == str(tmp_path / "motion" / "val" / "frames" / "clip_00001")
        info = json.loads((tmp_path / "motion" / "val" / "info.json").read_text())
        assert info["seed"] == 3 and info["classes"] == list(SYNTHETIC_MOTION_CLASSES)
        assert ensure_synthetic_motion_clips(**metadata.generator_args).endswith("list_rawframes.txt")
        with pytest.raises(ValueError, match="holds synthetic motion clips generated with"):
            ensure_synthetic_motion_clips(str(tmp_path / "motion" / "val"), seed=4, num_clips=4, **SMALL)
    finally:
        unregister_datasets(names)


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="num_frames must be"):
        generate_synthetic_motion_clips(str(tmp_path / "x"), seed=0, num_clips=2, num_frames=(1, 3))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        generate_synthetic_motion_clips(str(tmp_path / "x"), seed=-1, num_clips=2)
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        generate_synthetic_motion_clips(str(tmp_path / "taken"), seed=0, num_clips=2, **SMALL)

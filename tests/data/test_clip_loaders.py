import pytest
import torch

from tests.conftest import unregister_datasets
from tests.modeling.backbone.test_tanet import recognition_cfg
from troi.data import build_clip_test_loader, build_clip_train_loader, is_recognition_dataset
from troi.data.datasets import register_synthetic_motion_clips


@pytest.fixture
def motion_clips(tmp_path):
    names = register_synthetic_motion_clips(
        str(tmp_path / "clips"), prefix="loader_test", seed=3, num_train_clips=6, num_val_clips=3, num_frames=(8, 9)
    )
    yield names
    unregister_datasets(names)


def cfg_for(*opts):
    return recognition_cfg(
        "synthetic/tanet_tiny.yaml",
        "DATASETS.TRAIN",
        ("loader_test_train",),
        "DATASETS.TEST",
        ("loader_test_val",),
        "DATALOADER.NUM_WORKERS",
        0,
        "SOLVER.IMS_PER_BATCH",
        4,
        *opts,
    )


def test_train_batches_depend_on_the_seed_alone(motion_clips):
    first = next(iter(build_clip_train_loader(cfg_for())))
    again = next(iter(build_clip_train_loader(cfg_for())))
    other = next(iter(build_clip_train_loader(cfg_for("SEED", 1))))
    assert len(first) == 4 and first[0]["clip"].shape == (8, 3, 64, 64)
    assert [x["video_id"] for x in first] == [x["video_id"] for x in again]
    assert all(torch.equal(a["clip"], b["clip"]) for a, b in zip(first, again))
    assert not all(torch.equal(a["clip"], b["clip"]) for a, b in zip(first, other))


def test_test_loader_visits_every_clip_once(motion_clips):
    batches = list(build_clip_test_loader(cfg_for(), "loader_test_val"))
    assert [batch[0]["video_id"] for batch in batches] == ["clip_00001", "clip_00002", "clip_00003"]
    assert [batch[0]["label"] for batch in batches] == [0, 1, 2]


def test_clear_errors(motion_clips):
    with pytest.raises(ValueError, match="'loader_test_val' has 8 classes but MODEL.RECOGNITION_HEAD.NUM_CLASSES is 5"):
        build_clip_test_loader(cfg_for("MODEL.RECOGNITION_HEAD.NUM_CLASSES", 5), "loader_test_val")
    with pytest.raises(ValueError, match="mix video recognition"):
        is_recognition_dataset(["loader_test_train", "synthetic_vid_train"])
    assert is_recognition_dataset(["loader_test_train"]) and not is_recognition_dataset(["synthetic_vid_train"])

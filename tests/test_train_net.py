"""train_net.py end to end: one training iteration, its evaluation, and --eval-only."""
import importlib.util
import json
import os
import zipfile
from pathlib import Path

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import default_argument_parser

from troi.data.datasets import register_synthetic_videos

ROOT = Path(__file__).parents[1]


def load_train_net():
    spec = importlib.util.spec_from_file_location("train_net", ROOT / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_synthetic(tmp_path):
    """Synthetic videos small enough for one CPU iteration: 2 train videos, 1 val video."""
    names = register_synthetic_videos(str(tmp_path / "videos"), prefix="train_net_test", seed=4, num_train_videos=2,
                                      num_val_videos=1, num_frames=(6, 7), image_size=(64, 96))
    yield tmp_path
    for name in names:
        DatasetCatalog.pop(name, None)
        MetadataCatalog.pop(name, None)


def run(train_net, output_dir, *extra, config="configs/synthetic/troi_tiny_dc5.yaml", kind="vid"):
    args = default_argument_parser().parse_args([
        "--config-file", str(ROOT / config), *extra,
        "DATASETS.TRAIN", f"('train_net_test_{kind}_train',)", "DATASETS.TEST", f"('train_net_test_{kind}_val',)",
        "SOLVER.MAX_ITER", "1", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0",
        "INPUT.SUPPORT_FRAMES.TEST.NUM", "3", "OUTPUT_DIR", str(output_dir),
    ])
    return train_net.main(args)


def test_one_iteration_then_eval_only(tiny_synthetic):
    train_net = load_train_net()
    output_dir = tiny_synthetic / "output"
    run(train_net, output_dir)
    weights = output_dir / "model_final.pth"
    assert weights.is_file()
    with open(output_dir / "metrics.json") as f:  # the evaluation after the last iteration
        logged = [json.loads(line) for line in f]
    assert {"bbox/AP50", "bbox/AP50_degraded"} <= set(logged[-1])
    metrics = run(train_net, output_dir, "--eval-only", "MODEL.WEIGHTS", str(weights))["bbox"]
    assert {"AP", "AP50", "AP50_degraded", "AP50_clean", "AP50_slow"} <= set(metrics)
    assert all(0 <= value <= 100 or value != value for value in metrics.values())  # percent, or NaN
    assert os.path.isfile(output_dir / "inference" / "train_net_test_vid_val" / "vid_detections.json")


def test_one_vis_iteration_with_troi_then_eval_only(tiny_synthetic):
    train_net = load_train_net()
    output_dir = tiny_synthetic / "output"
    vis = dict(config="configs/synthetic/masktrack_troi_tiny_fpn.yaml", kind="ytvis")
    run(train_net, output_dir, **vis)
    weights = output_dir / "model_final.pth"
    with open(output_dir / "metrics.json") as f:  # the evaluation after the last iteration
        logged = [json.loads(line) for line in f]
    assert "loss_track" in logged[0] and {"segm/AP", "segm/AP50", "segm/AR10"} <= set(logged[-1])
    metrics = run(train_net, output_dir, "--eval-only", "MODEL.WEIGHTS", str(weights), **vis)["segm"]
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10"} <= set(metrics)
    assert all(0 <= value <= 100 or value != value for value in metrics.values())  # percent, or NaN
    with zipfile.ZipFile(output_dir / "inference" / "train_net_test_ytvis_val" / "results.zip") as archive:
        assert archive.namelist() == ["results.json"]

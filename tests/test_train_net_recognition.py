"""train_net.py on video recognition: TANet trains on synthetic motion clips, prints and
logs top-1, and --eval-only evaluates the checkpoint."""

import json
from pathlib import Path

import pytest
from detectron2.engine import default_argument_parser

from tests.conftest import unregister_datasets
from tests.test_train_net import load_train_net
from troi.data.datasets import register_synthetic_motion_clips

ROOT = Path(__file__).parents[1]


@pytest.fixture
def tiny_motion_clips(tmp_path):
    names = register_synthetic_motion_clips(
        str(tmp_path / "clips"),
        prefix="train_net_motion",
        seed=2,
        num_train_clips=8,
        num_val_clips=8,
        num_frames=(8, 10),
    )
    yield tmp_path
    unregister_datasets(names)


def run(train_net, output_dir, *extra, config="configs/synthetic/tanet_tiny.yaml"):
    args = default_argument_parser().parse_args(
        [
            "--config-file",
            str(ROOT / config),
            *extra,
            "DATASETS.TRAIN",
            "('train_net_motion_train',)",
            "DATASETS.TEST",
            "('train_net_motion_val',)",
            "SOLVER.MAX_ITER",
            "2",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "DATALOADER.NUM_WORKERS",
            "0",
            "OUTPUT_DIR",
            str(output_dir),
        ]
    )
    return train_net.main(args)


def test_two_iterations_then_eval_only(tiny_motion_clips):
    config = "configs/synthetic/tanet_tiny.yaml"
    train_net = load_train_net()
    output_dir = tiny_motion_clips / "output"
    run(train_net, output_dir, config=config)
    weights = output_dir / "model_final.pth"
    assert weights.is_file()
    with open(output_dir / "metrics.json") as f:  # the evaluation after the last iteration
        logged = [json.loads(line) for line in f]
    assert "total_loss" in logged[0]  # the one loss, loss_cls
    assert {"recognition/top1", "recognition/top5", "recognition/mean_class_accuracy"} <= set(logged[-1])
    metrics = run(train_net, output_dir, "--eval-only", "MODEL.WEIGHTS", str(weights), config=config)["recognition"]
    assert set(metrics) == {"top1", "top5", "mean_class_accuracy"}
    assert all(value in {12.5 * k for k in range(9)} for value in (metrics["top1"], metrics["top5"]))  # 8 clips
    predictions = json.loads(
        (output_dir / "inference" / "train_net_motion_val" / "recognition_predictions.json").read_text()
    )
    assert len(predictions) == 8 and predictions[0]["label"] == "moving_left"

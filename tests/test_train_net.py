"""train_net.py end to end: one training iteration, its evaluation, and --eval-only; a resumed
run equal to an uninterrupted one; clear errors for bad classes and frames."""

import importlib.util
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.engine import HookBase, default_argument_parser

from tests.conftest import unregister_datasets
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
    names = register_synthetic_videos(
        str(tmp_path / "videos"),
        prefix="train_net_test",
        seed=4,
        num_train_videos=2,
        num_val_videos=1,
        num_frames=(6, 7),
        image_size=(64, 96),
    )
    yield tmp_path
    unregister_datasets(names)


def arguments(output_dir, *extra, config="configs/synthetic/troi_tiny_dc5.yaml", kind="vid", opts=()):
    return default_argument_parser().parse_args(
        [
            "--config-file",
            str(ROOT / config),
            *extra,
            "DATASETS.TRAIN",
            f"('train_net_test_{kind}_train',)",
            "DATASETS.TEST",
            f"('train_net_test_{kind}_val',)",
            "SOLVER.MAX_ITER",
            "1",
            "SOLVER.IMS_PER_BATCH",
            "2",
            "DATALOADER.NUM_WORKERS",
            "0",
            "INPUT.SUPPORT_FRAMES.TEST.NUM",
            "3",
            "OUTPUT_DIR",
            str(output_dir),
            *opts,
        ]
    )


def run(train_net, output_dir, *extra, **kwargs):
    return train_net.main(arguments(output_dir, *extra, **kwargs))


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


class Interrupt(HookBase):
    """Kills the run (as a kill would) once iteration ``last`` and its checkpoint are done."""

    def __init__(self, last):
        self.last = last

    def after_step(self):
        if self.trainer.iter == self.last:
            raise KeyboardInterrupt


def train(train_net, output_dir, workers, resume=False, interrupt_after=None):
    """40 iterations of a CPU-sized TRoI model (checkpoints every 20), or fewer when interrupted."""
    cfg = train_net.setup(
        arguments(
            output_dir,
            opts=[
                "DATASETS.TEST",
                "()",
                "SOLVER.MAX_ITER",
                "40",
                "SOLVER.CHECKPOINT_PERIOD",
                "20",
                "DATALOADER.NUM_WORKERS",
                str(workers),
                "INPUT.MIN_SIZE_TRAIN",
                "(64,)",
                "INPUT.MAX_SIZE_TRAIN",
                "96",
                "MODEL.RPN.POST_NMS_TOPK_TRAIN",
                "32",
                "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
                "16",
            ],
        )
    )
    trainer = train_net.Trainer(cfg)
    if interrupt_after is not None:
        trainer.register_hooks([Interrupt(interrupt_after)])
    trainer.resume_or_load(resume=resume)
    try:
        trainer.train()
    except KeyboardInterrupt:
        assert interrupt_after is not None
    return torch.load(output_dir / "model_final.pth", weights_only=True) if interrupt_after is None else None


def test_resumed_run_equals_the_uninterrupted_one(tiny_synthetic):
    """40 iterations in one go, and 20 + --resume to 40 (with data-loading workers, to show that the
    data depends on the seed alone), end with the same weights and optimizer state, bit for bit."""
    train_net = load_train_net()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # fast on a busy machine (all three parts run with it)
    try:
        uninterrupted = train(train_net, tiny_synthetic / "uninterrupted", workers=0)
        train(train_net, tiny_synthetic / "resumed", workers=0, interrupt_after=19)
        assert (tiny_synthetic / "resumed" / "last_checkpoint").read_text() == "model_0000019.pth"
        resumed = train(train_net, tiny_synthetic / "resumed", workers=2, resume=True)
    finally:
        torch.set_num_threads(threads)
    assert resumed["trainer"]["iteration"] == uninterrupted["trainer"]["iteration"] == 39
    assert resumed["train_loader"] == uninterrupted["train_loader"] == {"seed": 0, "batches": 40}
    assert uninterrupted["model"].keys() == resumed["model"].keys()
    differing = [
        name for name, tensor in uninterrupted["model"].items() if not torch.equal(tensor, resumed["model"][name])
    ]
    assert differing == []
    momenta = [
        [state["momentum_buffer"] for state in run["trainer"]["_trainer"]["optimizer"]["state"].values()]
        for run in (uninterrupted, resumed)
    ]
    assert momenta[0] and all(torch.equal(a, b) for a, b in zip(*momenta))


def test_class_count_must_match_the_config(tiny_synthetic):
    with pytest.raises(
        ValueError,
        match=r"dataset 'train_net_test_vid_train' \(.*coco_vid.json\) has 4 classes but "
        r"MODEL.ROI_HEADS.NUM_CLASSES is 5: set MODEL.ROI_HEADS.NUM_CLASSES 4",
    ):
        run(load_train_net(), tiny_synthetic / "output", opts=["MODEL.ROI_HEADS.NUM_CLASSES", "5"])


def test_a_corrupt_frame_met_in_training_is_named(tiny_synthetic):
    DatasetCatalog.get("train_net_test_vid_train")  # generates the videos
    frames = sorted((tiny_synthetic / "videos" / "train" / "frames").rglob("*.jpg"))
    for frame in frames:
        frame.write_bytes(b"not a JPEG")
    with pytest.raises(ValueError, match=r"could not decode frame .*/frames/video_0000\d/\d+.jpg"):
        run(load_train_net(), tiny_synthetic / "output", opts=["DATALOADER.NUM_WORKERS", "1"])

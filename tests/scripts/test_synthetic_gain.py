import argparse
import importlib.util
import json
from pathlib import Path

import matplotlib.image

from troi.evaluation import evaluate_vid

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "synthetic_gain.py"
_spec = importlib.util.spec_from_file_location("synthetic_gain", SCRIPT)
synthetic_gain = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic_gain)


def args(tmp_path, opts=()):
    return argparse.Namespace(seed=1, work_dir=str(tmp_path), threads=2, opts=list(opts))


def test_config_texts_follow_the_base_chain():
    texts = synthetic_gain._config_texts(synthetic_gain.CONFIGS["troi"])
    base = SCRIPT.parents[1] / "configs" / "synthetic" / "Base-Synthetic-Tiny-DC5.yaml"
    assert texts == [synthetic_gain.CONFIGS["troi"].read_text(), base.read_text()]


def test_job_key_depends_on_what_the_result_depends_on(tmp_path):
    troi = synthetic_gain.CONFIGS["troi"]
    key = synthetic_gain.make_job(args(tmp_path), "troi", troi)["key"]
    assert synthetic_gain.make_job(args(tmp_path), "troi", troi)["key"] == key
    assert synthetic_gain.make_job(args(tmp_path / "elsewhere"), "troi", troi)["key"] == key
    changed = [
        synthetic_gain.make_job(args(tmp_path), "troi", troi, ["MODEL.TROI.NUM_MOST_SIMILAR_POINTS", 4]),
        synthetic_gain.make_job(args(tmp_path, ["SOLVER.MAX_ITER", "20"]), "troi", troi),
        synthetic_gain.make_job(args(tmp_path), "troi", synthetic_gain.CONFIGS["single_frame"]),
        synthetic_gain.make_job(args(tmp_path), "troi", troi, train=False, weights="model.pth"),
    ]
    assert len({job["key"] for job in changed} | {key}) == 5
    assert changed[1]["opts"] == ["SOLVER.MAX_ITER", "20"]


def test_plot_writes_a_png(tmp_path):
    metrics = lambda ap: {"AP50": ap, "AP50_degraded": ap - 5, "AP50_clean": ap + 5}  # noqa: E731
    results = {
        "seed": 0,
        "single_frame": metrics(40),
        "K": {str(k): metrics(50 + k) for k in synthetic_gain.ABLATION_K},
        "T": {str(t): metrics(45 + t) for t in synthetic_gain.ABLATION_T},
    }
    path = tmp_path / "plots" / "ablations.png"
    synthetic_gain.plot_ablations(results, str(path))
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 2 * image.shape[0]
    assert [p.name for p in path.parent.iterdir()] == ["ablations.png"]


def test_class_agnostic_metrics_ignore_the_class(tmp_path):
    job = synthetic_gain.make_job(args(tmp_path), "troi", synthetic_gain.CONFIGS["troi"])
    images = [
        {
            "id": i,
            "video_id": 1,
            "frame_id": i - 1,
            "file_name": f"{i}.jpg",
            "width": 64,
            "height": 64,
            "degraded": i == 2,
        }
        for i in (1, 2)
    ]
    annotations = [
        {"id": i, "image_id": i, "category_id": 1, "instance_id": 1, "bbox": [8, 8, 30, 30], "area": 900, "iscrowd": 0}
        for i in (1, 2)
    ]
    ground_truth = {
        "videos": [{"id": 1, "name": "v"}],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    gt_path = Path(job["data_dir"]) / "val" / "coco_vid.json"
    gt_path.parent.mkdir(parents=True)
    gt_path.write_text(json.dumps(ground_truth))
    # the right box in both frames, the wrong class on the degraded one
    detections = [{"image_id": i, "category_id": 1 + (i == 2), "bbox": [8, 8, 30, 30], "score": 0.9} for i in (1, 2)]
    detections_path = Path(job["output_dir"]) / "inference" / "synthetic_gain_seed1_vid_val" / "vid_detections.json"
    detections_path.parent.mkdir(parents=True)
    detections_path.write_text(json.dumps(detections))
    metrics = synthetic_gain.class_agnostic_metrics(job)
    assert metrics == {
        "AP50_class_agnostic": 100.0,
        "AP50_degraded_class_agnostic": 100.0,
        "AP50_clean_class_agnostic": 100.0,
    }
    assert evaluate_vid(gt_path, detections)["AP50_degraded"] == 0.0

#!/usr/bin/env python
"""Benchmark: the temporal gain on degraded frames, and the paper's ablations, on the
embedded synthetic videos.

Mode ``gain`` (default) generates synthetic videos from ``--seed`` (train and val videos
disjoint), trains the single-frame, TRoI, SELSA and SELSA+TRoI synthetic configs with the
same seed, schedule and budget, evaluates each on val, and writes::

    {"single_frame": {"AP50", "AP50_degraded", "AP50_clean", "step_seconds", "peak_memory_mb",
                      "AP50_class_agnostic", "AP50_degraded_class_agnostic", "AP50_clean_class_agnostic"},
     "troi": {...}, "selsa": {...}, "selsa_troi": {...},
     "troi_vs_single_frame": {"step_time_ratio", "peak_memory_ratio"}, "seed", "seconds"}

(AP in percent; ``step_seconds``: median training iteration time; ``peak_memory_mb``: the
peak resident memory of the process that trained it, before its evaluation; ``seconds``:
its training and evaluation;
``*_class_agnostic``: the same detections and ground truth with all classes merged, which
separates finding an object from naming its class).

Mode ``ablations`` trains TRoI with K in {1, 2, 4, 6} (N = 4; paper Table 3) and N in
{0 (averaging), 1, 4, 8} (K = 2; Table 4; N = 0 vs 4 is Table 1's "MS RoI Align +
averaging" vs "+ TAFA"), evaluates the K = 2, N = 4 model with T in {2, 6, 14} uniformly
sampled support frames (Fig. 5c), adds the single-frame model as a reference, and writes
the results as JSON and, with ``--plot``, a PNG of AP50_degraded against T and K.

``--opts KEY VALUE ...`` changes every run's config (a shorter schedule, say). Each
model trains and is evaluated in its own process (``--threads`` CPU threads). A
model whose config and data match a finished run in ``--work-dir`` is reused, so the
ablations reuse the gain run's TRoI and single-frame models. Shows a progress bar.

    python benchmarks/synthetic_gain.py --seed 0 --output gain_seed0.json
    python benchmarks/synthetic_gain.py --seed 0 --output ablations_seed0.json --mode ablations --plot ablations.png
"""

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    name: ROOT / f"configs/synthetic/{name}_tiny_dc5.yaml" for name in ("single_frame", "troi", "selsa", "selsa_troi")
}
REPORTED_METRICS = ("AP50", "AP50_degraded", "AP50_clean")
ABLATION_K = (1, 2, 4, 6)
ABLATION_N = (0, 1, 4, 8)
ABLATION_T = (2, 6, 14)


def dataset_names(seed: int):
    prefix = f"synthetic_gain_seed{seed}"
    return prefix, f"{prefix}_vid_train", f"{prefix}_vid_val"


def build_cfg(job: dict):
    """The detectron2 config of one job (runs in the worker process)."""
    from troi.engine.measured_training import benchmark_cfg

    _, train_name, val_name = dataset_names(job["seed"])
    return benchmark_cfg(job["config"], train_name, val_name, job["seed"], job["output_dir"], job["opts"])


def _worker(job: dict):
    """Train (unless ``job["train"]`` is False), then evaluate; write ``job["result_file"]``."""
    import torch

    import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
    from detectron2.utils.env import seed_all_rng

    from troi.data.datasets import register_synthetic_videos
    from troi.engine import Trainer
    from troi.engine.measured_training import log_to_file, train_measured

    started = time.time()
    torch.set_num_threads(job["threads"])
    # This process was spawned; its data-loader workers fork from it, as under train_net.py
    # (a spawned worker would unpickle detectron2 before troi's compat shims).
    multiprocessing.set_start_method("fork", force=True)
    register_synthetic_videos(job["data_dir"], prefix=dataset_names(job["seed"])[0], seed=job["seed"])
    cfg = build_cfg(job)
    seed_all_rng(cfg.SEED)  # the model's initialisation, as train_net.py's default_setup seeds it
    log_to_file(cfg.OUTPUT_DIR)  # the terminal shows the progress bar

    result = {}
    if job["train"]:
        model, measured = train_measured(cfg, job["label"])
        result.update({key: measured[key] for key in ("step_seconds", "peak_memory_mb")})
    else:
        from detectron2.checkpoint import DetectionCheckpointer

        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model).load(job["weights"])
    print(f"[synthetic_gain] {job['label']}: evaluating on {cfg.DATASETS.TEST[0]}", file=sys.stderr, flush=True)
    metrics = Trainer.test(cfg, model)["bbox"]
    result.update({key: metrics[key] for key in REPORTED_METRICS})
    result["seconds"] = time.time() - started  # training and evaluation
    result["job_key"] = job["key"]
    from troi.utils import write_json_atomically

    write_json_atomically(result, job["result_file"])


def make_job(args, label: str, config: Path, opts=(), train=True, weights=None) -> dict:
    """One training (or evaluation-only) run, keyed by everything its result depends on."""
    output_dir = os.path.join(args.work_dir, f"seed{args.seed}", label)
    job = {
        "label": label,
        "config": str(config),
        "opts": [str(o) for o in (*args.opts, *opts)],
        "seed": args.seed,
        "threads": args.threads,
        "train": train,
        "weights": weights,
        "output_dir": output_dir,
        "data_dir": os.path.join(args.work_dir, f"seed{args.seed}", "data"),
        "result_file": os.path.join(output_dir, "result.json"),
    }
    identity = [_config_texts(Path(config)), job["opts"], args.seed, train, weights, _generator_version()]
    job["key"] = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    return job


def _config_texts(config: Path) -> list:
    """The text of a yaml config and of every ``_BASE_`` it inherits."""
    text = config.read_text()
    base = next(
        (line.split(":", 1)[1].strip().strip("\"'") for line in text.splitlines() if line.startswith("_BASE_:")), None
    )
    return [text] + (_config_texts(config.parent / base) if base else [])


def _generator_version() -> int:
    from troi.data.datasets.synthetic import GENERATOR_VERSION

    return GENERATOR_VERSION


def run_job(job: dict) -> dict:
    """The job's result: reused when a finished run with the same key exists, else run in a
    fresh process."""
    if os.path.isfile(job["result_file"]):
        with open(job["result_file"]) as f:
            previous = json.load(f)
        if previous.get("job_key") == job["key"]:
            print(f"[synthetic_gain] {job['label']}: reusing {job['result_file']}", file=sys.stderr, flush=True)
            return previous
        os.remove(job["result_file"])
    process = multiprocessing.get_context("spawn").Process(target=_worker, args=(job,))
    process.start()
    process.join()
    if process.exitcode != 0 or not os.path.isfile(job["result_file"]):
        raise RuntimeError(f"{job['label']} failed (exit code {process.exitcode}); see {job['output_dir']}/log.txt")
    with open(job["result_file"]) as f:
        return json.load(f)


def class_agnostic_metrics(job: dict) -> dict:
    """AP50 (all, degraded, clean frames) of the job's val detections with every class
    merged into one: how well the model finds the objects, whatever their class."""
    from troi.data.datasets.coco_vid_format import EVALUATION_NEEDS, read_coco_vid_json, read_detections
    from troi.evaluation import evaluate_vid

    _, _, val_name = dataset_names(job["seed"])
    ground_truth = read_coco_vid_json(
        os.path.join(job["data_dir"], "val", "coco_vid.json"), EVALUATION_NEEDS, "ground-truth json"
    )
    detections = read_detections(
        os.path.join(job["output_dir"], "inference", val_name, "vid_detections.json"),
        {image["id"] for image in ground_truth["images"]},
        {category["id"] for category in ground_truth["categories"]},
    )
    ground_truth["categories"] = [{"id": 1, "name": "object"}]
    for annotation in ground_truth["annotations"]:
        annotation["category_id"] = 1
    detections = [dict(detection, category_id=1) for detection in detections]
    with tempfile.TemporaryDirectory() as folder:
        gt_path = os.path.join(folder, "class_agnostic_gt.json")
        with open(gt_path, "w") as f:
            json.dump(ground_truth, f)
        metrics = evaluate_vid(gt_path, detections)
    return {f"{key}_class_agnostic": metrics[key] for key in REPORTED_METRICS}


def run_gain(args) -> dict:
    jobs = {name: make_job(args, name, config) for name, config in CONFIGS.items()}
    results = {
        name: {**{key: value for key, value in run_job(job).items() if key != "job_key"}, **class_agnostic_metrics(job)}
        for name, job in jobs.items()
    }
    single, troi = results["single_frame"], results["troi"]
    results["troi_vs_single_frame"] = {
        "step_time_ratio": troi["step_seconds"] / single["step_seconds"],
        "peak_memory_ratio": troi["peak_memory_mb"] / single["peak_memory_mb"],
    }
    return results


def run_ablations(args) -> dict:
    troi_config = CONFIGS["troi"]
    default = make_job(args, "troi", troi_config)  # K = 2, N = 4, T = 14: the gain run's TRoI model
    trained = {"troi": run_job(default)}
    for key, values, default_value, label in (
        ("NUM_MOST_SIMILAR_POINTS", ABLATION_K, 2, "k"),
        ("NUM_ATTENTION_BLOCKS", ABLATION_N, 4, "n"),
    ):
        for value in values:
            if value != default_value:
                trained[f"troi_{label}{value}"] = run_job(
                    make_job(args, f"troi_{label}{value}", troi_config, [f"MODEL.TROI.{key}", value])
                )
    single = run_job(make_job(args, "single_frame", CONFIGS["single_frame"]))
    weights = os.path.join(default["output_dir"], "model_final.pth")
    by_t = {
        t: trained["troi"]
        if t == 14
        else run_job(
            make_job(
                args, f"troi_eval_t{t}", troi_config, ["INPUT.SUPPORT_FRAMES.TEST.NUM", t], train=False, weights=weights
            )
        )
        for t in ABLATION_T
    }
    pick = lambda result: {key: result[key] for key in REPORTED_METRICS}  # noqa: E731
    k_label = lambda k: "troi" if k == 2 else f"troi_k{k}"  # noqa: E731
    n_label = lambda n: "troi" if n == 4 else f"troi_n{n}"  # noqa: E731
    return {
        "single_frame": pick(single),
        "K": {str(k): pick(trained[k_label(k)]) for k in ABLATION_K},
        "N": {str(n): pick(trained[n_label(n)]) for n in ABLATION_N},
        "T": {str(t): pick(by_t[t]) for t in ABLATION_T},
        "averaging_vs_tafa": {
            "MS RoI Align + averaging": pick(trained["troi_n0"]),
            "MS RoI Align + TAFA": pick(trained["troi"]),
        },
    }


def plot_ablations(results: dict, path: str):
    """AP50_degraded against T and against K, with the single-frame model for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    baseline = results["single_frame"]["AP50_degraded"]
    for axis, key, label in (
        (axes[0], "T", "support frames T (uniform, test)"),
        (axes[1], "K", "most similar points K"),
    ):
        xs = [int(x) for x in results[key]]
        axis.plot(xs, [results[key][str(x)]["AP50_degraded"] for x in xs], "o-", label="TRoI")
        axis.axhline(baseline, color="gray", linestyle="--", label="single frame")
        axis.set_xticks(xs)
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("AP50 on degraded frames (%)")
    axes[0].legend(loc="lower right")
    figure.suptitle(f"Synthetic videos, seed {results['seed']}")
    figure.tight_layout()
    from troi.utils import atomic_file

    with atomic_file(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True, help="seed of the data and of training")
    parser.add_argument("--output", required=True, help="JSON file to write")
    parser.add_argument("--mode", choices=("gain", "ablations"), default="gain")
    parser.add_argument("--plot", help="ablations: also write this PNG")
    parser.add_argument(
        "--work-dir",
        default=str(ROOT / "output" / "synthetic_gain"),
        help="data, checkpoints and logs (reused across runs)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per run")
    parser.add_argument(
        "--opts",
        default=[],
        nargs=argparse.REMAINDER,
        help="config KEY VALUE pairs applied to every run (e.g. SOLVER.MAX_ITER 20)",
    )
    args = parser.parse_args()
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    if args.plot and args.mode != "ablations":
        parser.error("--plot is for --mode ablations")
    start = time.time()
    results = run_gain(args) if args.mode == "gain" else run_ablations(args)
    results["seed"] = args.seed
    results["seconds"] = time.time() - start
    from troi.utils import atomic_file

    with atomic_file(args.output) as temporary:
        Path(temporary).write_text(json.dumps(results, indent=1))
    if args.plot:
        plot_ablations(results, args.plot)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Benchmark: TANet against TSN on the synthetic motion clips, whose class lies only in the
motion.

From ``--seed S`` it generates train and val clips (disjoint: seeds 2S and 2S+1), trains
``configs/synthetic/tsn_tiny.yaml`` and ``tanet_tiny.yaml`` (the same tiny ResNet from
scratch, data, seed and schedule; TANet adds a TAM to every bottleneck) on CPU, each in its
own process with ``--threads`` threads, evaluates both on the val clips and writes::

    {"tsn": {"top1", "top5", "mean_class_accuracy", "train_seconds", "step_seconds",
             "peak_memory_mb", "eval_seconds"},
     "tanet": {...}, "tanet_minus_tsn_top1", "chance_top1", "seed", "seconds"}

(accuracies in percent; ``train_seconds``: the training loop's wall clock; ``step_seconds``:
the median iteration; ``peak_memory_mb``: the peak resident memory of the process that
trained, read before its evaluation; ``seconds``: the whole benchmark.) Prints the same
as one JSON line; shows a progress bar per model.

    python benchmarks/tam_gain.py --seed 0 --output tam_gain_seed0.json   # likewise --seed 1, 2
"""

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {name: ROOT / f"configs/synthetic/{name}_tiny.yaml" for name in ("tsn", "tanet")}


def dataset_names(seed: int):
    prefix = f"tam_gain_seed{seed}"
    return prefix, f"{prefix}_train", f"{prefix}_val"


def build_cfg(job: dict):
    """The detectron2 config of one model's run (in its worker process)."""
    from troi.engine.measured_training import benchmark_cfg

    _, train_name, val_name = dataset_names(job["seed"])
    return benchmark_cfg(job["config"], train_name, val_name, job["seed"], job["output_dir"], job["opts"])


def _worker(job: dict):
    """Train, measure, evaluate; write ``job["result_file"]``."""
    import torch

    import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
    from troi.data.datasets import register_synthetic_motion_clips
    from troi.engine import Trainer
    from troi.engine.measured_training import log_to_file, train_measured

    torch.set_num_threads(job["threads"])
    multiprocessing.set_start_method("fork", force=True)  # data-loader workers fork, as under train_net.py
    register_synthetic_motion_clips(job["data_dir"], prefix=dataset_names(job["seed"])[0], seed=job["seed"])
    cfg = build_cfg(job)
    log_to_file(cfg.OUTPUT_DIR)  # the terminal shows the progress bar
    model, result = train_measured(cfg, job["label"])
    print(f"[tam_gain] {job['label']}: evaluating on {cfg.DATASETS.TEST[0]}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result.update(Trainer.test(cfg, model)["recognition"])
    result["eval_seconds"] = time.perf_counter() - started
    with open(job["result_file"], "w") as f:
        json.dump(result, f)


def run_model(args, name: str) -> dict:
    """Train and evaluate one config in a fresh process; its result."""
    output_dir = os.path.join(args.work_dir, f"seed{args.seed}", name)
    job = {
        "label": f"{name} seed {args.seed}",
        "config": str(CONFIGS[name]),
        "opts": [str(o) for o in args.opts],
        "seed": args.seed,
        "threads": args.threads,
        "output_dir": output_dir,
        "data_dir": os.path.join(args.work_dir, f"seed{args.seed}", "data"),
        "result_file": os.path.join(output_dir, "result.json"),
    }
    os.makedirs(output_dir, exist_ok=True)
    if os.path.exists(job["result_file"]):
        os.remove(job["result_file"])
    process = multiprocessing.get_context("spawn").Process(target=_worker, args=(job,))
    process.start()
    process.join()
    if process.exitcode != 0 or not os.path.isfile(job["result_file"]):
        raise RuntimeError(f"{name} failed (exit code {process.exitcode}); see {output_dir}/log.txt")
    with open(job["result_file"]) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True, help="seed of the clips and of training")
    parser.add_argument("--output", required=True, help="JSON file to write")
    parser.add_argument("--work-dir", default=str(ROOT / "output" / "tam_gain"), help="data, checkpoints and logs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per run (1: on a shared 2-core machine more threads than free cores stall)",
    )
    parser.add_argument(
        "--opts",
        default=[],
        nargs=argparse.REMAINDER,
        help="config KEY VALUE pairs applied to both runs (e.g. SOLVER.MAX_ITER 20)",
    )
    args = parser.parse_args()
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    start = time.time()
    results = {name: run_model(args, name) for name in CONFIGS}
    from troi.data.datasets import SYNTHETIC_MOTION_CLASSES
    from troi.utils import write_json_atomically

    results.update(
        tanet_minus_tsn_top1=results["tanet"]["top1"] - results["tsn"]["top1"],
        chance_top1=100.0 / len(SYNTHETIC_MOTION_CLASSES),
        seed=args.seed,
        seconds=time.time() - start,
    )
    write_json_atomically(results, args.output)
    print(json.dumps(results))


if __name__ == "__main__":
    main()

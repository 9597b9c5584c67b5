#!/usr/bin/env python
"""Benchmark: the cached VideoPredictor vs a naive per-target-frame pass, end to end.

Both run the same model (a synthetic config, CPU) on the same video with the same
inputs: the frames as ``VideoPredictor.frame_groups`` reads and transforms them, with
``T`` support frames each. The naive pass computes every frame group from scratch (the
model's caches dropped before each target frame: every support frame through the
backbone again, and for SELSA its proposals and references); the cached predictor runs
each frame's backbone once. Times include reading and decoding the frames; each pass
runs ``--repeats`` times and the fastest counts. The outputs are compared frame by
frame. Prints one JSON line.
"""
import argparse
import json
import os
import sys
import time

import torch

import troi  # noqa: F401  (compat shims before detectron2 imports)
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from troi import add_troi_config
from troi.engine import VideoFrames, VideoPredictor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_predictor(args) -> VideoPredictor:
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(["MODEL.WEIGHTS", args.weights, "MODEL.DEVICE", args.device,
                         "INPUT.SUPPORT_FRAMES.TEST.NUM", args.support_frames, *args.opts])
    cfg.freeze()
    torch.manual_seed(0)  # random weights, when none are given, are the same in every run
    return VideoPredictor(cfg)


def cached_pass(predictor: VideoPredictor, frames: VideoFrames, mode: str) -> dict:
    """The predictor's outputs, seconds, backbone images and the most frames it cached."""
    started = time.perf_counter()
    outputs, most_cached = [], 0
    for prediction in predictor(frames, mode=mode, progress=False):
        outputs.append(prediction.instances)
        most_cached = max(most_cached, len(predictor.inference_cache.frames))
    return {"outputs": outputs, "seconds": time.perf_counter() - started,
            "backbone_images": predictor.stats.backbone_calls, "most_cached_frames": most_cached}


def naive_pass(predictor: VideoPredictor, frames: VideoFrames, mode: str) -> dict:
    """As :func:`cached_pass`, each frame group computed from scratch."""
    predictor.stats.backbone_calls = 0
    started = time.perf_counter()
    outputs = []
    with torch.no_grad():
        for _, _, inputs in predictor.frame_groups(frames, mode):
            del inputs["inference_cache"]  # nothing carries over between target frames
            outputs.append(predictor.model([inputs])[0]["instances"].to("cpu"))
    return {"outputs": outputs, "seconds": time.perf_counter() - started,
            "backbone_images": predictor.stats.backbone_calls}


def compare(cached, naive) -> dict:
    """Per frame, each cached detection against the naive detection of its class nearest to
    it (detections with near-equal scores may swap places): the largest box and score
    differences, how many frames have other detection counts, and the cached detections
    per frame (0 would make the comparison empty)."""
    score_diff, box_diff, differing = 0.0, 0.0, 0
    for a, b in zip(cached, naive):
        differing += len(a) != len(b)
        if not len(a) or not len(b):
            continue
        distance = (a.pred_boxes.tensor[:, None] - b.pred_boxes.tensor[None]).abs().amax(dim=2)  # (A, B)
        distance[a.pred_classes[:, None] != b.pred_classes[None]] = float("inf")
        nearest, match = distance.min(dim=1)
        box_diff = max(box_diff, nearest.max().item())
        score_diff = max(score_diff, (a.scores - b.scores[match]).abs().max().item())
    return {"max_box_diff": box_diff, "max_score_diff": score_diff, "frames_with_other_counts": differing,
            "detections_per_frame": sum(map(len, cached)) / max(len(cached), 1)}


def bench_mode(predictor, frames, mode: str, repeats: int) -> dict:
    passes = {}
    for name, run in (("naive", naive_pass), ("cached", cached_pass)):
        print(f"{mode}: {name} pass ...", file=sys.stderr, flush=True)
        runs = [run(predictor, frames, mode) for _ in range(repeats)]
        passes[name] = {**runs[0], "fps": len(frames) / min(r["seconds"] for r in runs)}
    naive, cached = passes["naive"], passes["cached"]
    return {
        f"{mode}_cached_fps": round(cached["fps"], 3), f"{mode}_naive_fps": round(naive["fps"], 3),
        f"{mode}_speedup": round(cached["fps"] / naive["fps"], 2),
        f"{mode}_cached_backbone_images": cached["backbone_images"],
        f"{mode}_naive_backbone_images": naive["backbone_images"],
        f"{mode}_most_cached_frames": cached["most_cached_frames"],
        **{f"{mode}_{key}": value for key, value in compare(cached["outputs"], naive["outputs"]).items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", default=os.path.join(ROOT, "configs/synthetic/troi_tiny_dc5.yaml"))
    parser.add_argument("--weights", default="", help="model weights (default: random, seeded)")
    parser.add_argument("--video", default=os.path.join(ROOT, "datasets/synthetic_videos/val/frames/video_00004"),
                        help="a video file or folder of frames (default: a 30-frame synthetic validation video)")
    parser.add_argument("--frames", type=int, default=30, help="the video's first N frames")
    parser.add_argument("--support-frames", type=int, default=14, help="T")
    parser.add_argument("--modes", nargs="+", default=["offline", "streaming"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per pass (the fastest counts)")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER, help="config KEY VALUE pairs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not os.path.exists(args.video) and "synthetic_videos" in args.video:
        DatasetCatalog.get("synthetic_vid_val")  # generates the synthetic videos on first use
    frames = VideoFrames(list(VideoFrames(args.video))[: args.frames])
    predictor = build_predictor(args)
    result = {"config": os.path.relpath(args.config_file, ROOT), "opts": args.opts, "weights": args.weights or "random",
              "frames": len(frames), "support_frames": args.support_frames, "threads": args.threads,
              "device": args.device}
    for mode in args.modes:
        result.update(bench_mode(predictor, frames, mode, args.repeats))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

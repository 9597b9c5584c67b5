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

With ``--breakdown`` the (first) cached pass of each mode also reports where its time
and memory go: per stage (backbone, RPN, Temporal RoI Align, SELSA, post-processing, the
rest), the seconds of frame 0 and per later frame and the most resident memory a stage
added while it ran; the pass's peak RSS (Linux ``VmHWM``, reset before the pass) and the
stage it was reached in; what the inference cache held, in MB. With ``--device cuda`` the
stages are timed with the device synchronised at their bounds, and the line also gives the
CUDA allocator's peak over the cached pass.
"""

import argparse
import contextlib
import functools
import json
import os
import sys
import time
from collections import defaultdict
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch

import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from detectron2.modeling import GeneralizedRCNN
from detectron2.structures import Boxes
from troi import add_troi_config
from troi.engine import VideoFrames, VideoPredictor
from troi.layers import SelsaReferenceProjections
from troi.layers.temporal_roi_align import SupportEncoding
from troi.modeling.poolers import TemporalROIPooler
from troi.modeling.roi_heads.selsa_box_head import SelsaBoxHead
from troi.utils.resident_memory import reset_peak_rss, resident_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 2**20


def build_predictor(args) -> VideoPredictor:
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(
        [
            "MODEL.WEIGHTS",
            args.weights,
            "MODEL.DEVICE",
            args.device,
            "INPUT.SUPPORT_FRAMES.TEST.NUM",
            args.support_frames,
            *args.opts,
        ]
    )
    cfg.freeze()
    torch.manual_seed(0)  # random weights, when none are given, are the same in every run
    return VideoPredictor(cfg)


def synthetic_video(num_frames: int, height: int, width: int, seed: int = 0) -> List[np.ndarray]:
    """``num_frames`` seeded BGR ``[height, width, 3]`` frames: a smooth random background
    and five textured boxes moving in straight lines."""
    rng = np.random.default_rng(seed)

    def texture(h, w, cell):
        coarse = rng.integers(0, 256, (h // cell + 2, w // cell + 2, 3), dtype=np.uint8)
        return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)

    background = texture(height, width, 40)
    boxes = []
    for _ in range(5):
        h, w = (int(rng.uniform(0.15, 0.4) * side) for side in (height, width))
        start = rng.uniform(0, 1, 2) * (height - h, width - w)
        velocity = rng.uniform(-0.02, 0.02, 2) * (height, width)
        boxes.append((texture(h, w, 8), start, velocity))
    frames = []
    for index in range(num_frames):
        frame = background.copy()
        for patch, start, velocity in boxes:
            highest = (height - patch.shape[0], width - patch.shape[1])
            top, left = np.clip(start + index * velocity, 0, highest).astype(int)
            frame[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
        frames.append(frame)
    return frames


class StageProfiler:
    """Seconds and resident memory per stage of the model's calls, per frame.

    Stages are methods of the model's modules, wrapped while the profiler is active; a
    stage nested in another counts in the inner one only. Memory: the most a stage's call
    raised the RSS above what it was when the call began (its temporaries and what it
    keeps), and the pass's peak RSS with the stage it was reached in.
    """

    def __init__(self, model):
        pooler, head = model.roi_heads.box_pooler, model.roi_heads.box_head
        self.device = model.device
        self.targets = [
            ("backbone", model.backbone, "forward"),
            ("rpn", model.proposal_generator, "forward"),
            ("postprocess", model.roi_heads.box_predictor, "inference"),
            ("postprocess", GeneralizedRCNN, "_postprocess"),
        ]
        if isinstance(pooler, TemporalROIPooler):
            operator = pooler.temporal_roi_align
            self.targets += [("troi", operator, "forward"), ("troi", operator, "encode_support")]
        if isinstance(head, SelsaBoxHead):
            self.targets += [("selsa", model.roi_heads, "selsa_references")]
            for aggregator in head.aggregators.values():
                self.targets += [("selsa", aggregator, name) for name in ("forward", "project", "attend")]
        self.frames: List[Dict[str, float]] = []  # per frame, seconds per stage
        self.cpu_seconds: List[float] = []  # per frame
        self.memory: Dict[str, int] = defaultdict(int)  # per stage, the most RSS one call added
        self.peak, self.peak_stage = 0, None
        self._stack: List[dict] = []
        self._current: Dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def active(self):
        originals = []
        for stage, owner, name in self.targets:
            original = getattr(owner, name)
            originals.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, self._wrapped(stage, original, static=isinstance(owner, type)))
        reset_peak_rss()
        try:
            yield self
        finally:
            for owner, name, original in reversed(originals):
                if original is None:
                    delattr(owner, name)
                else:
                    setattr(owner, name, original)

    def _wrapped(self, stage: str, method, static: bool):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            self._enter(stage)
            try:
                return method(*args, **kwargs)
            finally:
                self._exit()

        return staticmethod(wrapper) if static else wrapper

    def _observe(self, stage: Optional[str]):
        """Fold the peak RSS since the last reset into the open stages and the pass."""
        peak = resident_bytes()["VmHWM"]
        for call in self._stack:
            call["peak"] = max(call["peak"], peak)
        if peak > self.peak:
            self.peak, self.peak_stage = peak, stage or "other"

    def _enter(self, stage: str):
        synchronize(self.device)
        self._observe(self._stack[-1]["stage"] if self._stack else None)
        reset_peak_rss()
        rss = resident_bytes()["VmRSS"]
        self._stack.append({"stage": stage, "start": time.perf_counter(), "children": 0.0, "rss": rss, "peak": rss})

    def _exit(self):
        synchronize(self.device)
        self._observe(self._stack[-1]["stage"])
        call = self._stack.pop()
        seconds = time.perf_counter() - call["start"]
        self._current[call["stage"]] += seconds - call["children"]
        self.memory[call["stage"]] = max(self.memory[call["stage"]], call["peak"] - call["rss"])
        if self._stack:
            self._stack[-1]["children"] += seconds

    def end_frame(self, seconds: float, cpu_seconds: float):
        """Close a frame that took ``seconds`` (the rest of them count as ``other``) and
        ``cpu_seconds`` of the process's CPU time (all threads)."""
        self._observe(None)
        self._current["other"] = seconds - sum(self._current.values())
        self.frames.append(dict(self._current))
        self.cpu_seconds.append(cpu_seconds)
        self._current = defaultdict(float)

    def summary(self, backbone_images: List[int], num_support_frames: int) -> dict:
        """Seconds per stage of frame 0 and per later frame, the backbone's seconds per
        image (later frames) and frame 0 in such backbone passes, memory in MB."""
        stages = sorted({stage for frame in self.frames for stage in frame})
        later = self.frames[1:] or self.frames
        backbone_seconds = sum(frame.get("backbone", 0.0) for frame in later)
        backbone_per_image = backbone_seconds / max(sum(backbone_images[1:]), 1)
        frame0 = sum(self.frames[0].values())
        return {
            "frame0_seconds": round(frame0, 2),
            "seconds_per_later_frame": round(sum(map(sum, (f.values() for f in later))) / len(later), 3),
            "frame0_cpu_seconds": round(self.cpu_seconds[0], 2),
            "cpu_seconds_per_later_frame": round(sum(self.cpu_seconds[1:] or self.cpu_seconds) / len(later), 3),
            "backbone_seconds_per_image": round(backbone_per_image, 3),
            "frame0_in_backbone_passes": round(frame0 / backbone_per_image, 1) if backbone_per_image else None,
            "frame0_backbone_pass_budget": 1 + num_support_frames,
            "frame0_stage_seconds": {stage: round(self.frames[0].get(stage, 0.0), 2) for stage in stages},
            "later_stage_seconds": {
                stage: round(sum(f.get(stage, 0.0) for f in later) / len(later), 3) for stage in stages
            },
            "stage_added_rss_mb": {stage: round(added / MB) for stage, added in sorted(self.memory.items())},
            "peak_rss_gb": round(self.peak / 2**30, 3),
            "peak_rss_stage": self.peak_stage,
        }


def synchronize(device: torch.device):
    """Wait for ``device``'s queued work (CUDA), so that the wall clock times it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cache_megabytes(cache) -> Dict[str, float]:
    """What ``cache`` holds, by kind: each tensor storage counted once, in the first kind
    that references it (encodings hold views of the cached features)."""
    seen, sizes = set(), defaultdict(int)

    def count(kind, tensor):
        if isinstance(tensor, SelsaReferenceProjections):
            count(kind, tensor.embeds)
            count(kind, tensor.values)
        if isinstance(tensor, Boxes):
            tensor = tensor.tensor
        if isinstance(tensor, torch.Tensor):
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                sizes[kind] += storage.nbytes()

    frames = [cache.frames.get(key) for key in list(cache.frames)]
    for frame in frames:
        for level in (*frame.features.values(), *frame.support_features.values()):
            count("frame_features", level)
    for frame in frames:
        for value in frame.proposals.get_fields().values() if frame.proposals is not None else ():
            count("support_proposals", value)
        for encoding in frame.encodings.values():
            if isinstance(encoding, SupportEncoding):
                for name in ("features", "normalized", "projections"):
                    count(f"troi_{name}", getattr(encoding, name))
            else:  # the SELSA box head's references of the frame's proposals
                for reference in encoding:
                    count("selsa_references", reference)
    for key in list(cache.references):
        for reference in cache.references.get(key):
            count("selsa_references", reference)
    return {kind: round(size / MB, 1) for kind, size in sorted(sizes.items())}


def cached_pass(predictor: VideoPredictor, frames: VideoFrames, mode: str, breakdown: bool = False) -> dict:
    """The predictor's outputs, seconds, backbone images and the most frames it cached;
    with ``breakdown``, also the :class:`StageProfiler` summary and the most the cache held."""
    profiler = StageProfiler(predictor.model)
    device = profiler.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    reset_peak_rss()
    started = time.perf_counter()
    outputs, most_cached, backbone_images, cache_mb = [], 0, [], {}
    with profiler.active() if breakdown else contextlib.nullcontext():
        frame_started, cpu_started = time.perf_counter(), time.process_time()
        for prediction in predictor(frames, mode=mode, progress=False):
            outputs.append(prediction.instances)
            most_cached = max(most_cached, len(predictor.inference_cache.frames))
            if breakdown:
                profiler.end_frame(time.perf_counter() - frame_started, time.process_time() - cpu_started)
                backbone_images.append(predictor.stats.backbone_calls - sum(backbone_images))
                held = cache_megabytes(predictor.inference_cache)
                if sum(held.values()) > sum(cache_mb.values()):
                    cache_mb = held
                frame_started, cpu_started = time.perf_counter(), time.process_time()
    result = {
        "outputs": outputs,
        "seconds": time.perf_counter() - started,
        "backbone_images": predictor.stats.backbone_calls,
        "most_cached_frames": most_cached,
        "peak_rss_gb": round(max(profiler.peak, resident_bytes()["VmHWM"]) / 2**30, 3),
    }
    if device.type == "cuda":  # the CUDA allocator's peak over the pass
        result["peak_cuda_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
    if breakdown:
        result["breakdown"] = {
            **profiler.summary(backbone_images, predictor.num_support_frames),
            "most_cache_mb": {**cache_mb, "total": round(sum(cache_mb.values()), 1)},
        }
    return result


def naive_pass(predictor: VideoPredictor, frames: VideoFrames, mode: str) -> dict:
    """As :func:`cached_pass`, each frame group computed from scratch."""
    predictor.stats.backbone_calls = 0
    started = time.perf_counter()
    outputs = []
    with torch.no_grad():
        for _, _, inputs in predictor.frame_groups(frames, mode):
            del inputs["inference_cache"]  # nothing carries over between target frames
            outputs.append(predictor.model([inputs])[0]["instances"].to("cpu"))
    return {
        "outputs": outputs,
        "seconds": time.perf_counter() - started,
        "backbone_images": predictor.stats.backbone_calls,
    }


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
    return {
        "max_box_diff": box_diff,
        "max_score_diff": score_diff,
        "frames_with_other_counts": differing,
        "detections_per_frame": sum(map(len, cached)) / max(len(cached), 1),
    }


def bench_mode(predictor, frames, mode: str, args) -> dict:
    passes = {}
    for name in args.passes:
        print(f"{mode}: {name} pass ...", file=sys.stderr, flush=True)
        if name == "cached":
            runs = [
                cached_pass(predictor, frames, mode, breakdown=args.breakdown and not index)
                for index in range(args.repeats)
            ]
        else:
            runs = [naive_pass(predictor, frames, mode) for _ in range(args.repeats)]
        passes[name] = {**runs[0], "fps": len(frames) / min(r["seconds"] for r in runs)}
    result = {}
    for name, outcome in passes.items():
        result[f"{mode}_{name}_fps"] = round(outcome["fps"], 3)
        result[f"{mode}_{name}_backbone_images"] = outcome["backbone_images"]
    if "cached" in passes:
        result[f"{mode}_most_cached_frames"] = passes["cached"]["most_cached_frames"]
        result[f"{mode}_cached_peak_rss_gb"] = passes["cached"]["peak_rss_gb"]
        if "peak_cuda_memory_gb" in passes["cached"]:
            result[f"{mode}_cached_peak_cuda_memory_gb"] = passes["cached"]["peak_cuda_memory_gb"]
        if "breakdown" in passes["cached"]:
            result[f"{mode}_breakdown"] = passes["cached"]["breakdown"]
    if len(passes) == 2:
        naive, cached = passes["naive"], passes["cached"]
        result[f"{mode}_speedup"] = round(cached["fps"] / naive["fps"], 2)
        result.update({f"{mode}_{key}": value for key, value in compare(cached["outputs"], naive["outputs"]).items()})
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", default=os.path.join(ROOT, "configs/synthetic/troi_tiny_dc5.yaml"))
    parser.add_argument("--weights", default="", help="model weights (default: random, seeded)")
    parser.add_argument(
        "--video",
        default=os.path.join(ROOT, "datasets/synthetic_videos/val/frames/video_00004"),
        help="a video file or folder of frames (default: a 30-frame synthetic validation video)",
    )
    parser.add_argument(
        "--synthetic-size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        help="instead of --video, a seeded video of --frames HEIGHT x WIDTH frames (moving boxes)",
    )
    parser.add_argument("--frames", type=int, default=30, help="the video's first N frames")
    parser.add_argument("--support-frames", type=int, default=14, help="T")
    parser.add_argument("--modes", nargs="+", default=["offline", "streaming"])
    parser.add_argument("--passes", nargs="+", default=["naive", "cached"], choices=["naive", "cached"])
    parser.add_argument("--breakdown", action="store_true", help="per-stage seconds and memory of the cached pass")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per pass (the fastest counts)")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER, help="config KEY VALUE pairs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.synthetic_size:
        frames = VideoFrames(synthetic_video(args.frames, *args.synthetic_size))
        video = "synthetic {}x{}".format(*args.synthetic_size)
    else:
        if not os.path.exists(args.video) and "synthetic_videos" in args.video:
            DatasetCatalog.get("synthetic_vid_val")  # generates the synthetic videos on first use
        frames = VideoFrames(list(VideoFrames(args.video))[: args.frames])
        video = os.path.relpath(args.video, ROOT)
    predictor = build_predictor(args)
    result = {
        "config": os.path.relpath(args.config_file, ROOT),
        "opts": args.opts,
        "weights": args.weights or "random",
        "video": video,
        "frames": len(frames),
        "support_frames": args.support_frames,
        "threads": args.threads,
        "device": args.device,
    }
    for mode in args.modes:
        result.update(bench_mode(predictor, frames, mode, args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

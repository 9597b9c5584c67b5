#!/usr/bin/env python
"""Benchmark: ``evaluate_vid`` on the pycocotools and faster-coco-eval backends.

Generates a synthetic COCO-VID ground truth of ``--frames`` frames (videos of 20-400
frames, 1-3 object tracks each over half the video or more, 30 categories, a few frames
without objects, moving at speeds that cover slow, medium and fast motion, 30% of frames
flagged ``degraded``) and ``--detections-per-frame`` detections per frame (a jittered box
for 80% of the objects, false positives for the rest). Each backend then runs
``evaluate_vid(gt_json, results_json)`` in its own process; its time includes reading
both files, and its peak memory is the process's peak resident set size. Checks that
both give the same metrics (to ``--tolerance`` percent points) and prints one JSON line.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

NUM_CATEGORIES = 30
IMAGE_WIDTH, IMAGE_HEIGHT = 1280, 720


def synthetic_tracks(num_frames, rng):
    """Frames and object tracks of a synthetic COCO-VID set.

    Returns:
        (images, boxes): ``images`` ``[F, 3]`` (video id, frame id, degraded) of every frame,
        whose image id is its row + 1; ``boxes`` a dict of ``[A]`` arrays ``image_id``,
        ``instance_id``, ``category_id`` and ``[A, 4]`` ``bbox`` (xywh) of every object.
    """
    lengths = []
    while sum(lengths) < num_frames:
        lengths.append(int(rng.integers(20, 401)))
    lengths[-1] -= sum(lengths) - num_frames
    video_of_frame = np.repeat(np.arange(1, len(lengths) + 1), lengths)
    first_frame = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    frame_ids = np.arange(num_frames) - np.repeat(first_frame, lengths)
    images = np.stack([video_of_frame, frame_ids, rng.random(num_frames) < 0.3], axis=1)

    image_ids, instance_ids, category_ids, bboxes = [], [], [], []
    instance_id = 0
    for video, (start, length) in enumerate(zip(first_frame, lengths), start=1):
        for _ in range(int(rng.integers(1, 4))):
            instance_id += 1
            first = int(rng.integers(0, length // 2))
            frames = np.arange(first, int(rng.integers(first + length // 2, length)) + 1)
            size = rng.uniform(30, 300, size=2)
            speed = rng.exponential(4.0) * rng.choice([-1, 1], size=2)  # pixels per frame
            origin = rng.uniform([0, 0], [IMAGE_WIDTH - size[0], IMAGE_HEIGHT - size[1]])
            positions = origin + np.outer(frames - frames[0], speed)
            positions = np.clip(positions, 0, [IMAGE_WIDTH - size[0], IMAGE_HEIGHT - size[1]])
            image_ids.append(start + frames + 1)
            instance_ids.append(np.full(len(frames), instance_id))
            category_ids.append(np.full(len(frames), rng.integers(1, NUM_CATEGORIES + 1)))
            bboxes.append(np.concatenate([positions, np.broadcast_to(size, positions.shape)], axis=1))
    boxes = {
        "image_id": np.concatenate(image_ids),
        "instance_id": np.concatenate(instance_ids),
        "category_id": np.concatenate(category_ids),
        "bbox": np.concatenate(bboxes),
    }
    return images, boxes


def synthetic_detections(images, boxes, per_frame, rng):
    """``per_frame`` detections per frame: a jittered box (score in [0.3, 1]) for 80% of
    the objects, random boxes of random categories (score in [0, 0.6]) for the rest."""
    num_frames = len(images)
    found = rng.random(len(boxes["image_id"])) < 0.8
    found &= np.bincount(boxes["image_id"], minlength=num_frames + 1)[boxes["image_id"]] <= per_frame
    true_bboxes = boxes["bbox"][found] + rng.normal(0, 6, size=(found.sum(), 4))
    true_bboxes[:, 2:] = np.maximum(true_bboxes[:, 2:], 1)
    false_per_frame = per_frame - np.bincount(boxes["image_id"][found], minlength=num_frames + 1)[1:]
    false_image_ids = np.repeat(np.arange(1, num_frames + 1), false_per_frame)
    false_sizes = rng.uniform(20, 300, size=(len(false_image_ids), 2))
    false_origins = rng.uniform(0, 1, size=(len(false_image_ids), 2)) * ([IMAGE_WIDTH, IMAGE_HEIGHT] - false_sizes)
    image_ids = np.concatenate([boxes["image_id"][found], false_image_ids])
    category_ids = np.concatenate(
        [boxes["category_id"][found], rng.integers(1, NUM_CATEGORIES + 1, size=len(false_image_ids))]
    )
    bboxes = np.concatenate([true_bboxes, np.concatenate([false_origins, false_sizes], axis=1)]).round(2)
    scores = np.concatenate([rng.uniform(0.3, 1, size=found.sum()), rng.uniform(0, 0.6, size=len(false_image_ids))])
    return [
        {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": round(score, 4)}
        for image_id, category_id, bbox, score in zip(
            image_ids.tolist(), category_ids.tolist(), bboxes.tolist(), scores.tolist()
        )
    ]


def write_dataset(folder, num_frames, per_frame, seed):
    """Write ``gt.json`` and ``results.json`` into ``folder``; returns their paths and sizes."""
    rng = np.random.default_rng(seed)
    images, boxes = synthetic_tracks(num_frames, rng)
    gt = {
        "videos": [{"id": int(video), "name": f"video_{video}"} for video in np.unique(images[:, 0])],
        "images": [
            {
                "id": row + 1,
                "video_id": int(video),
                "frame_id": int(frame),
                "degraded": bool(degraded),
                "file_name": f"video_{video}/{frame:06d}.JPEG",
                "width": IMAGE_WIDTH,
                "height": IMAGE_HEIGHT,
            }
            for row, (video, frame, degraded) in enumerate(images.tolist())
        ],
        "annotations": [
            {
                "id": row + 1,
                "image_id": image_id,
                "video_id": int(images[image_id - 1, 0]),
                "instance_id": instance_id,
                "category_id": category_id,
                "bbox": bbox,
                "area": bbox[2] * bbox[3],
                "iscrowd": 0,
            }
            for row, (image_id, instance_id, category_id, bbox) in enumerate(
                zip(
                    boxes["image_id"].tolist(),
                    boxes["instance_id"].tolist(),
                    boxes["category_id"].tolist(),
                    boxes["bbox"].round(2).tolist(),
                )
            )
        ],
        "categories": [{"id": category, "name": f"class_{category}"} for category in range(1, NUM_CATEGORIES + 1)],
    }
    detections = synthetic_detections(images, boxes, per_frame, rng)
    paths = {"gt": os.path.join(folder, "gt.json"), "results": os.path.join(folder, "results.json")}
    for name, data in (("gt", gt), ("results", detections)):
        with open(paths[name], "w") as json_file:
            json.dump(data, json_file)
    return paths, len(gt["annotations"]), len(detections)


def run_worker(backend, gt_path, results_path):
    """In a fresh process: time ``evaluate_vid`` and print its metrics, seconds and peak RSS."""
    from troi.evaluation.vid_evaluation import evaluate_vid

    start = time.perf_counter()
    metrics = evaluate_vid(gt_path, results_path, backend=backend)
    seconds = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"metrics": metrics, "seconds": seconds, "peak_rss_mb": peak_rss_mb}))


def max_difference(metrics_a, metrics_b):
    """The largest absolute difference of two metric dicts (NaN equals NaN); inf if keys differ."""
    if metrics_a.keys() != metrics_b.keys():
        return float("inf")
    values_a = np.array([metrics_a[name] for name in metrics_a])
    values_b = np.array([metrics_b[name] for name in metrics_a])
    if not np.array_equal(np.isnan(values_a), np.isnan(values_b)):
        return float("inf")
    finite = ~np.isnan(values_a)
    return float(np.abs(values_a[finite] - values_b[finite]).max(initial=0.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000, help="frames of the synthetic ground truth")
    parser.add_argument("--detections-per-frame", type=int, default=20)
    parser.add_argument("--backends", nargs="+", default=["faster_coco_eval", "pycocotools"])
    parser.add_argument("--tolerance", type=float, default=1e-9, help="largest metric difference, percent points")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", nargs=3, metavar=("BACKEND", "GT", "RESULTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as folder:
        paths, num_objects, num_detections = write_dataset(folder, args.frames, args.detections_per_frame, args.seed)
        runs = {}
        for backend in args.backends:
            output = subprocess.run(
                [sys.executable, __file__, "--worker", backend, paths["gt"], paths["results"]],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[backend] = json.loads(output.strip().splitlines()[-1])
    reference = runs[args.backends[0]]["metrics"]
    difference = max(max_difference(reference, run["metrics"]) for run in runs.values())
    summary = {name: round(value, 4) for name, value in reference.items() if not name.startswith("AP50-")}
    print(
        json.dumps(
            {
                "frames": args.frames,
                "objects": num_objects,
                "detections": num_detections,
                "seconds": {backend: round(run["seconds"], 2) for backend, run in runs.items()},
                "peak_rss_mb": {backend: round(run["peak_rss_mb"]) for backend, run in runs.items()},
                "same_metrics": difference <= args.tolerance,
                "max_metric_difference": difference,
                "metrics": summary,
            }
        )
    )
    if difference > args.tolerance:
        sys.exit(f"the backends disagree by {difference} percent points")


if __name__ == "__main__":
    main()

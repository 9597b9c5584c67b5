#!/usr/bin/env python
"""Run a video detector (TRoI, SELSA, MaskTrack R-CNN) on a video and write it annotated.

    python demo/demo.py --config-file configs/synthetic/troi_tiny_dc5.yaml \\
        --input datasets/synthetic_videos/val/frames/video_00001 --output out.mp4 \\
        --similar-points out_points --stats stats.json --opts MODEL.WEIGHTS model_final.pth

Every output (the video, the stats, the similar-point images) appears only once complete.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np

import troi  # noqa: F401  (compat shims before detectron2 imports)
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.utils.logger import setup_logger
from troi import add_troi_config
from troi.engine import (
    MODES,
    TrackVisualizer,
    VideoFrames,
    VideoPredictor,
    atomic_file,
    atomic_folder,
    draw_similar_points,
    input_frames,
)

# Frame rate of the output when the input (a folder of frames) does not say.
DEFAULT_FPS = 10.0


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to the config file")
    parser.add_argument("--input", required=True, help="a video file or a folder of frames (images)")
    parser.add_argument("--output", required=True, metavar="OUT.mp4", help="the annotated video (mp4v)")
    parser.add_argument("--similar-points", metavar="DIR",
                        help="write Fig. 6-style images of Temporal RoI Align's most similar points here")
    parser.add_argument("--similar-points-frames", type=int, nargs="+", metavar="INDEX",
                        help="target frames (0-based positions) of the similar-point images; default the middle one")
    parser.add_argument("--similar-points-boxes", type=int, default=3, metavar="N",
                        help="similar-point images for the N top-scoring detections of each of those frames")
    parser.add_argument("--similar-points-height", type=int, metavar="PX",
                        help="height of each frame in the similar-point images; default the model's input height")
    parser.add_argument("--stats", metavar="STATS.json", help="write frames, backbone_calls, seconds and fps here")
    parser.add_argument("--confidence-threshold", type=float, default=0.5, help="minimum score of drawn detections")
    parser.add_argument("--mode", choices=MODES, default="offline",
                        help="offline: uniform support frames over the whole video; streaming: past frames only")
    parser.add_argument("--opts", default=[], nargs=argparse.REMAINDER,
                        help="modify config options with 'KEY VALUE' pairs")
    return parser


def setup_cfg(args):
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = args.confidence_threshold
    cfg.freeze()
    return cfg


def write_similar_points(predictor: VideoPredictor, prediction, folder: str, args) -> int:
    """Write one similar-point image per top-scoring detection of ``prediction``; returns how many."""
    found = predictor.similar_points(prediction, num_boxes=args.similar_points_boxes)
    frames = input_frames(prediction.inputs, predictor.input_format)
    for rank, points in enumerate(found):
        path = os.path.join(folder, f"frame{prediction.index:05d}_box{rank}.png")
        figure = draw_similar_points(frames, points, args.similar_points_height)
        if not cv2.imwrite(path, figure, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {path}")
    return len(found)


def run(args) -> dict:
    """Annotate ``args.input`` into ``args.output`` (and the optional outputs); returns the stats."""
    cfg = setup_cfg(args)
    frames = VideoFrames(args.input)  # a missing or non-image input fails here, before any work
    predictor = VideoPredictor(cfg)
    name = cfg.DATASETS.TEST[0] if len(cfg.DATASETS.TEST) else "__unused"
    visualizer = TrackVisualizer(MetadataCatalog.get(name))
    overlay_frames = set(args.similar_points_frames or [len(frames) // 2]) if args.similar_points else set()
    fps = frames.fps or DEFAULT_FPS
    started = time.perf_counter()
    with atomic_file(args.output) as video_path, atomic_folder(args.similar_points) as points_folder:
        writer, overlays = None, 0
        try:
            for prediction in predictor(frames, mode=args.mode):
                drawn = visualizer.draw_instance_predictions(prediction.image[:, :, ::-1], prediction.instances)
                if writer is None:
                    height, width = prediction.image.shape[:2]
                    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                    if not writer.isOpened():
                        raise OSError(f"OpenCV cannot write an mp4v video to {args.output}")
                writer.write(np.ascontiguousarray(drawn.get_image()[:, :, ::-1]))
                if prediction.index in overlay_frames:
                    overlays += write_similar_points(predictor, prediction, points_folder, args)
        finally:
            if writer is not None:
                writer.release()
    stats = {**predictor.stats.as_dict(), "total_seconds": time.perf_counter() - started, "mode": args.mode,
             "support_frames": predictor.num_support_frames, "similar_point_images": overlays}
    if args.stats:
        with atomic_file(args.stats) as stats_path, open(stats_path, "w") as stats_file:
            json.dump(stats, stats_file, indent=2)
    return stats


def main(argv=None) -> dict:
    setup_logger(name="fvcore")
    logger = setup_logger()
    args = get_parser().parse_args(argv)
    logger.info("Arguments: " + str(args))
    stats = run(args)
    logger.info(f"{stats['frames']} frames in {stats['seconds']:.1f} s ({stats['fps']:.2f} frames/s), "
                f"{stats['backbone_calls']} backbone calls; wrote {args.output}")
    return stats


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError, OSError) as error:
        sys.exit(f"demo.py: error: {error}")

#!/usr/bin/env python
"""Run a video detector (TRoI, SELSA, MaskTrack R-CNN) on a video and write it annotated.

    python demo/demo.py --config-file configs/synthetic/troi_tiny_dc5.yaml \\
        --input datasets/synthetic_videos/val/frames/video_00001 --output out.mp4 \\
        --similar-points out_points --stats stats.json --opts MODEL.WEIGHTS model_final.pth

The video is H.264 MP4 (mp4v, with a warning, where no H.264 encoder is available) and is
checked to decode before it counts. Every output path is checked before inference, and
the outputs (the video, the stats, the similar-point images) appear together once all are
complete, or none does.
"""

import argparse
import json
import logging
import os
import sys
import time

import cv2
import numpy as np

import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.utils.logger import setup_logger
from troi import add_troi_config
from troi.engine import (
    MODES,
    TrackVisualizer,
    VideoFrames,
    VideoPredictor,
    VideoWriter,
    draw_similar_points,
    input_frames,
)
from troi.utils import atomic_outputs

# Frame rate of the output when the input (a folder of frames) does not say.
DEFAULT_FPS = 10.0


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True, metavar="FILE", help="path to the config file")
    parser.add_argument("--input", required=True, help="a video file or a folder of frames (images)")
    parser.add_argument("--output", required=True, metavar="OUT.mp4", help="the annotated video (H.264)")
    parser.add_argument(
        "--similar-points",
        metavar="DIR",
        help="write Fig. 6-style images of Temporal RoI Align's most similar points here",
    )
    parser.add_argument(
        "--similar-points-frames",
        type=int,
        nargs="+",
        metavar="INDEX",
        help="target frames (0-based positions) of the similar-point images; default the middle one",
    )
    parser.add_argument(
        "--similar-points-boxes",
        type=int,
        default=3,
        metavar="N",
        help="similar-point images for the N top-scoring detections of each of those frames",
    )
    parser.add_argument(
        "--similar-points-height",
        type=int,
        metavar="PX",
        help="height of each frame in the similar-point images; default the model's input height",
    )
    parser.add_argument("--stats", metavar="STATS.json", help="write frames, backbone_calls, seconds and fps here")
    parser.add_argument("--confidence-threshold", type=float, default=0.5, help="minimum score of drawn detections")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="offline",
        help="offline: uniform support frames over the whole video; streaming: past frames only",
    )
    parser.add_argument(
        "--opts", default=[], nargs=argparse.REMAINDER, help="modify config options with 'KEY VALUE' pairs"
    )
    return parser


def setup_cfg(args):
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = args.confidence_threshold
    cfg.freeze()
    return cfg


def similar_point_frames(args, frames: VideoFrames) -> set:
    """The positions of the frames with similar-point images; ValueError for positions
    outside the video."""
    if not args.similar_points:
        if args.similar_points_frames is not None:
            raise ValueError("--similar-points-frames needs --similar-points DIR (where to write the images)")
        return set()
    num_frames = len(frames)
    positions = args.similar_points_frames if args.similar_points_frames is not None else [num_frames // 2]
    outside = [position for position in positions if not 0 <= position < num_frames]
    if outside:
        raise ValueError(
            f"--similar-points-frames {' '.join(map(str, outside))}: {frames.name} has {num_frames} "
            f"frames, at positions 0-{num_frames - 1}"
        )
    return set(positions)


def write_similar_points(predictor: VideoPredictor, prediction, folder: str, args) -> int:
    """Write one similar-point image per top-scoring detection of ``prediction`` into the
    staging ``folder`` of ``args.similar_points``; returns how many."""
    found = predictor.similar_points(prediction, num_boxes=args.similar_points_boxes)
    if not found:
        logging.getLogger("troi.demo").warning(
            f"frame {prediction.index} has no detection scoring at least "
            f"--confidence-threshold {args.confidence_threshold}: "
            f"no similar-point image"
        )
    frames = input_frames(prediction.inputs, predictor.input_format)
    for rank, points in enumerate(found):
        name = f"frame{prediction.index:05d}_box{rank}.png"
        figure = draw_similar_points(frames, points, args.similar_points_height)
        if not cv2.imwrite(os.path.join(folder, name), figure, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
            raise OSError(f"could not write {os.path.join(args.similar_points, name)}")
    return len(found)


def run(args) -> dict:
    """Annotate ``args.input`` into ``args.output`` (and the optional outputs); returns the stats."""
    cfg = setup_cfg(args)
    frames = VideoFrames(args.input)  # a missing or non-image input fails here, before any work
    overlay_frames = similar_point_frames(args, frames)
    with atomic_outputs() as outputs:  # checks every output path now; all appear at the end, or none
        video_path = outputs.file(args.output)
        points_folder = outputs.folder(args.similar_points) if args.similar_points else None
        stats_path = outputs.file(args.stats) if args.stats else None
        predictor = VideoPredictor(cfg)
        name = cfg.DATASETS.TEST[0] if len(cfg.DATASETS.TEST) else "__unused"
        visualizer = TrackVisualizer(MetadataCatalog.get(name))
        started = time.perf_counter()
        overlays = 0
        with VideoWriter(video_path, frames.fps or DEFAULT_FPS, name=args.output) as writer:
            for prediction in predictor(frames, mode=args.mode):
                drawn = visualizer.draw_instance_predictions(prediction.image[:, :, ::-1], prediction.instances)
                writer.write(np.ascontiguousarray(drawn.get_image()[:, :, ::-1]))
                if prediction.index in overlay_frames:
                    overlays += write_similar_points(predictor, prediction, points_folder, args)
        stats = {
            **predictor.stats.as_dict(),
            "total_seconds": time.perf_counter() - started,
            "mode": args.mode,
            "support_frames": predictor.num_support_frames,
            "similar_point_images": overlays,
            "video_codec": writer.codec,
        }
        if stats_path:
            with open(stats_path, "w") as stats_file:
                json.dump(stats, stats_file, indent=2)
    return stats


def main(argv=None) -> dict:
    setup_logger(name="fvcore")
    setup_logger(name="troi", abbrev_name="troi")  # warnings of the frame reader and the video writer
    logger = setup_logger()
    args = get_parser().parse_args(argv)
    logger.info("Arguments: " + str(args))
    stats = run(args)
    logger.info(
        f"{stats['frames']} frames in {stats['seconds']:.1f} s ({stats['fps']:.2f} frames/s), "
        f"{stats['backbone_calls']} backbone calls; wrote {args.output}"
    )
    return stats


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError, OSError) as error:
        sys.exit(f"demo.py: error: {error}")

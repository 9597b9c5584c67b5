#!/usr/bin/env python
"""Split a YouTube-VIS train json into a train and a holdout json, whole videos at a time.

The official validation annotations are private; evaluating on a held-out part of the
train set (``troi.evaluation.evaluate_ytvis``) is the way to measure locally::

    python datasets/split_ytvis.py --json ytvis_2019/train.json \\
        --output-dir ytvis_2019/split --holdout-fraction 0.1 --seed 0

writes ``train.json`` and ``holdout.json`` into ``--output-dir``. Both keep every other
top-level key of the input (``info``, ``licenses``, ``categories``, ...); each video goes
to exactly one of them with all its annotations, in the input's order. The holdout videos
are a uniform sample drawn with ``--seed``: the same input and seed give the same split.
The input is read and checked by ``troi.data.datasets.ytvis_format`` (what
``SPLIT_NEEDS`` says: unique video ids, every track of one of them).

Both files are first written to temporary files beside their destination and then renamed
into place: a failure leaves no half-written file, and never a new file beside a stale one.
"""

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from troi.data.datasets.ytvis_format import SPLIT_NEEDS, read_ytvis_json
from troi.utils import atomic_outputs

OUTPUT_NAMES = ("train.json", "holdout.json")


def num_holdout_videos(num_videos: int, fraction: Optional[float] = None, count: Optional[int] = None) -> int:
    """Videos to hold out: ``count``, or ``round(fraction * num_videos)``; at least one
    video must be left on each side."""
    if fraction is not None:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"--holdout-fraction must be in (0, 1), got {fraction}")
        count = round(fraction * num_videos)
        what = f"--holdout-fraction {fraction} of {num_videos} videos holds out {count}"
    else:
        what = f"--holdout-videos {count} of {num_videos} videos"
    if not 1 <= count <= num_videos - 1:
        raise ValueError(f"{what}; the holdout and the train split each need at least one video")
    return count


def split_ytvis(dataset: dict, num_holdout: int, seed: int) -> Tuple[dict, dict]:
    """Train and holdout datasets of a checked ``dataset`` (``read_ytvis_json(path,
    SPLIT_NEEDS)``): ``num_holdout`` videos drawn with ``seed``, each video with its
    annotations, the other top-level keys copied into both."""
    video_ids = [video["id"] for video in dataset["videos"]]
    holdout_ids = set(random.Random(seed).sample(video_ids, num_holdout))

    def subset(in_holdout: bool) -> dict:
        return {
            **dataset,
            "videos": [video for video in dataset["videos"] if (video["id"] in holdout_ids) == in_holdout],
            "annotations": [
                annotation
                for annotation in dataset["annotations"]
                if (annotation["video_id"] in holdout_ids) == in_holdout
            ],
        }

    return subset(False), subset(True)


def write_json_files_atomically(outputs: Dict[Path, dict]) -> None:
    """Write every ``{path: data}`` as json, or (on any failure) none of them."""
    with atomic_outputs() as staged:
        for path, data in outputs.items():
            with open(staged.file(path), "w") as f:
                json.dump(data, f)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="YouTube-VIS json to split (e.g. train.json)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        required=True,
        help=f"where to write {' and '.join(OUTPUT_NAMES)} (created if missing)",
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--holdout-fraction", type=float, help="fraction of the videos to hold out, in (0, 1)")
    size.add_argument("--holdout-videos", type=int, help="number of videos to hold out")
    parser.add_argument("--seed", type=int, default=0, help="seed of the holdout sample (default: 0)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    train_path, holdout_path = (args.output_dir / name for name in OUTPUT_NAMES)
    try:
        if args.json.resolve() in (train_path.resolve(), holdout_path.resolve()):
            raise ValueError(f"--output-dir {args.output_dir} would overwrite the input {args.json}")
        dataset = read_ytvis_json(args.json, SPLIT_NEEDS)
        num_holdout = num_holdout_videos(len(dataset["videos"]), args.holdout_fraction, args.holdout_videos)
        train, holdout = split_ytvis(dataset, num_holdout, args.seed)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        write_json_files_atomically({train_path: train, holdout_path: holdout})
    except (OSError, ValueError) as error:
        print(f"split_ytvis.py: error: {error}", file=sys.stderr)
        return 1
    for path, split in ((train_path, train), (holdout_path, holdout)):
        print(f"{path}: {len(split['videos'])} videos, {len(split['annotations'])} annotations")
    return 0


if __name__ == "__main__":
    sys.exit(main())

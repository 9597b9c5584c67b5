"""The check that every frame file a dataset lists exists, made when the dataset loads.

A missing frame would otherwise show when training first samples it, possibly hours in.
The check lists each folder once (``os.scandir``: no file is opened or read), which takes
a few seconds for ImageNet VID's million frames, with a progress bar on large datasets.
A file that exists but does not decode still shows only when it is read; the mappers'
errors name it.
"""

import os
from collections import defaultdict
from typing import Iterable

from tqdm import tqdm

__all__ = ["check_frame_files"]

PROGRESS_BAR_MIN_FRAMES = 20000
"""Datasets with at least this many frames show a progress bar while they are checked."""


def check_frame_files(file_names: Iterable[str], json_file: str) -> None:
    """FileNotFoundError naming the missing frames (the first few, and how many) of
    ``json_file`` unless every file of ``file_names`` exists."""
    by_folder = defaultdict(list)
    for file_name in file_names:
        by_folder[os.path.dirname(file_name)].append(os.path.basename(file_name))
    total = sum(len(names) for names in by_folder.values())
    missing = []
    with tqdm(
        total=total,
        unit="frame",
        desc=f"checking the frames of {os.path.basename(json_file)}",
        disable=total < PROGRESS_BAR_MIN_FRAMES,
    ) as bar:
        for folder, names in by_folder.items():
            try:
                present = {entry.name for entry in os.scandir(folder or ".") if not entry.is_dir()}
            except (FileNotFoundError, NotADirectoryError):
                present = set()
            missing += [os.path.join(folder, name) for name in names if name not in present]
            bar.update(len(names))
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {total} frames listed in {json_file} do not exist, e.g. {missing[:3]}: check the "
            f"dataset's image root (datasets/README.md shows the layout)"
        )

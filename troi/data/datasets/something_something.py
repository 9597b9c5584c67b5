"""Something-Something V1 and V2 in their own annotation formats (174 classes each).

* **V1** (``20bn-something-something-v1``): ``something-something-v1-labels.csv`` lists
  the class names, one per line (class ``i`` on line ``i + 1``); the split files
  ``something-something-v1-{train,validation}.csv`` have one ``<id>;<class name>`` line per
  clip; clip ``<id>``'s frames are ``<frames_root>/<id>/00001.jpg, ...`` (counted when a clip
  is read).
* **V2** (``20bn-something-something-v2``): ``something-something-v2-labels.json`` maps each
  class name to its index (``{"Approaching something with your camera": "0", ...}``); the
  split files ``something-something-v2-{train,validation}.json`` are lists of
  ``{"id", "template", ...}``, the class being the template without its brackets
  (``"Putting [something] on a surface"``); clip ``<id>`` is the video
  ``<videos_root>/<id>.webm``.

mmaction2's converted lists of either (``sthv1_*_list_rawframes.txt``) load with
:func:`troi.data.datasets.video_lists.load_video_list` instead.
"""

import os
from typing import Dict, List

from ...utils import read_json
from .video_lists import DATASETS_README, rawframes_record, video_record

__all__ = [
    "SOMETHING_SOMETHING_NUM_CLASSES",
    "STHV1_FLIP_LABEL_MAP",
    "STHV2_FLIP_LABEL_MAP",
    "load_sthv1_csv",
    "load_sthv2_json",
]

SOMETHING_SOMETHING_NUM_CLASSES = 174
# The classes a horizontal flip turns into each other ("... from left to right" and "... from
# right to left", ...), as mmaction2's Something-Something configs flip them.
STHV1_FLIP_LABEL_MAP = {2: 4, 4: 2, 30: 41, 41: 30, 52: 66, 66: 52}
STHV2_FLIP_LABEL_MAP = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}
STHV1_FILENAME_TEMPLATE = "{:05d}.jpg"


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{what} {path} does not exist: see {DATASETS_README} for the layout under $DETECTRON2_DATASETS"
        )


def _sthv1_classes(labels_file: str) -> Dict[str, int]:
    _require_file(labels_file, "Something-Something V1 labels file")
    with open(labels_file) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(set(names)) != len(names):
        raise ValueError(f"{labels_file} names a class twice")
    return {name: index for index, name in enumerate(names)}


def load_sthv1_csv(csv_file: str, labels_file: str, frames_root: str) -> List[dict]:
    """The clips of a V1 split file as dataset dicts (see :mod:`.video_lists`)."""
    classes = _sthv1_classes(labels_file)
    _require_file(csv_file, "Something-Something V1 split file")
    records = []
    with open(csv_file) as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            clip_id, separator, name = line.strip().partition(";")
            if not separator:
                raise ValueError(f"{csv_file}:{line_number}: expected '<id>;<class name>', got {line.strip()!r}")
            if name not in classes:
                raise ValueError(f"{csv_file}:{line_number}: class {name!r} is not in {labels_file}")
            records.append(
                rawframes_record(
                    clip_id, os.path.join(frames_root, clip_id), None, classes[name], STHV1_FILENAME_TEMPLATE, 1
                )
            )
    if not records:
        raise ValueError(f"{csv_file} lists no clips")
    return records


def load_sthv2_json(json_file: str, labels_file: str, videos_root: str) -> List[dict]:
    """The clips of a V2 split file as dataset dicts (see :mod:`.video_lists`)."""
    labels = read_json(labels_file, "Something-Something V2 labels file")
    if not isinstance(labels, dict):
        raise ValueError(f"{labels_file} must map class names to indices, found a {type(labels).__name__}")
    try:
        classes = {name: int(index) for name, index in labels.items()}
    except (TypeError, ValueError) as error:
        raise ValueError(f"{labels_file}: class indices must be integers ({error})") from None
    clips = read_json(json_file, "Something-Something V2 split file")
    if not isinstance(clips, list) or not clips:
        raise ValueError(f"{json_file} must hold a non-empty list of clips")
    records = []
    for index, clip in enumerate(clips):
        if not isinstance(clip, dict) or "id" not in clip or "template" not in clip:
            raise ValueError(
                f"{json_file}: clip [{index}] needs an 'id' and a 'template' (the test split has no "
                "labels and cannot be evaluated)"
            )
        name = clip["template"].replace("[", "").replace("]", "")
        if name not in classes:
            raise ValueError(
                f"{json_file}: clip [{index}] (id {clip['id']}) has class {name!r}, which is not in {labels_file}"
            )
        clip_id = str(clip["id"])
        records.append(video_record(clip_id, os.path.join(videos_root, f"{clip_id}.webm"), classes[name]))
    return records

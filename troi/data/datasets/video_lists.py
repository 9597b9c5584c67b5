"""mmaction2's annotation lists of video recognition datasets (Kinetics-400, the
Something-Something lists its converters write, the synthetic motion clips).

Two formats, one clip per line, fields separated by whitespace:

* ``rawframes``: ``<frame_dir> <total_frames> <label>``; frame ``i`` (0-based) of the clip
  is ``<data_root>/<frame_dir>/<filename_tmpl.format(start_index + i)>``;
* ``videos``: ``<file> <label>``; the clip is the video file ``<data_root>/<file>``.

Each line becomes one dataset dict, read by :class:`troi.data.ClipDatasetMapper`:

* ``video_id`` (the line's path), ``label`` (int);
* rawframes: ``frame_dir``, ``num_frames`` (None when unknown: the mapper counts the
  frames), ``filename_tmpl``, ``start_index``;
* videos: ``video_file``.
"""

import os
from typing import Callable, List, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog

__all__ = ["LIST_KINDS", "load_video_list", "rawframes_record", "register_recognition_dataset", "video_record"]

LIST_KINDS = ("rawframes", "videos")
DATASETS_README = "datasets/README.md"


def rawframes_record(
    video_id: str, frame_dir: str, num_frames: Optional[int], label: int, filename_tmpl: str, start_index: int
) -> dict:
    """The dataset dict of a clip stored as a folder of frames."""
    return {
        "video_id": video_id,
        "label": label,
        "frame_dir": frame_dir,
        "num_frames": num_frames,
        "filename_tmpl": filename_tmpl,
        "start_index": start_index,
    }


def video_record(video_id: str, video_file: str, label: int) -> dict:
    """The dataset dict of a clip stored as a video file."""
    return {"video_id": video_id, "label": label, "video_file": video_file}


def _integer(text: str, what: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{where}: {what} must be an integer, got {text!r}") from None


def check_label(label: int, num_classes: Optional[int], where: str) -> int:
    """``label`` if it is a class index in ``[0, num_classes)`` (any >= 0 when None)."""
    if label < 0 or (num_classes is not None and label >= num_classes):
        bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
        raise ValueError(f"{where}: label {label} is not a class index {bound}")
    return label


def load_video_list(
    list_file: str,
    data_root: str,
    *,
    kind: str = "rawframes",
    filename_tmpl: str = "img_{:05d}.jpg",
    start_index: int = 1,
    num_classes: Optional[int] = None,
    dataset_name: Optional[str] = None,
) -> List[dict]:
    """The dataset dicts of an mmaction2 annotation list (see the module doc).

    Args:
        list_file: the list.
        data_root: folder the list's paths are relative to.
        kind: ``"rawframes"`` or ``"videos"``.
        filename_tmpl, start_index: frame file names (rawframes).
        num_classes: labels must be below it (None: not checked).
        dataset_name: named in the errors.

    Raises:
        FileNotFoundError: the list does not exist (the message points to the datasets README).
        ValueError: a line that is not of the format, naming the file and line; an empty list.
    """
    if kind not in LIST_KINDS:
        raise ValueError(f"unknown list kind {kind!r}; choose one of {LIST_KINDS}")
    if not os.path.isfile(list_file):
        raise FileNotFoundError(
            f"annotation list {list_file}{f' of dataset {dataset_name!r}' if dataset_name else ''} "
            f"does not exist: see {DATASETS_README} for the layout under $DETECTRON2_DATASETS"
        )
    expected = "<frame_dir> <total_frames> <label>" if kind == "rawframes" else "<file> <label>"
    records = []
    with open(list_file) as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{list_file}:{line_number}"
            if len(fields) != len(expected.split()):
                raise ValueError(
                    f"{where}: expected {len(expected.split())} fields {expected!r} ({kind} list, "
                    f"single label), got {line.strip()!r}"
                )
            label = check_label(_integer(fields[-1], "the label", where), num_classes, where)
            if kind == "videos":
                records.append(video_record(fields[0], os.path.join(data_root, fields[0]), label))
                continue
            num_frames = _integer(fields[1], "total_frames", where)
            if num_frames < 1:
                raise ValueError(f"{where}: total_frames must be >= 1, got {num_frames}")
            records.append(
                rawframes_record(
                    fields[0], os.path.join(data_root, fields[0]), num_frames, label, filename_tmpl, start_index
                )
            )
    if not records:
        raise ValueError(f"annotation list {list_file} lists no clips")
    return records


def register_recognition_dataset(name: str, load: Callable[[], List[dict]], num_classes: int, **metadata) -> None:
    """Register a video recognition dataset: ``load()`` gives its dataset dicts (called by
    ``DatasetCatalog.get``); the metadata has ``evaluator_type`` "recognition",
    ``num_classes`` and ``metadata``."""
    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(evaluator_type="recognition", num_classes=num_classes, **metadata)

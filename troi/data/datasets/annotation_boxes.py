"""Annotation boxes ``[x, y, width, height]`` checked as a dataset loads.

A box that is not 4 finite numbers, or has a negative width or height, is an error that
names the file and the annotation: detectron2 would silently turn ``[113, 43, -59, 53]``
into a valid box and train on it. A box with zero width or height, or entirely outside
its image, holds nothing to learn (mmtracking's loaders skip these as well): such
annotations are skipped, and the loader logs how many, with their ids.
"""

import logging
import math
from typing import Sequence

__all__ = ["checked_box", "is_empty_box", "log_skipped_boxes"]

logger = logging.getLogger(__name__)


def checked_box(bbox, where: str) -> list:
    """``bbox`` if it is 4 finite numbers with a width and a height >= 0, else a ValueError
    that starts with ``where`` (e.g. ``"annotations[3] (id 7) in /x.json"``)."""
    if not (
        isinstance(bbox, (list, tuple))
        and len(bbox) == 4
        and all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in bbox)
    ):
        raise ValueError(f"{where}: bbox {bbox!r} is not [x, y, width, height], 4 numbers")
    if not all(math.isfinite(value) for value in bbox):
        raise ValueError(f"{where}: bbox {bbox} is not finite")
    for value, side in ((bbox[2], "width"), (bbox[3], "height")):
        if value < 0:
            raise ValueError(f"{where}: bbox {bbox} has a negative {side}")
    return list(bbox)


def is_empty_box(bbox: Sequence[float], width: int, height: int) -> bool:
    """Whether the checked ``bbox`` has zero width or height, or lies outside the
    ``width x height`` image."""
    x, y, box_width, box_height = bbox
    return box_width <= 0 or box_height <= 0 or x >= width or y >= height or x + box_width <= 0 or y + box_height <= 0


def log_skipped_boxes(skipped: Sequence, json_file: str) -> None:
    """Log the ids of the annotations skipped for an empty box (nothing when there are none)."""
    if skipped:
        shown = ", ".join(map(str, skipped[:10])) + (", ..." if len(skipped) > 10 else "")
        logger.warning(
            f"{json_file}: skipped {len(skipped)} annotations whose box has zero width or height or lies "
            f"outside the image: {shown}"
        )

"""COCO box evaluation with extra ignored ground truth, on pycocotools or faster-coco-eval.

Both backends keep COCO's matching rules unchanged; the subclasses only add ground
truth annotations to those COCO already ignores (crowds). A detection is matched to an
ignored annotation only when no unmatched, non-ignored one overlaps it enough; it then
counts neither as a true nor as a false positive, and ignored annotations are not in the
recall's denominator. Unmatched detections stay false positives. This is how AP by
motion speed (FGFA) leaves out the other speeds' objects.

Only the ``all`` area range and ``maxDets=100`` are evaluated: COCO computes every
(area range, max detections) cell independently, so AP, AP50 and AP75 equal those of the
backend's ``COCOeval.summarize()`` (``stats[0:3]``) bit for bit, with a fraction of the work.
"""

import contextlib
import io
import logging
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Sequence, Type

import faster_coco_eval
import numpy as np
import pycocotools.coco
import pycocotools.cocoeval

__all__ = [
    "COCO_BACKENDS",
    "DEFAULT_COCO_BACKEND",
    "CocoBackend",
    "FasterIgnoringCOCOeval",
    "IgnoredGroundTruthMixin",
    "PycocotoolsIgnoringCOCOeval",
    "PrecisionTable",
    "get_coco_backend",
    "run_box_evaluation",
]

logger = logging.getLogger(__name__)

MAX_DETECTIONS = 100
"""Detections per image COCO's AP uses (``maxDets[-1]``)."""


class IgnoredGroundTruthMixin:
    """Mixin for a ``COCOeval`` class: also ignores the annotations ``ignored_gt_ids``.

    ``_prepare`` of both backends resets every evaluated annotation's ``ignore`` to its
    ``iscrowd``; this mixin then sets ``ignore = 1`` on the chosen ones, in the same
    annotation dicts the backend evaluates. The next evaluation's ``_prepare`` resets them.

    Args:
        coco_gt, coco_dt: the backend's ``COCO`` objects of ground truth and detections.
        ignored_gt_ids: ids of ground truth annotations to ignore.
        **kwargs: passed on to the backend's ``COCOeval``.
    """

    def __init__(self, coco_gt, coco_dt, ignored_gt_ids: Iterable[int] = (), **kwargs):
        super().__init__(coco_gt, coco_dt, iouType="bbox", **kwargs)
        self.ignored_gt_ids = list(ignored_gt_ids)

    def _prepare(self):
        super()._prepare()
        annotations = self.cocoGt.anns
        for ann_id in self.ignored_gt_ids:
            annotations[ann_id]["ignore"] = 1


class PycocotoolsIgnoringCOCOeval(IgnoredGroundTruthMixin, pycocotools.cocoeval.COCOeval):
    """``pycocotools.cocoeval.COCOeval`` that also ignores ``ignored_gt_ids``."""


class FasterIgnoringCOCOeval(IgnoredGroundTruthMixin, faster_coco_eval.COCOeval_faster):
    """``faster_coco_eval.COCOeval_faster`` (C++ matching and accumulation) that also
    ignores ``ignored_gt_ids``."""


@dataclass(frozen=True)
class CocoBackend:
    """A COCO API implementation: its ``COCO`` class and our ``COCOeval`` subclass of it."""

    name: str
    coco_class: type
    cocoeval_class: Type[IgnoredGroundTruthMixin]
    cocoeval_kwargs: Dict[str, object]

    def make_coco(self, dataset: dict):
        """A ``COCO`` object indexing ``dataset`` (a COCO dict, used as is, not copied)."""
        coco = self.coco_class()
        coco.dataset = dataset
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
        return coco


COCO_BACKENDS = {
    "faster_coco_eval": CocoBackend(
        "faster_coco_eval", faster_coco_eval.COCO, FasterIgnoringCOCOeval, {"print_function": logger.debug}
    ),
    "pycocotools": CocoBackend("pycocotools", pycocotools.coco.COCO, PycocotoolsIgnoringCOCOeval, {}),
}
DEFAULT_COCO_BACKEND = "faster_coco_eval"
"""The faster: on 100k synthetic frames with 20 detections each, ``evaluate_vid`` took 132 s
and 4.4 GB peak memory on it, 495 s and 6.1 GB on pycocotools (``benchmarks/bench_vid_eval.py``,
one CPU thread). Both give the same APs up to the last bits: faster-coco-eval's precision
``tp / (tp + fp)`` omits pycocotools' ``+ 2.2e-16`` in the denominator."""


def get_coco_backend(name: str) -> CocoBackend:
    """The backend called ``name``, one of :data:`COCO_BACKENDS`."""
    if name not in COCO_BACKENDS:
        raise ValueError(f"Unknown COCO evaluation backend {name!r}; choose one of {sorted(COCO_BACKENDS)}")
    return COCO_BACKENDS[name]


@dataclass(frozen=True)
class PrecisionTable:
    """COCO's accumulated precision at the area range ``all`` and ``maxDets=100``.

    Attributes:
        precision: ``[T, R, K]`` interpolated precision at the IoU thresholds ``T``, COCO's
            101 recall points ``R`` and the categories ``K`` (sorted by id); -1 where a
            category has no (non-ignored) ground truth.
        iou_thresholds: ``[T]``.
    """

    precision: np.ndarray
    iou_thresholds: np.ndarray

    def average_precision(self, iou_threshold: Optional[float] = None, category_index: Optional[int] = None) -> float:
        """COCO's AP: the mean of the entries > -1, as ``COCOeval.summarize()`` computes it.

        Args:
            iou_threshold: at this threshold only (default: averaged over all ``T``).
            category_index: of this category only (default: averaged over all ``K``).

        Returns:
            AP in [0, 1]; NaN where COCO reports -1 (no ground truth to find).
        """
        precision = self.precision
        if iou_threshold is not None:
            matches = np.nonzero(self.iou_thresholds == iou_threshold)[0]
            if matches.size == 0:
                raise ValueError(f"IoU threshold {iou_threshold} is not among {self.iou_thresholds.tolist()}")
            precision = precision[matches]
        if category_index is not None:
            precision = precision[:, :, category_index]
        valid = precision[precision > -1]
        return float(np.mean(valid)) if valid.size else float("nan")


def run_box_evaluation(
    backend: CocoBackend,
    coco_gt,
    coco_dt,
    image_ids: Optional[Sequence[int]] = None,
    iou_thresholds: Optional[Sequence[float]] = None,
    ignored_gt_ids: Iterable[int] = (),
) -> PrecisionTable:
    """Evaluate boxes over the area range ``all`` with ``maxDets=100``.

    Args:
        backend: which COCO API runs it.
        coco_gt, coco_dt: ``backend``'s ``COCO`` objects.
        image_ids: evaluate only these images (default: all of ``coco_gt``).
        iou_thresholds: IoU thresholds (default: COCO's 0.50:0.05:0.95).
        ignored_gt_ids: ground truth annotation ids to ignore, besides crowds.
    """
    evaluation = backend.cocoeval_class(coco_gt, coco_dt, ignored_gt_ids, **backend.cocoeval_kwargs)
    params = evaluation.params
    if image_ids is not None:
        params.imgIds = sorted(image_ids)
    if iou_thresholds is not None:
        params.iouThrs = np.asarray(iou_thresholds, dtype=np.float64)
    params.areaRng, params.areaRngLbl = params.areaRng[:1], params.areaRngLbl[:1]
    params.maxDets = [MAX_DETECTIONS]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        evaluation.evaluate()
        evaluation.accumulate()
    return PrecisionTable(evaluation.eval["precision"][:, :, :, 0, 0], np.asarray(params.iouThrs))

"""YouTube-VIS video instance segmentation evaluation: pycocotools' ``COCOeval`` on videos.

Each video plays the part of a COCO image, and each track (one instance through all the
frames of its video) that of an annotation; a track's ``segmentations`` hold one mask per
frame, ``None`` where the instance is absent. Two steps differ from COCO, as in the
official YouTube-VIS evaluator:

1. the IoU of two tracks is video-level, ``sum_t |d_t & g_t| / sum_t |d_t | g_t|``:
   frames where both are absent add nothing, a frame where only one is present adds its
   area to the union (:func:`video_iou`);
2. the area of a track, which puts it in an area range (small ``[0, 128^2]``, medium
   ``[128^2, 256^2]``, large ``[256^2, inf)``), is the mean of its per-frame areas over the
   frames where it is present; for ground truth these are the json's ``areas``.

Everything else is ``COCOeval``'s own: matching at IoU 0.50:0.95 with at most 1/10/100
tracks per video (a crowd track is ignored and may match several predictions),
precision/recall accumulation and the summary. The ground truth and the predicted tracks
are read and checked by :mod:`troi.data.datasets.ytvis_format`.
"""

import contextlib
import io
import logging
import math
import os
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..data.datasets.ytvis_format import EVALUATION_NEEDS, read_ytvis_json, read_ytvis_results

__all__ = [
    "YTVIS_AREA_RANGES",
    "YTVIS_METRICS",
    "YTVISeval",
    "evaluate_ytvis",
    "load_ytvis_gt",
    "load_ytvis_results",
    "video_iou",
]

logger = logging.getLogger(__name__)

# all, small, medium, large: bounds on a track's mean per-frame area, in pixels.
YTVIS_AREA_RANGES = [[0**2, 1e5**2], [0**2, 128**2], [128**2, 256**2], [256**2, 1e5**2]]

# Names of COCOeval.stats, in its order.
YTVIS_METRICS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs100", "ARm100", "ARl100"]

# One frame's mask as given: polygons, an RLE (compressed or not), or None (absent).
FrameSegmentation = Union[None, list, dict]


def evaluate_ytvis(
    gt_json_path: Union[str, os.PathLike], results: Union[str, os.PathLike, List[dict]]
) -> Dict[str, float]:
    """Mask AP and AR of video instance segmentation results, as the official evaluator.

    Args:
        gt_json_path: YouTube-VIS ground truth json (``videos``, ``annotations``, ``categories``).
        results: path to a json list, or the list itself, of predicted tracks, each
            ``{"video_id", "category_id", "score", "segmentations"}`` with one RLE (or
            ``None``) per frame of its video. The list is not modified.

    Returns:
        ``{name: value}`` for every name of :data:`YTVIS_METRICS`, in percent. Metrics
        without ground truth to measure (COCOeval's -1, e.g. ``APl`` when no track is
        large) are NaN, as detectron2's ``COCOEvaluator`` reports them: NaN cannot be taken
        for a score, and it propagates through any average it enters.

    Raises:
        ValueError: malformed ground truth or results, naming the file, entry and key.
    """
    coco_gt = load_ytvis_gt(gt_json_path)
    evaluator = YTVISeval(coco_gt, load_ytvis_results(results, coco_gt))
    with contextlib.redirect_stdout(io.StringIO()):  # progress messages
        evaluator.evaluate()
        evaluator.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    logger.info("YouTube-VIS evaluation on %s:\n%s", gt_json_path, summary.getvalue())
    return {name: float(stat * 100) if stat >= 0 else math.nan for name, stat in zip(YTVIS_METRICS, evaluator.stats)}


class YTVISeval(COCOeval):
    """``COCOeval`` with videos as images and tracks as annotations.

    Args:
        coco_gt: from :func:`load_ytvis_gt`.
        coco_dt: from :func:`load_ytvis_results` for ``coco_gt``.
    """

    def __init__(self, coco_gt: COCO, coco_dt: COCO):
        super().__init__(coco_gt, coco_dt, iouType="segm")
        self.params.areaRng = [list(area_range) for area_range in YTVIS_AREA_RANGES]

    def _prepare(self):
        """Per-frame RLEs, track areas and ignore flags; groups tracks by (video, category)."""
        p = self.params
        cat_ids = p.catIds if p.useCats else []
        gts = self.cocoGt.loadAnns(self.cocoGt.getAnnIds(imgIds=p.imgIds, catIds=cat_ids))
        dts = self.cocoDt.loadAnns(self.cocoDt.getAnnIds(imgIds=p.imgIds, catIds=cat_ids))
        for track in gts + dts:
            video = self.cocoGt.imgs[track["image_id"]]
            track["segmentations"] = [_frame_rle(segm, video) for segm in track["segmentations"]]
        for gt in gts:
            gt["area"] = _mean_present_area(gt["areas"] if "areas" in gt else _frame_areas(gt["segmentations"]))
            gt["ignore"] = bool(gt.get("iscrowd", 0))
        for dt in dts:
            dt["area"] = _mean_present_area(_frame_areas(dt["segmentations"]))
        self._gts, self._dts = defaultdict(list), defaultdict(list)
        for gt in gts:
            self._gts[gt["image_id"], gt["category_id"]].append(gt)
        for dt in dts:
            self._dts[dt["image_id"], dt["category_id"]].append(dt)
        self.evalImgs = []
        self.eval = {}

    def computeIoU(self, imgId, catId):
        """Video IoU of the video's predictions (highest score first, at most ``maxDets[-1]``)
        with its ground-truth tracks of the category.

        Returns:
            ``[D, G]`` float64, or ``[]`` where either side is empty (as ``COCOeval``).
        """
        p = self.params
        cat_ids = [catId] if p.useCats else p.catIds
        gts = [gt for cat_id in cat_ids for gt in self._gts[imgId, cat_id]]
        dts = [dt for cat_id in cat_ids for dt in self._dts[imgId, cat_id]]
        if not gts or not dts:
            return []
        order = np.argsort([-dt["score"] for dt in dts], kind="mergesort")[: p.maxDets[-1]]
        return video_iou([dts[i]["segmentations"] for i in order], [gt["segmentations"] for gt in gts])


def video_iou(dt_tracks: Sequence[Sequence[Optional[dict]]], gt_tracks: Sequence[Sequence[Optional[dict]]]):
    """Video-level IoU of every pair of a predicted and a ground-truth track.

    Args:
        dt_tracks: ``D`` tracks, each ``T`` compressed RLEs or ``None`` (absent).
        gt_tracks: ``G`` tracks of the same ``T`` frames.

    Returns:
        ``[D, G]`` float64 ``sum_t |d_t & g_t| / sum_t |d_t | g_t|``; 0 where the union is
        empty. Intersections and unions are exact pixel counts.
    """
    intersections = np.zeros((len(dt_tracks), len(gt_tracks)))  # (D, G)
    if not dt_tracks or not gt_tracks:
        return intersections
    dt_areas = np.stack([_frame_areas(track) for track in dt_tracks])  # (D, T)
    for frame in range(len(gt_tracks[0])):
        dt_present = [i for i, track in enumerate(dt_tracks) if track[frame]]
        gt_present = [j for j, track in enumerate(gt_tracks) if track[frame]]
        if not dt_present or not gt_present:
            continue
        # pycocotools' crowd IoU is |d & g| / |d|, so times |d| it is the intersection.
        crowd_iou = mask_util.iou(
            [dt_tracks[i][frame] for i in dt_present],
            [gt_tracks[j][frame] for j in gt_present],
            [1] * len(gt_present),
        )
        dt_frame_areas = dt_areas[dt_present, frame][:, None]
        intersections[np.ix_(dt_present, gt_present)] += np.rint(crowd_iou * dt_frame_areas)
    gt_areas = np.stack([_frame_areas(track) for track in gt_tracks])  # (G, T)
    unions = dt_areas.sum(axis=1)[:, None] + gt_areas.sum(axis=1)[None, :] - intersections  # (D, G)
    return np.divide(intersections, unions, out=np.zeros_like(intersections), where=unions > 0)


def load_ytvis_gt(json_path: Union[str, os.PathLike]) -> COCO:
    """YouTube-VIS ground truth as a pycocotools ``COCO`` whose images are the videos.

    Tracks keep their fields, plus ``image_id`` (their ``video_id``) and an ``id``
    renumbered from 1: ``COCOeval`` reads a match with id 0 as no match.

    Raises:
        ValueError: not a YouTube-VIS json with what the evaluation reads
            (``ytvis_format.EVALUATION_NEEDS``: e.g. a missing key, a track of an unknown
            video or category or without one segmentation per frame of its video); the
            message names the file, the entry and the key.
    """
    dataset = read_ytvis_json(json_path, EVALUATION_NEEDS, "ground-truth json")
    return _coco(dataset["videos"], dataset["categories"], dataset["annotations"])


def load_ytvis_results(results: Union[str, os.PathLike, List[dict]], coco_gt: COCO) -> COCO:
    """Predicted tracks (a json path or a list, see :func:`evaluate_ytvis`) as a ``COCO``
    over ``coco_gt``'s videos, like ``COCO.loadRes``; the given dicts are not modified.

    Raises:
        ValueError: a result without one of the keys, of a video or category not in
            ``coco_gt``, without one segmentation per frame of its video, with a score that
            is not a finite number or a segmentation that is not a well-formed RLE of the
            video's size (``ytvis_format.read_ytvis_results``, naming the entry and the
            field). Every result is checked before any is evaluated.
    """
    tracks = read_ytvis_results(results, coco_gt.imgs, coco_gt.cats)
    return _coco(coco_gt.dataset["images"], coco_gt.dataset["categories"], tracks)


def _coco(videos: List[dict], categories: List[dict], tracks: List[dict]) -> COCO:
    """A ``COCO`` of checked ``videos`` as images and shallow copies of the ``tracks`` as
    annotations, each with ``image_id`` (its ``video_id``) and ``id`` (from 1)."""
    coco = COCO()
    coco.dataset = {
        "images": videos,
        "categories": categories,
        "annotations": [
            {**track, "image_id": track["video_id"], "id": index + 1} for index, track in enumerate(tracks)
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):  # "creating index..."
        coco.createIndex()
    return coco


def _frame_rle(segm: FrameSegmentation, video: dict) -> Optional[dict]:
    """One frame's checked mask (of the video's size) as a compressed RLE, ``None`` where
    absent (also an empty polygon list, as the official evaluator)."""
    if not segm:
        return None
    height, width = video["height"], video["width"]
    if isinstance(segm, list):  # polygons
        return mask_util.merge(mask_util.frPyObjects(segm, height, width))
    return mask_util.frPyObjects(segm, height, width) if isinstance(segm["counts"], list) else segm


def _frame_areas(track: Sequence[Optional[dict]]) -> np.ndarray:
    """``[T]`` pixel counts of a track's per-frame RLEs, 0 where absent."""
    return np.array([mask_util.area(rle) if rle else 0 for rle in track], dtype=np.float64)


def _mean_present_area(areas) -> float:
    """Mean of the areas of the frames where a track is present (``None`` and 0 are
    absent, as the official evaluator); 0 for a track absent everywhere."""
    present = [area for area in areas if area]
    return float(np.mean(present)) if present else 0.0

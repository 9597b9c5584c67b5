"""ImageNet VID box evaluation: COCO AP over all frames, by frame quality, by motion speed.

Ground truth is a COCO-VID json: COCO's ``images`` (plus ``video_id``, ``frame_id`` and an
optional ``degraded`` flag), ``annotations`` (plus ``instance_id``, the object's track)
and ``categories``. Detections are COCO results: ``image_id``, ``category_id`` (the json's
ids), ``bbox`` ``[x, y, w, h]`` and ``score``. Both are read and checked by
:mod:`troi.data.datasets.coco_vid_format`.

Metrics, in percent (detectron2's convention), NaN where COCO reports -1 (no ground truth):

- ``AP``, ``AP50``, ``AP75``: COCO box AP over all frames (``COCOeval.stats[0]``,
  ``stats[1]`` and ``stats[2]`` times 100); ``AP50-<category name>`` per category.
- ``AP50_degraded``, ``AP50_clean``: AP50 over only the frames flagged ``degraded`` and
  over only the others; present when any image carries the flag.
- ``AP50_slow``, ``AP50_medium``, ``AP50_fast``: AP50 by motion speed (FGFA, Zhu et al.,
  ICCV 2017, sec. 5.1). An object's *motion IoU* in frame ``t`` is the mean IoU of its
  box with the boxes of the same instance in the frames ``t-10 .. t+10`` (the frames of
  that window where it is annotated, ``t`` excluded). Slow: motion IoU > 0.9, medium:
  in [0.7, 0.9], fast: < 0.7 (the paper's groups; FGFA's evaluation code uses the
  closed ranges [0.9, 1], [0.7, 0.9], [0, 0.7], which put an IoU of exactly 0.7 or 0.9
  in two groups). An object with no annotated neighbour in its window gets motion IoU 0
  (fast), the value FGFA's evaluation reads for an empty entry. Boxes are continuous
  (COCO), without FGFA's +1 pixel. For one speed, the ground truth of the other speeds is
  ignored (COCO's crowd rule: a detection matched to it is neither a true nor a false
  positive), while unmatched detections stay false positives.
"""

import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Union

import numpy as np


from ..data.datasets.coco_vid_format import EVALUATION_NEEDS, read_coco_vid_json, read_detections
from .vid_cocoeval import DEFAULT_COCO_BACKEND, CocoBackend, get_coco_backend, run_box_evaluation

__all__ = [
    "MOTION_SPEEDS",
    "VIDGroundTruth",
    "evaluate_vid",
    "load_vid_ground_truth",
    "motion_ious",
    "motion_speeds",
]

logger = logging.getLogger(__name__)

MOTION_WINDOW = 10
"""Motion IoU compares a box with the same instance's boxes up to this many frames away."""
SLOW_MOTION_IOU = 0.9
"""Motion IoU above this: slow."""
FAST_MOTION_IOU = 0.7
"""Motion IoU below this: fast."""
MOTION_SPEEDS = ("slow", "medium", "fast")


def box_iou_xywh(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """``[N]`` IoU of the boxes ``boxes1[i]`` and ``boxes2[i]``, both ``[N, 4]`` ``(x, y, w, h)``;
    0 where the union is empty."""
    top_left = np.maximum(boxes1[:, :2], boxes2[:, :2])
    bottom_right = np.minimum(boxes1[:, :2] + boxes1[:, 2:], boxes2[:, :2] + boxes2[:, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
    union = boxes1[:, 2:].prod(axis=1) + boxes2[:, 2:].prod(axis=1) - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def motion_ious(
    video_ids: np.ndarray,
    instance_ids: np.ndarray,
    frame_ids: np.ndarray,
    boxes: np.ndarray,
    window: int = MOTION_WINDOW,
) -> np.ndarray:
    """FGFA's motion IoU of every annotation, in O(N * window).

    Args:
        video_ids, instance_ids, frame_ids: ``[N]`` integer arrays; an object track is one
            ``(video_id, instance_id)``, with at most one box per frame.
        boxes: ``[N, 4]`` ``(x, y, w, h)``.
        window: neighbours are the same track's boxes at most this many frames away.

    Returns:
        ``[N]`` mean IoU with the neighbours, 0 for a box without neighbours.
    """
    num_boxes = len(frame_ids)
    # Sorted by track, then frame: a box's neighbours are among the `window` next rows.
    order = np.lexsort((frame_ids, instance_ids, video_ids))
    video_ids, instance_ids = video_ids[order], instance_ids[order]
    frame_ids, boxes = frame_ids[order], np.asarray(boxes, dtype=np.float64)[order]
    iou_sums = np.zeros(num_boxes)
    counts = np.zeros(num_boxes)
    for offset in range(1, min(window, num_boxes - 1) + 1):
        same_track = (video_ids[offset:] == video_ids[:-offset]) & (instance_ids[offset:] == instance_ids[:-offset])
        gaps = frame_ids[offset:] - frame_ids[:-offset]
        if offset == 1 and np.any(same_track & (gaps == 0)):
            row = int(np.argmax(same_track & (gaps == 0)))
            raise ValueError(
                f"instance {instance_ids[row]} of video {video_ids[row]} has two boxes in frame {frame_ids[row]}"
            )
        rows = np.nonzero(same_track & (gaps <= window))[0]  # pairs (row, row + offset)
        ious = box_iou_xywh(boxes[rows], boxes[rows + offset])
        iou_sums[rows] += ious
        iou_sums[rows + offset] += ious
        counts[rows] += 1
        counts[rows + offset] += 1
    means = np.divide(iou_sums, counts, out=np.zeros(num_boxes), where=counts > 0)
    result = np.empty(num_boxes)
    result[order] = means
    return result


def motion_speeds(motion_iou: np.ndarray) -> np.ndarray:
    """``[N]`` index into :data:`MOTION_SPEEDS` of every motion IoU."""
    return np.where(motion_iou > SLOW_MOTION_IOU, 0, np.where(motion_iou < FAST_MOTION_IOU, 2, 1))


@dataclass
class VIDGroundTruth:
    """A COCO-VID ground truth, indexed for evaluation.

    Attributes:
        coco: the backend's ``COCO`` object.
        category_names: category id -> name, sorted by id (COCOeval's category order).
        frame_subsets: ``"degraded"`` and ``"clean"`` -> their image ids; empty when no
            image carries the ``degraded`` flag.
        motion_speed_ann_ids: each of :data:`MOTION_SPEEDS` -> its annotation ids.
    """

    coco: object
    category_names: Dict[int, str]
    frame_subsets: Dict[str, List[int]]
    motion_speed_ann_ids: Dict[str, np.ndarray]


def _motion_speed_ann_ids(dataset: dict, path: str) -> Dict[str, np.ndarray]:
    """Each of :data:`MOTION_SPEEDS` -> the ids of the annotations of the checked COCO-VID
    ``dataset`` moving at that speed."""
    images = {image["id"]: image for image in dataset["images"]}
    annotations = dataset["annotations"]
    frames = [images[ann["image_id"]] for ann in annotations]
    try:
        motion_iou = motion_ious(
            np.array([frame["video_id"] for frame in frames], dtype=np.int64),
            np.array([ann["instance_id"] for ann in annotations], dtype=np.int64),
            np.array([frame["frame_id"] for frame in frames], dtype=np.int64),
            np.array([ann["bbox"] for ann in annotations], dtype=np.float64).reshape(-1, 4),
        )
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    speeds = motion_speeds(motion_iou)
    ann_ids = np.array([ann["id"] for ann in annotations], dtype=np.int64)
    return {speed: ann_ids[speeds == index] for index, speed in enumerate(MOTION_SPEEDS)}


def _frame_subsets(images: List[dict]) -> Dict[str, List[int]]:
    """``"degraded"`` and ``"clean"`` -> their image ids, if any image has the ``degraded``
    flag (an image without it is clean); else empty."""
    if not any("degraded" in image for image in images):
        return {}
    return {
        "degraded": [image["id"] for image in images if image.get("degraded", False)],
        "clean": [image["id"] for image in images if not image.get("degraded", False)],
    }


def load_vid_ground_truth(gt_json_path: Union[str, os.PathLike], backend: CocoBackend) -> VIDGroundTruth:
    """Load and check a COCO-VID json (what ``coco_vid_format.EVALUATION_NEEDS`` says), and
    find its frame subsets and motion speeds."""
    dataset = read_coco_vid_json(gt_json_path, EVALUATION_NEEDS, "ground-truth json")
    return VIDGroundTruth(
        coco=backend.make_coco(dataset),
        category_names={cat["id"]: cat["name"] for cat in sorted(dataset["categories"], key=lambda c: c["id"])},
        frame_subsets=_frame_subsets(dataset["images"]),
        motion_speed_ann_ids=_motion_speed_ann_ids(dataset, gt_json_path),
    )


def load_detections(results: Union[str, os.PathLike, list], ground_truth: VIDGroundTruth) -> List[dict]:
    """COCO results checked against ``ground_truth`` (``coco_vid_format.read_detections``:
    every entry before any is evaluated, so both backends see only well-formed detections)
    and copied into COCO annotations with what ``COCO.loadRes`` adds (``id`` from 1,
    ``area``, ``iscrowd``); ``results`` is left untouched."""
    detections = []
    for index, result in enumerate(read_detections(results, ground_truth.coco.imgs, ground_truth.category_names)):
        bbox = result["bbox"]
        detections.append(
            {
                "id": index + 1,
                "image_id": result["image_id"],
                "category_id": result["category_id"],
                "bbox": bbox,
                "score": result["score"],
                "area": bbox[2] * bbox[3],
                "iscrowd": 0,
            }
        )
    return detections


def evaluate_vid(
    gt_json_path: Union[str, os.PathLike],
    results: Union[str, os.PathLike, List[dict]],
    backend: str = DEFAULT_COCO_BACKEND,
) -> Dict[str, float]:
    """Evaluate ImageNet VID detections; see the module docstring for the metrics.

    Args:
        gt_json_path: the COCO-VID ground truth json.
        results: a json file of, or a list of, COCO detection dicts (``image_id``,
            ``category_id``, ``bbox`` xywh, ``score``).
        backend: ``"faster_coco_eval"`` (the default: faster; its precision skips
            pycocotools' ``1e-16`` epsilon, so APs may differ in the last bit) or
            ``"pycocotools"`` (bit-identical to ``COCOeval.stats``).

    Returns:
        metric name -> value in percent; NaN where there is no ground truth to find.
    """
    coco_backend = get_coco_backend(backend)
    ground_truth = load_vid_ground_truth(gt_json_path, coco_backend)
    detections = load_detections(results, ground_truth)
    coco_gt = ground_truth.coco
    coco_dt = coco_backend.make_coco(
        {"images": coco_gt.dataset["images"], "categories": coco_gt.dataset["categories"], "annotations": detections}
    )
    table = run_box_evaluation(coco_backend, coco_gt, coco_dt)
    metrics = {
        "AP": table.average_precision(),
        "AP50": table.average_precision(iou_threshold=0.5),
        "AP75": table.average_precision(iou_threshold=0.75),
    }
    for index, name in enumerate(ground_truth.category_names.values()):
        metrics[f"AP50-{name}"] = table.average_precision(iou_threshold=0.5, category_index=index)
    for subset, image_ids in ground_truth.frame_subsets.items():
        subset_table = run_box_evaluation(coco_backend, coco_gt, coco_dt, image_ids=image_ids, iou_thresholds=[0.5])
        metrics[f"AP50_{subset}"] = subset_table.average_precision()
    for speed in MOTION_SPEEDS:
        ignored = np.concatenate([ids for other, ids in ground_truth.motion_speed_ann_ids.items() if other != speed])
        speed_table = run_box_evaluation(
            coco_backend, coco_gt, coco_dt, iou_thresholds=[0.5], ignored_gt_ids=ignored.tolist()
        )
        metrics[f"AP50_{speed}"] = speed_table.average_precision()
    return {name: 100.0 * value for name, value in metrics.items()}

"""The YouTube-VIS DatasetEvaluator: tracked per-frame masks -> one result per track."""

import json
import logging
import os
import zipfile
from collections import OrderedDict, defaultdict
from typing import Dict, List, Sequence

import numpy as np
from pycocotools import mask as mask_util

from detectron2.data import DatasetCatalog
from detectron2.utils.logger import create_small_table

from ..utils import atomic_outputs
from .detections_evaluator import DetectionsEvaluator
from .ytvis_evaluation import evaluate_ytvis

__all__ = ["YTVISEvaluator", "tracks_to_ytvis_results"]

logger = logging.getLogger(__name__)


def tracks_to_ytvis_results(
    frame_detections: Sequence[dict], video_lengths: Dict[int, int], category_ids: Dict[int, int]
) -> List[dict]:
    """YouTube-VIS results, one per track, from per-frame tracked detections.

    Args:
        frame_detections: dicts with ``video_id``, ``frame_id``, ``track_id``, ``score``,
            ``category`` (contiguous class) and ``segmentation`` (compressed RLE); a track
            is one ``(video_id, track_id)`` with at most one detection per frame.
        video_lengths: frames of each video.
        category_ids: contiguous class -> the json's category id.

    Returns:
        ``{video_id, category_id, score, segmentations}`` per track: ``segmentations`` has
        one entry per frame of the video (``None`` where the track has no detection), the
        score is the mean of its frame scores and the category the most frequent of its
        frame classes (ties: the larger summed score, then the smaller class).
    """
    tracks = defaultdict(list)
    for detection in frame_detections:
        tracks[detection["video_id"], detection["track_id"]].append(detection)
    results = []
    for (video_id, track_id), detections in sorted(tracks.items(), key=lambda item: item[0]):
        segmentations = [None] * video_lengths[video_id]
        votes = defaultdict(lambda: [0, 0.0])  # class -> [frames, summed score]
        for detection in detections:
            if segmentations[detection["frame_id"]] is not None:
                raise ValueError(
                    f"track {track_id} of video {video_id} has two detections in frame {detection['frame_id']}"
                )
            segmentations[detection["frame_id"]] = detection["segmentation"]
            votes[detection["category"]][0] += 1
            votes[detection["category"]][1] += detection["score"]
        category = max(votes, key=lambda c: (votes[c][0], votes[c][1], -c))
        results.append(
            {
                "video_id": video_id,
                "category_id": category_ids[category],
                "score": float(np.mean([detection["score"] for detection in detections])),
                "segmentations": segmentations,
            }
        )
    return results


def _encode_masks(masks: np.ndarray) -> List[dict]:
    """``[N, H, W]`` bool masks -> compressed RLEs with str ``counts`` (json-ready)."""
    rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


class YTVISEvaluator(DetectionsEvaluator):
    """Video instance segmentation results of a tracking model on a YouTube-VIS dataset.

    Collects every frame's ``instances`` (``pred_masks``, ``scores``, ``pred_classes``,
    ``track_ids``), then writes one result per track (:func:`tracks_to_ytvis_results`) to
    ``<output_dir>/results.json`` and ``results.zip`` (the challenge server's format), and
    evaluates them (:func:`evaluate_ytvis`) only when the dataset has annotations; the
    YouTube-VIS val/test jsons have none, and their results are only written.

    Args:
        dataset_name: a registered YouTube-VIS dataset (metadata ``json_file``,
            ``thing_dataset_id_to_contiguous_id``); its frames give the video lengths.
        output_dir: where the results go (not written when None).
        distributed: gather the detections of all ranks and evaluate on the main one.
    """

    def __init__(self, dataset_name: str, output_dir: str = None, distributed: bool = True):
        frames = DatasetCatalog.get(dataset_name)  # loading sets the class metadata
        super().__init__(dataset_name, output_dir, distributed)
        self._video_lengths: Dict[int, int] = defaultdict(int)
        for frame in frames:
            self._video_lengths[frame["video_id"]] = max(self._video_lengths[frame["video_id"]], frame["frame_id"] + 1)
        self._has_annotations = any(frame.get("annotations") for frame in frames)

    def process(self, inputs: Sequence[dict], outputs: Sequence[dict]):
        """Store each frame's tracked detections, masks as RLE."""
        for model_input, output in zip(inputs, outputs):
            instances = output["instances"].to("cpu")
            for field in ("pred_masks", "track_ids"):
                if not instances.has(field):
                    raise ValueError(
                        f"YTVISEvaluator needs predictions with {field!r} (a tracking instance "
                        f"segmentation model such as MaskTrackRCNN)"
                    )
            if not len(instances):
                continue
            rles = _encode_masks(instances.pred_masks.numpy())
            for index, rle in enumerate(rles):
                self._detections.append(
                    {
                        "video_id": model_input["video_id"],
                        "frame_id": model_input["frame_id"],
                        "track_id": int(instances.track_ids[index]),
                        "score": float(instances.scores[index]),
                        "category": int(instances.pred_classes[index]),
                        "segmentation": rle,
                    }
                )

    def evaluate(self):
        """Gather, write and (with annotations) evaluate the results.

        Returns:
            ``OrderedDict(segm={metric: value})`` when evaluated on the main process, else ``{}``.
        """
        detections = self._all_detections()
        if detections is None:
            return {}
        results = tracks_to_ytvis_results(detections, self._video_lengths, self._category_ids)
        if self._output_dir:
            self._write(results)
        if not self._has_annotations:
            written = (
                f"submit {os.path.join(self._output_dir, 'results.zip')} to the challenge server"
                if self._output_dir
                else "give an output_dir to write them"
            )
            logger.info(f"{self._json_file} has no annotations: {len(results)} tracks not evaluated; {written}")
            return {}
        metrics = evaluate_ytvis(self._json_file, results)
        logger.info(f"YouTube-VIS evaluation of {len(results)} tracks:\n{create_small_table(metrics)}")
        return OrderedDict(segm=metrics)

    def _write(self, results: List[dict]):
        """``results.json`` and ``results.zip`` (holding ``results.json``) in the output dir,
        both or neither."""
        with atomic_outputs() as outputs:
            json_path = outputs.file(os.path.join(self._output_dir, "results.json"))
            with open(json_path, "w") as f:
                json.dump(results, f)
            with zipfile.ZipFile(
                outputs.file(os.path.join(self._output_dir, "results.zip")), "w", zipfile.ZIP_DEFLATED
            ) as archive:
                archive.write(json_path, arcname="results.json")

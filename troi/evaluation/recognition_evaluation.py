"""Video recognition accuracy: top-1, top-5 and mean class accuracy (mmaction2's metrics).

In percent (detectron2's convention):

- ``top1`` / ``top5``: the fraction of clips whose label is among the 1 / 5 highest scores
  (all ``K`` when ``K < 5``); ties go to the lower class index;
- ``mean_class_accuracy``: the mean over the classes that have clips of the fraction of
  their clips whose highest score is their label (per-class top-1 recall). mmaction2's
  ``mean_class_accuracy`` also averages in, as 0, a class that is only predicted; with
  every class among the labels (the usual case) the two are equal.
"""

import itertools
import logging
import os
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.logger import create_small_table

from ..utils import write_json_atomically

__all__ = ["RECOGNITION_METRICS", "RecognitionEvaluator", "recognition_accuracy"]

logger = logging.getLogger(__name__)

RECOGNITION_METRICS = ("top1", "top5", "mean_class_accuracy")


def _ranking(scores: np.ndarray) -> np.ndarray:
    """``[M, K]`` class indices by decreasing score (stable: ties keep the lower index first)."""
    return np.argsort(-scores, axis=1, kind="stable")


def recognition_accuracy(scores, labels) -> Dict[str, float]:
    """The metrics of the module doc.

    Args:
        scores: ``[M, K]`` class scores of ``M`` clips (any monotonic scale).
        labels: ``[M]`` class indices in ``[0, K)``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(f"scores must be [M, K] and labels [M], got {scores.shape} and {labels.shape}")
    if scores.shape[0] == 0:
        raise ValueError("no clips to evaluate")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f"labels must be class indices in [0, {scores.shape[1]}), got {labels.min()}..{labels.max()}")
    ranking = _ranking(scores)
    top1_hits = ranking[:, 0] == labels
    classes = np.unique(labels)
    return {
        "top1": 100.0 * float(top1_hits.mean()),
        "top5": 100.0 * float((ranking[:, :5] == labels[:, None]).any(axis=1).mean()),
        "mean_class_accuracy": 100.0 * float(np.mean([top1_hits[labels == c].mean() for c in classes])),
    }


class RecognitionEvaluator(DatasetEvaluator):
    """:func:`recognition_accuracy` of a :class:`troi.modeling.VideoRecognizer` on a
    registered recognition dataset: the inputs' ``label`` against the outputs' ``scores``.

    Args:
        dataset_name: a registered dataset (its metadata's ``classes``, when set, name the
            predictions in the written file).
        output_dir: if given, every clip's label, top-5 classes and their scores are written
            to ``<output_dir>/recognition_predictions.json``.
        distributed: gather the clips of all ranks and evaluate on the main one.
    """

    def __init__(self, dataset_name: str, output_dir: Optional[str] = None, distributed: bool = True):
        self._dataset_name = dataset_name
        self._classes = MetadataCatalog.get(dataset_name).get("classes")
        self._output_dir = output_dir
        self._distributed = distributed
        self._clips = []

    def reset(self):
        self._clips = []

    def process(self, inputs: Sequence[dict], outputs: Sequence[dict]):
        """Store each clip's ``video_id``, ``label`` and ``scores``."""
        for model_input, output in zip(inputs, outputs):
            scores = output["scores"].detach().cpu().numpy().astype(np.float64)
            self._clips.append(
                {"video_id": model_input["video_id"], "label": int(model_input["label"]), "scores": scores}
            )

    def evaluate(self):
        """Gather, save and evaluate the predictions.

        Returns:
            ``OrderedDict(recognition={metric: value})`` on the main process, ``{}`` on the others.
        """
        clips = self._clips
        if self._distributed:
            comm.synchronize()
            gathered = comm.gather(self._clips, dst=0)
            if not comm.is_main_process():
                return {}
            clips = list(itertools.chain.from_iterable(gathered))
        if not clips:
            raise ValueError(f"RecognitionEvaluator received no clips of {self._dataset_name!r}")
        scores = np.stack([clip["scores"] for clip in clips])
        labels = np.array([clip["label"] for clip in clips])
        metrics = recognition_accuracy(scores, labels)
        if self._output_dir:
            self._write_predictions(clips, _ranking(scores)[:, :5])
        logger.info(
            f"Recognition accuracy on {self._dataset_name} ({len(clips)} clips, percent):\n"
            + create_small_table(metrics)
        )
        return OrderedDict(recognition=metrics)

    def _write_predictions(self, clips, top5):
        name = (lambda index: self._classes[index]) if self._classes else int
        predictions = [
            {
                "video_id": clip["video_id"],
                "label": name(clip["label"]),
                "top5": [name(int(c)) for c in classes],
                "top5_scores": [float(clip["scores"][c]) for c in classes],
            }
            for clip, classes in zip(clips, top5)
        ]
        write_json_atomically(predictions, os.path.join(self._output_dir, "recognition_predictions.json"))

"""The ImageNet VID DatasetEvaluator: a model's detections -> :func:`.vid_evaluation.evaluate_vid`."""

import itertools
import logging
import os
from collections import OrderedDict
from typing import Dict, Sequence

from tabulate import tabulate

from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from detectron2.utils.logger import create_small_table

from ..utils import write_json_atomically
from .detections_evaluator import DetectionsEvaluator
from .vid_cocoeval import DEFAULT_COCO_BACKEND, get_coco_backend
from .vid_evaluation import evaluate_vid

__all__ = ["VIDEvaluator"]

logger = logging.getLogger(__name__)


def _metrics_tables(metrics: Dict[str, float], columns: int = 3) -> str:
    """The summary metrics as one row, and the per-category AP50 in ``columns`` pairs of columns."""
    summary = {name: value for name, value in metrics.items() if not name.startswith("AP50-")}
    per_category = [(name[len("AP50-") :], value) for name, value in metrics.items() if name.startswith("AP50-")]
    rows = itertools.zip_longest(*[per_category[start::columns] for start in range(columns)], fillvalue=("", ""))
    category_table = tabulate(
        [sum(row, ()) for row in rows],
        headers=["category", "AP50"] * columns,
        tablefmt="pipe",
        floatfmt=".3f",
        numalign="left",
    )
    return f"{create_small_table(summary)}\nPer-category AP50:\n{category_table}"


class VIDEvaluator(DetectionsEvaluator):
    """Box AP of a detectron2 model on a registered COCO-VID dataset (:func:`evaluate_vid`).

    Args:
        dataset_name: a registered dataset whose metadata has ``json_file`` (the COCO-VID
            ground truth) and ``thing_dataset_id_to_contiguous_id``.
        output_dir: if given, the detections are written to ``<output_dir>/vid_detections.json``.
        distributed: gather the detections of all ranks and evaluate on the main one.
        backend: the COCO API that evaluates, see :func:`evaluate_vid`.
    """

    def __init__(
        self, dataset_name: str, output_dir: str = None, distributed: bool = True, backend: str = DEFAULT_COCO_BACKEND
    ):
        super().__init__(dataset_name, output_dir, distributed)
        get_coco_backend(backend)  # an unknown backend fails here, not after inference
        self._backend = backend

    def process(self, inputs: Sequence[dict], outputs: Sequence[dict]):
        """Store the ``instances`` of every output as COCO detections of its input's ``image_id``."""
        for model_input, output in zip(inputs, outputs):
            detections = instances_to_coco_json(output["instances"].to("cpu"), model_input["image_id"])
            for detection in detections:
                contiguous_id = detection["category_id"]
                if contiguous_id not in self._category_ids:
                    raise ValueError(f"predicted class {contiguous_id} is not in thing_dataset_id_to_contiguous_id")
                detection["category_id"] = self._category_ids[contiguous_id]
            self._detections.extend(detections)

    def evaluate(self):
        """Gather, save and evaluate the detections.

        Returns:
            ``OrderedDict(bbox={metric: value})`` on the main process, ``{}`` on the others.
        """
        detections = self._all_detections()
        if detections is None:
            return {}
        if not detections:
            logger.warning("VIDEvaluator received no detections: all APs are 0")
        if self._output_dir:
            write_json_atomically(detections, os.path.join(self._output_dir, "vid_detections.json"))
        metrics = evaluate_vid(self._json_file, detections, self._backend)
        logger.info(f"VID box evaluation of {len(detections)} detections:\n{_metrics_tables(metrics)}")
        return OrderedDict(bbox=metrics)

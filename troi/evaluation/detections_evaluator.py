"""What the video evaluators share: a registered dataset's ground truth and class ids, the
detections each rank collects, gathered for one evaluation on the main process."""

import itertools
from typing import Dict, List, Optional

from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

__all__ = ["DetectionsEvaluator"]


class DetectionsEvaluator(DatasetEvaluator):
    """A :class:`DatasetEvaluator` whose ``process`` appends dicts to ``self._detections``.

    Args:
        dataset_name: a registered dataset whose metadata has ``json_file`` (the ground
            truth) and ``thing_dataset_id_to_contiguous_id``.
        output_dir: where subclasses write their results (None: nowhere).
        distributed: gather the detections of all ranks and evaluate on the main one.

    Attributes:
        _json_file: the ground truth json.
        _category_ids: contiguous class -> the json's category id.
    """

    def __init__(self, dataset_name: str, output_dir: Optional[str] = None, distributed: bool = True):
        metadata = MetadataCatalog.get(dataset_name)
        for attribute in ("json_file", "thing_dataset_id_to_contiguous_id"):
            if not hasattr(metadata, attribute):
                raise ValueError(f"{type(self).__name__} needs MetadataCatalog.get({dataset_name!r}).{attribute}")
        self._json_file = metadata.json_file
        self._category_ids: Dict[int, int] = {
            contiguous: json_id for json_id, contiguous in metadata.thing_dataset_id_to_contiguous_id.items()
        }
        self._output_dir = output_dir
        self._distributed = distributed
        self._detections: List[dict] = []

    def reset(self):
        self._detections = []

    def _all_detections(self) -> Optional[List[dict]]:
        """Every rank's detections on the main process (ranks in order), None on the others."""
        if not self._distributed:
            return self._detections
        comm.synchronize()
        gathered = comm.gather(self._detections, dst=0)
        return list(itertools.chain.from_iterable(gathered)) if comm.is_main_process() else None

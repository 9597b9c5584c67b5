"""VIDEvaluator on a registered COCO-VID dataset (the data of test_vid_evaluation)."""

import json
import logging
import os

import numpy as np
import pytest
import torch

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, Instances
from tests.evaluation.test_vid_evaluation import CATEGORY_IDS, make_vid_set, write_json
from troi.evaluation import VIDEvaluator, evaluate_vid


@pytest.fixture
def vid_set(tmp_path):
    gt, detections = make_vid_set()
    return write_json(tmp_path / "gt.json", gt), gt, detections


@pytest.fixture
def registered_dataset(vid_set):
    gt_path, gt, _ = vid_set
    name = "troi_test_vid_evaluation"
    DatasetCatalog.register(name, lambda: [])
    MetadataCatalog.get(name).set(
        json_file=gt_path,
        evaluator_type="vid",
        thing_dataset_id_to_contiguous_id={c: i for i, c in enumerate(CATEGORY_IDS)},
    )
    yield name, gt
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def predictions(gt, image):
    """The ground truth of ``image`` as detectron2 ``Instances`` (XYXY, contiguous classes)."""
    objects = [a for a in gt["annotations"] if a["image_id"] == image["id"]]
    instances = Instances((image["height"], image["width"]))
    xywh = torch.tensor([a["bbox"] for a in objects], dtype=torch.float32).reshape(-1, 4)
    instances.pred_boxes = Boxes(torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1))
    instances.scores = torch.linspace(0.9, 0.5, len(objects))
    instances.pred_classes = torch.tensor([CATEGORY_IDS.index(a["category_id"]) for a in objects], dtype=torch.int64)
    return instances


def test_evaluator_end_to_end(registered_dataset, tmp_path):
    name, gt = registered_dataset
    evaluator = VIDEvaluator(name, output_dir=str(tmp_path / "inference"))
    evaluator.reset()
    for start in range(0, len(gt["images"]), 4):  # batches of 4, frames without objects included
        batch = gt["images"][start : start + 4]
        evaluator.process(
            [{"image_id": image["id"]} for image in batch], [{"instances": predictions(gt, image)} for image in batch]
        )
    results = evaluator.evaluate()
    assert list(results) == ["bbox"]
    assert results["bbox"]["AP"] == pytest.approx(100) and results["bbox"]["AP50_fast"] == pytest.approx(100)
    saved = tmp_path / "inference" / "vid_detections.json"
    assert os.listdir(saved.parent) == ["vid_detections.json"]  # no temporary file left
    detections = json.loads(saved.read_text())
    assert len(detections) == len(gt["annotations"])
    ground_truth = {(a["image_id"], a["category_id"]) for a in gt["annotations"]}
    assert {(d["image_id"], d["category_id"]) for d in detections} == ground_truth  # json category ids
    np.testing.assert_equal(evaluate_vid(MetadataCatalog.get(name).json_file, str(saved)), results["bbox"])


def test_evaluator_without_predictions_warns_and_returns_zeros(registered_dataset, caplog):
    name, gt = registered_dataset
    evaluator = VIDEvaluator(name)
    evaluator.reset()
    empty = Instances(
        (480, 640),
        pred_boxes=Boxes(torch.zeros(0, 4)),
        scores=torch.zeros(0),
        pred_classes=torch.zeros(0, dtype=torch.int64),
    )
    evaluator.process([{"image_id": gt["images"][0]["id"]}], [{"instances": empty}])
    with caplog.at_level(logging.WARNING):
        results = evaluator.evaluate()
    assert "no detections" in caplog.text
    assert results["bbox"]["AP50"] == 0 and results["bbox"]["AP"] == 0


def test_evaluator_rejects_an_unmapped_class(registered_dataset):
    name, gt = registered_dataset
    evaluator = VIDEvaluator(name)
    evaluator.reset()
    image = next(image for image in gt["images"] if image["id"] == gt["annotations"][0]["image_id"])
    instances = predictions(gt, image)
    instances.pred_classes[:] = 7
    with pytest.raises(ValueError, match="predicted class 7 is not in thing_dataset_id_to_contiguous_id"):
        evaluator.process([{"image_id": image["id"]}], [{"instances": instances}])

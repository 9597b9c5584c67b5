import json

import numpy as np
import pytest
import torch
from detectron2.data import MetadataCatalog

from troi.evaluation import RecognitionEvaluator, recognition_accuracy


def test_top1_top5_and_mean_class_accuracy_by_hand():
    scores = np.array(
        [
            [0.9, 0.05, 0.05, 0, 0, 0, 0],  # label 0: top-1 hit
            [0.1, 0.8, 0.1, 0, 0, 0, 0],  # label 0: top-2 (top-5 hit)
            [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # label 0: ranked last (no hit)
            [0.1, 0.2, 0.7, 0, 0, 0, 0],  # label 2: top-1 hit
        ]
    )
    labels = np.array([0, 0, 0, 2])
    metrics = recognition_accuracy(scores, labels)
    assert metrics["top1"] == pytest.approx(50.0)
    assert metrics["top5"] == pytest.approx(75.0)
    assert metrics["mean_class_accuracy"] == pytest.approx(100 * (1 / 3 + 1) / 2)  # classes 0 and 2 only


def test_ties_rank_the_lower_class_first_and_few_classes_make_top5_trivial():
    assert recognition_accuracy(np.array([[0.5, 0.5]]), np.array([0]))["top1"] == 100.0
    assert recognition_accuracy(np.array([[0.5, 0.5]]), np.array([1]))["top1"] == 0.0
    assert recognition_accuracy(np.array([[0.5, 0.5]]), np.array([1]))["top5"] == 100.0


def test_bad_input():
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 3\)"):
        recognition_accuracy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="no clips"):
        recognition_accuracy(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match=r"scores must be \[M, K\]"):
        recognition_accuracy(np.zeros(3), np.zeros(3))


def test_evaluator_scores_and_writes_the_predictions(tmp_path):
    MetadataCatalog.get("recognition_eval_test").set(classes=["a", "b", "c"], evaluator_type="recognition")
    try:
        evaluator = RecognitionEvaluator("recognition_eval_test", output_dir=str(tmp_path), distributed=False)
        evaluator.reset()
        inputs = [{"video_id": "v1", "label": 0}, {"video_id": "v2", "label": 2}]
        outputs = [{"scores": torch.tensor([0.7, 0.2, 0.1])}, {"scores": torch.tensor([0.6, 0.3, 0.1])}]
        evaluator.process(inputs, outputs)
        result = evaluator.evaluate()["recognition"]
        assert result == {"top1": 50.0, "top5": 100.0, "mean_class_accuracy": 50.0}
        predictions = json.loads((tmp_path / "recognition_predictions.json").read_text())
        assert predictions[1]["video_id"] == "v2" and predictions[1]["label"] == "c"
        assert predictions[1]["top5"] == ["a", "b", "c"]
        assert predictions[1]["top5_scores"] == pytest.approx([0.6, 0.3, 0.1])
        evaluator.reset()
        with pytest.raises(ValueError, match="received no clips of 'recognition_eval_test'"):
            evaluator.evaluate()
    finally:
        MetadataCatalog.pop("recognition_eval_test", None)

import json
import logging
import zipfile

import numpy as np
import pytest
import torch

from detectron2.data import MetadataCatalog
from detectron2.structures import Boxes, Instances

from tests.conftest import unregister_datasets
from tests.evaluation.test_ytvis_evaluation import box_mask, rle, track
from troi.data.datasets import register_ytvis_instances
from troi.evaluation import YTVISEvaluator, evaluate_ytvis, tracks_to_ytvis_results

HEIGHT, WIDTH, LENGTH = 12, 16, 3
# Two objects of video 5 (categories 8 and 3), one object of video 6 absent from its frame 1.
OBJECTS = {
    (5, 11): (8, [box_mask(HEIGHT, WIDTH, 1, 1 + frame, 4, 4) for frame in range(LENGTH)]),
    (5, 12): (3, [box_mask(HEIGHT, WIDTH, 6, 8, 5, 6)] * LENGTH),
    (6, 21): (3, [box_mask(HEIGHT, WIDTH, 2, 2, 6, 6), None, box_mask(HEIGHT, WIDTH, 3, 3, 6, 6)]),
}


def write_dataset(tmp_path, name, with_annotations=True):
    videos = [
        {
            "id": video_id,
            "height": HEIGHT,
            "width": WIDTH,
            "length": LENGTH,
            "file_names": [f"{video_id}/{frame}.jpg" for frame in range(LENGTH)],
        }
        for video_id in (5, 6)
    ]
    annotations = [
        {
            "id": track_id,
            "video_id": video_id,
            "category_id": category,
            "iscrowd": 0,
            "segmentations": track(masks),
            "areas": [None if m is None else int(m.sum()) for m in masks],
        }
        for (video_id, track_id), (category, masks) in OBJECTS.items()
    ]
    content = {"videos": videos, "categories": [{"id": 3, "name": "cat"}, {"id": 8, "name": "person"}]}
    if with_annotations:
        content["annotations"] = annotations
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(content))
    for video in videos:  # the dataset's frames must exist when it loads
        for file_name in video["file_names"]:
            (tmp_path / file_name).parent.mkdir(exist_ok=True)
            (tmp_path / file_name).touch()
    register_ytvis_instances(name, {}, str(path), str(tmp_path))
    return str(path)


@pytest.fixture
def dataset(tmp_path):
    names = []

    def make(with_annotations=True):
        name = f"ytvis_evaluator_test_{len(names)}"
        names.append(name)
        return name, write_dataset(tmp_path, name, with_annotations)

    yield make
    unregister_datasets(names)


def frame_output(detections):
    """``detections``: ``(track_id, contiguous class, score, mask)``."""
    instances = Instances((HEIGHT, WIDTH))
    masks = torch.as_tensor(np.stack([d[3] for d in detections]) if detections else np.zeros((0, HEIGHT, WIDTH)))
    instances.pred_masks = masks.bool()
    instances.pred_boxes = Boxes(torch.zeros(len(detections), 4))
    instances.scores = torch.tensor([d[2] for d in detections], dtype=torch.float32)
    instances.pred_classes = torch.tensor([d[1] for d in detections], dtype=torch.long)
    instances.track_ids = torch.tensor([d[0] for d in detections], dtype=torch.long)
    return {"instances": instances}


def run(evaluator, videos):
    """``videos``: ``{video_id: [detections of each frame]}``."""
    evaluator.reset()
    for video_id, frames in videos.items():
        for frame_id, detections in enumerate(frames):
            evaluator.process([{"video_id": video_id, "frame_id": frame_id}], [frame_output(detections)])
    return evaluator.evaluate()


def perfect_predictions(contiguous):
    """The ground truth as tracked detections (track ids 0, 1 per video)."""
    videos = {5: [[] for _ in range(LENGTH)], 6: [[] for _ in range(LENGTH)]}
    for index, ((video_id, _), (category, masks)) in enumerate(OBJECTS.items()):
        for frame_id, mask in enumerate(masks):
            if mask is not None:
                videos[video_id][frame_id].append((index, contiguous[category], 0.9, mask))
    return videos


def test_results_per_track_score_mean_and_majority_category():
    segmentation = rle(box_mask(HEIGHT, WIDTH, 0, 0, 2, 2))
    detections = [
        {"video_id": 5, "frame_id": 0, "track_id": 0, "score": 0.9, "category": 1, "segmentation": segmentation},
        {"video_id": 5, "frame_id": 2, "track_id": 0, "score": 0.3, "category": 0, "segmentation": segmentation},
        {"video_id": 5, "frame_id": 1, "track_id": 0, "score": 0.6, "category": 0, "segmentation": segmentation},
        {"video_id": 6, "frame_id": 1, "track_id": 0, "score": 0.2, "category": 1, "segmentation": segmentation},
        {"video_id": 6, "frame_id": 2, "track_id": 0, "score": 0.4, "category": 0, "segmentation": segmentation},
    ]
    results = tracks_to_ytvis_results(detections, {5: 3, 6: 4}, {0: 3, 1: 8})
    assert [(r["video_id"], r["category_id"]) for r in results] == [(5, 3), (6, 3)]
    assert results[0]["score"] == pytest.approx(0.6) and results[1]["score"] == pytest.approx(0.3)
    assert results[0]["segmentations"] == [segmentation] * 3
    assert results[1]["segmentations"] == [None, segmentation, segmentation, None]  # tie 1:1, larger score wins
    with pytest.raises(ValueError, match="two detections in frame 1"):
        tracks_to_ytvis_results(detections + [dict(detections[2])], {5: 3, 6: 4}, {0: 3, 1: 8})


def test_evaluator_equals_evaluate_ytvis_on_its_written_results(dataset, tmp_path):
    name, json_file = dataset()
    evaluator = YTVISEvaluator(name, output_dir=str(tmp_path / "out"), distributed=False)
    contiguous = MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id
    videos = perfect_predictions(contiguous)
    videos[5][1] = [(7, 0, 0.3, box_mask(HEIGHT, WIDTH, 0, 10, 3, 3))] + videos[5][1]  # a one-frame false track
    metrics = run(evaluator, videos)["segm"]
    with zipfile.ZipFile(tmp_path / "out" / "results.zip") as archive:
        assert archive.namelist() == ["results.json"]
        results = json.loads(archive.read("results.json"))
    assert results == json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(results) == 4 and {len(r["segmentations"]) for r in results} == {LENGTH}
    assert metrics == evaluate_ytvis(json_file, results)
    assert metrics["AP50"] == pytest.approx(100.0) and metrics["AR10"] == pytest.approx(100.0)


def test_frames_and_videos_without_predictions(dataset, tmp_path):
    name, _ = dataset()
    evaluator = YTVISEvaluator(name, output_dir=str(tmp_path / "out"), distributed=False)
    contiguous = MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id
    videos = perfect_predictions(contiguous)
    videos[6] = [[] for _ in range(LENGTH)]  # video 6 predicts nothing
    metrics = run(evaluator, videos)["segm"]
    assert metrics["AR100"] == pytest.approx(100 * (1 + 0.5) / 2)  # category 8 finds 1 of 1, category 3 1 of 2
    assert run(evaluator, {5: [[]] * LENGTH})["segm"]["AP"] == 0.0  # no detections at all


def test_unannotated_dataset_is_written_not_evaluated(dataset, tmp_path, caplog):
    name, _ = dataset(with_annotations=False)
    evaluator = YTVISEvaluator(name, output_dir=str(tmp_path / "out"), distributed=False)
    contiguous = MetadataCatalog.get(name).thing_dataset_id_to_contiguous_id
    with caplog.at_level(logging.INFO, logger="troi.evaluation.ytvis_evaluator"):
        assert run(evaluator, perfect_predictions(contiguous)) == {}
    assert "has no annotations" in caplog.text and "results.zip" in caplog.text
    assert len(json.loads((tmp_path / "out" / "results.json").read_text())) == 3


def test_predictions_need_track_ids(dataset):
    name, _ = dataset()
    evaluator = YTVISEvaluator(name, distributed=False)
    output = frame_output([])
    output["instances"].remove("track_ids")
    with pytest.raises(ValueError, match="'track_ids'"):
        evaluator.process([{"video_id": 5, "frame_id": 0}], [output])

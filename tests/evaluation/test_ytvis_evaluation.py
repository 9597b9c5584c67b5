import copy
import json
import math

import numpy as np
import pytest
from pycocotools import mask as mask_util

from tests.conftest import FIXTURES
from troi.evaluation.ytvis_evaluation import YTVIS_METRICS, evaluate_ytvis, video_iou


def box_mask(height, width, top, left, box_height, box_width):
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[top : top + box_height, left : left + box_width] = 1
    return mask


def rle(mask):
    """Compressed RLE with ``str`` counts, as in YouTube-VIS jsons."""
    encoded = mask_util.encode(np.asfortranarray(mask))
    return {"size": encoded["size"], "counts": encoded["counts"].decode()}


def track(masks):
    return [None if mask is None else rle(mask) for mask in masks]


def write_gt(tmp_path, videos, annotations, num_categories=1):
    """``videos``: ``(id, height, width, length)``; ``annotations``: ``(video_id, segmentations)``
    or ``(video_id, segmentations, iscrowd)``, all of category 1."""
    gt = {
        "videos": [
            {
                "id": video_id,
                "height": height,
                "width": width,
                "length": length,
                "file_names": [f"{video_id}/{frame:05d}.jpg" for frame in range(length)],
            }
            for video_id, height, width, length in videos
        ],
        "categories": [
            {"id": category_id, "name": f"class{category_id}"} for category_id in range(1, num_categories + 1)
        ],
        "annotations": [
            {
                "id": index + 1,
                "video_id": video_id,
                "category_id": 1,
                "iscrowd": iscrowd,
                "segmentations": segmentations,
                "areas": [None if segm is None else float(mask_util.area(segm)) for segm in segmentations],
            }
            for index, (video_id, segmentations, *crowd) in enumerate(annotations)
            for iscrowd in [crowd[0] if crowd else 0]
        ],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    return path


def prediction(video_id, segmentations, score=0.9, category_id=1):
    return {"video_id": video_id, "category_id": category_id, "score": score, "segmentations": segmentations}


@pytest.fixture
def square_track():
    """4 frames of a 10x10 video; a 2x2 square in each."""
    return track([box_mask(10, 10, frame, frame, 2, 2) for frame in range(4)])


def test_equals_official_evaluator_on_fixture():
    expected = json.loads((FIXTURES / "ytvis_small_expected.json").read_text())
    results = evaluate_ytvis(FIXTURES / "ytvis_small_gt.json", FIXTURES / "ytvis_small_results.json")
    assert set(results) == set(YTVIS_METRICS) == set(expected)
    for name, official in expected.items():
        if official == -1:
            assert math.isnan(results[name]), name
        else:
            assert abs(results[name] * 0.01 - official) < 1e-10, name


def test_results_as_list_are_not_modified():
    results = json.loads((FIXTURES / "ytvis_small_results.json").read_text())
    original = copy.deepcopy(results)
    from_list = evaluate_ytvis(FIXTURES / "ytvis_small_gt.json", results)
    assert results == original
    from_file = evaluate_ytvis(FIXTURES / "ytvis_small_gt.json", FIXTURES / "ytvis_small_results.json")
    assert from_list == pytest.approx(from_file, nan_ok=True)


def test_perfect_prediction(tmp_path, square_track):
    gt = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    results = evaluate_ytvis(gt, [prediction(1, square_track)])
    for name in ("AP", "AP50", "AP75", "APs", "AR1", "AR10", "AR100", "ARs100"):
        assert results[name] == pytest.approx(100.0), name
    for name in ("APm", "APl", "ARm100", "ARl100"):  # no medium or large tracks
        assert math.isnan(results[name]), name


def test_prediction_of_half_the_frames(tmp_path, square_track):
    """Present in frames 0-1 only: intersection 2 * 4, union 4 * 4, video IoU 0.5, a
    match at the IoU threshold 0.50 but none of 0.55-0.95."""
    half = square_track[:2] + [None, None]
    assert video_iou([half], [square_track]).tolist() == [[0.5]]
    results = evaluate_ytvis(write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)]), [prediction(1, half)])
    assert results["AP50"] == pytest.approx(100.0)
    assert results["AP75"] == pytest.approx(0.0)
    assert results["AP"] == pytest.approx(10.0)
    assert results["AR100"] == pytest.approx(10.0)


def test_video_iou_by_hand():
    """Frame 0: overlap 2 of 2x2 squares (union 6); frame 1: ground truth only (4);
    frame 2: prediction only (1); frame 3: neither (nothing). IoU = 2 / (6 + 4 + 1)."""
    gt = track([box_mask(10, 10, 0, 0, 2, 2), box_mask(10, 10, 5, 5, 2, 2), None, None])
    dt = track([box_mask(10, 10, 0, 1, 2, 2), None, box_mask(10, 10, 0, 0, 1, 1), None])
    assert video_iou([dt], [gt]).tolist() == [[2 / 11]]
    assert video_iou([dt, gt], [gt, dt]).tolist() == [[2 / 11, 1.0], [1.0, 2 / 11]]
    assert video_iou([[None] * 4], [gt]).tolist() == [[0.0]]
    assert video_iou([], [gt]).shape == (0, 1)


def test_video_iou_equals_dense_computation():
    rng = np.random.default_rng(0)
    shape, num_frames = (13, 17), 5

    def random_track():
        return [rng.random(shape) < 0.3 if rng.random() < 0.7 else None for _ in range(num_frames)]

    dts, gts = [random_track() for _ in range(4)], [random_track() for _ in range(3)]
    expected = np.zeros((4, 3))
    empty = np.zeros(shape, dtype=bool)
    for i, dt in enumerate(dts):
        for j, gt in enumerate(gts):
            frames = [(empty if d is None else d, empty if g is None else g) for d, g in zip(dt, gt)]
            expected[i, j] = sum((d & g).sum() for d, g in frames) / sum((d | g).sum() for d, g in frames)
    dt_rles, gt_rles = (
        [track([None if m is None else m.astype(np.uint8) for m in t]) for t in tracks] for tracks in (dts, gts)
    )
    assert np.allclose(video_iou(dt_rles, gt_rles), expected, rtol=0, atol=1e-15)


def test_ground_truth_absent_in_some_frames(tmp_path):
    """The ground truth is absent in frame 1, the prediction adds 2 pixels there; both are
    absent in frame 2. IoU = 8 / (8 + 2) = 0.8: a match up to the 0.80 threshold."""
    gt_track = track([box_mask(10, 10, 0, 0, 2, 2), None, None, box_mask(10, 10, 4, 4, 2, 2)])
    dt_track = gt_track[:1] + track([box_mask(10, 10, 0, 0, 1, 2), None]) + gt_track[3:]
    assert video_iou([dt_track], [gt_track]).tolist() == [[0.8]]
    results = evaluate_ytvis(write_gt(tmp_path, [(1, 10, 10, 4)], [(1, gt_track)]), [prediction(1, dt_track)])
    assert results["AP"] == pytest.approx(70.0)  # thresholds 0.50, 0.55, ..., 0.80 of 10


def test_area_range_is_the_mean_over_present_frames(tmp_path):
    """Track areas: 150^2 and absent -> 22500 (medium; small if absence counted as 0);
    300^2 and 10^2 -> 45050 (medium, though its first frame is large); 50^2 twice -> small.
    The small track has no prediction."""

    def square(side):
        return box_mask(320, 320, 0, 0, side, side)

    tracks = [track([square(150), None]), track([square(300), square(10)]), track([square(50), square(50)])]
    gt = write_gt(
        tmp_path,
        [(video_id, 320, 320, 2) for video_id in (1, 2, 3)],
        [(video_id, segmentations) for video_id, segmentations in zip((1, 2, 3), tracks)],
    )
    results = evaluate_ytvis(gt, [prediction(1, tracks[0]), prediction(2, tracks[1])])
    assert results["APm"] == pytest.approx(100.0)
    assert results["ARm100"] == pytest.approx(100.0)
    assert results["APs"] == pytest.approx(0.0)
    assert results["ARs100"] == pytest.approx(0.0)
    assert math.isnan(results["APl"]) and math.isnan(results["ARl100"])
    assert results["AR100"] == pytest.approx(100 * 2 / 3)


def test_ground_truth_area_range_from_its_areas_field(tmp_path, square_track):
    """As the official evaluator: the json's ``areas``, not the masks, place a ground-truth
    track in an area range."""
    path = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    gt = json.loads(path.read_text())
    gt["annotations"][0]["areas"] = [300.0**2] * 4
    path.write_text(json.dumps(gt))
    results = evaluate_ytvis(path, [])
    assert results["APl"] == 0.0
    assert math.isnan(results["APs"])


def test_empty_results(tmp_path, square_track):
    results = evaluate_ytvis(write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)]), [])
    assert set(results) == set(YTVIS_METRICS)
    for name in ("AP", "AP50", "AP75", "APs", "AR1", "AR10", "AR100", "ARs100"):
        assert results[name] == 0.0, name
    for name in ("APm", "APl", "ARm100", "ARl100"):
        assert math.isnan(results[name]), name


def test_video_without_predictions(tmp_path, square_track):
    """Recall 1/2 at precision 1: AP over the 101 recall thresholds is 51/101."""
    gt = write_gt(tmp_path, [(1, 10, 10, 4), (2, 10, 10, 4)], [(1, square_track), (2, square_track)])
    results = evaluate_ytvis(gt, [prediction(1, square_track)])
    assert results["AP"] == pytest.approx(100 * 51 / 101)
    assert results["AR100"] == pytest.approx(50.0)


def test_prediction_absent_in_every_frame(tmp_path, square_track):
    gt = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    results = evaluate_ytvis(gt, [prediction(1, [None] * 4, score=0.99), prediction(1, square_track, score=0.5)])
    assert results["AR100"] == pytest.approx(100.0)
    assert results["AR1"] == pytest.approx(0.0)  # the top prediction is the empty one
    assert results["AP"] == pytest.approx(100 * 0.5)  # precision 1/2 at every recall threshold


def test_crowd_ground_truth_is_ignored(tmp_path, square_track):
    """A crowd track missed is no miss; predictions of it (any number) are neither true nor
    false positives. Counted as a track, or dropped, it would halve AP."""
    crowd_track = track([box_mask(10, 10, 6, 6, 3, 3)] * 4)
    gt = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track), (1, crowd_track, 1)])
    found = prediction(1, square_track, score=0.5)
    assert evaluate_ytvis(gt, [found])["AP"] == pytest.approx(100.0)
    crowd_predictions = [prediction(1, crowd_track, score=0.9), prediction(1, crowd_track, score=0.8)]
    assert evaluate_ytvis(gt, crowd_predictions + [found])["AP"] == pytest.approx(100.0)


def test_polygon_and_uncompressed_rle_ground_truth(tmp_path):
    """Ground truth as polygons (frame 0) and an uncompressed RLE (frame 1)."""
    polygon = [[1.0, 1.0, 6.0, 1.0, 6.0, 5.0, 1.0, 5.0]]
    polygon_rle = mask_util.merge(mask_util.frPyObjects(polygon, 10, 12))
    polygon_rle["counts"] = polygon_rle["counts"].decode()
    mask = box_mask(10, 12, 2, 3, 4, 5)
    uncompressed = {"size": [10, 12], "counts": [32, 4, 6, 4, 6, 4, 6, 4, 6, 4, 44]}
    assert np.array_equal(mask_util.decode(mask_util.frPyObjects(uncompressed, 10, 12)), mask)
    gt = {
        "videos": [{"id": 7, "height": 10, "width": 12, "length": 2}],
        "categories": [{"id": 1, "name": "class1"}],
        "annotations": [{"video_id": 7, "category_id": 1, "iscrowd": 0, "segmentations": [polygon, uncompressed]}],
    }
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    results = evaluate_ytvis(path, [prediction(7, [polygon_rle, rle(mask)])])
    assert results["AP"] == pytest.approx(100.0)
    shifted = evaluate_ytvis(path, [prediction(7, [polygon_rle, rle(np.roll(mask, 1, axis=1))])])
    assert shifted["AP"] < 100.0


@pytest.mark.parametrize(
    "bad_result, message",
    [
        ({"category_id": 1, "score": 0.5, "segmentations": [None] * 4}, "results[1] is missing key 'video_id'"),
        ({"video_id": 1, "category_id": 1, "segmentations": [None] * 4}, "results[1] is missing key 'score'"),
        (prediction(5, [None] * 4), "results[1] refers to video_id 5"),
        (prediction(1, [None] * 4, category_id=3), "results[1] refers to category_id 3"),
        (prediction(1, [None] * 3), "results[1]: video 1 has 4 frames, but the track has 3"),
        (prediction(1, rle(box_mask(10, 10, 0, 0, 2, 2))), "results[1]: 'segmentations' must be a list"),
        (
            prediction(1, track([box_mask(8, 10, 0, 0, 2, 2), None, None, None])),
            "results[1]: segmentations[0] has size [8, 10] but video 1 is [10, 10] (height, width)",
        ),
        (prediction(1, [None] * 4, score=math.nan), "results[1] has score nan; a score must be a finite number"),
        (prediction(1, [None] * 4, score="0.9"), "results[1] has score '0.9'; a score must be a finite number"),
        (prediction(1, [None] * 4, score=None), "results[1] has score None"),
        (
            prediction(1, [None, [[1, 1, 4, 1, 4, 4]], None, None]),
            "results[1]: segmentations[1] is a list, not an RLE dict",
        ),
        (
            prediction(1, [None, {"size": [10, 10], "counts": "Hello world!"}, None, None]),
            "results[1]: segmentations[1]: 'counts' 'Hello world!' is not a compressed COCO RLE string",
        ),
        (
            prediction(1, [None, {"size": [10, 10], "counts": "0Z3"}, None, None]),
            "results[1]: segmentations[1]: 'counts' '0Z3' decodes to a mask outside the 10x10 frame",
        ),
        (
            prediction(1, [None, {"size": [10, 10], "counts": [50, 10, 30]}, None, None]),
            "results[1]: segmentations[1]: run lengths 'counts' must be non-negative ints adding up to 10 * 10",
        ),
    ],
)
def test_bad_results(tmp_path, square_track, bad_result, message):
    gt = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    with pytest.raises(ValueError) as error:
        evaluate_ytvis(gt, [prediction(1, square_track), bad_result])
    assert message in str(error.value)


def test_nan_scores_are_rejected_not_ranked_last(tmp_path, square_track):
    """A NaN score used to rank last and give AP 100 where a score of 1.0 gives 50."""
    gt = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    wrong = track([box_mask(10, 10, 6, 6, 2, 2)] * 4)
    assert evaluate_ytvis(gt, [prediction(1, square_track, score=0.5), prediction(1, wrong, score=1.0)])["AP"] < 100
    with pytest.raises(ValueError, match=r"results\[1\] has score nan"):
        evaluate_ytvis(gt, [prediction(1, square_track, score=0.5), prediction(1, wrong, score=math.nan)])


def test_truncated_json_names_the_file(tmp_path, square_track):
    gt = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    results = tmp_path / "results.json"
    results.write_text(json.dumps([prediction(1, square_track)])[:-5])
    with pytest.raises(ValueError, match=r"results json .*results.json is not valid json \(truncated"):
        evaluate_ytvis(gt, results)
    gt.write_text(gt.read_text()[:30])
    with pytest.raises(ValueError, match=r"ground-truth json .*gt.json is not valid json"):
        evaluate_ytvis(gt, [])


def test_results_not_a_list(tmp_path, square_track):
    gt = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    with pytest.raises(ValueError, match="results must be a list"):
        evaluate_ytvis(gt, {"video_id": 1})


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda gt: gt.pop("videos"), "has no top-level 'videos' list"),
        (lambda gt: gt["videos"][0].pop("height"), "videos[0] has no 'height'"),
        (lambda gt: gt["annotations"][0].pop("segmentations"), "annotations[0] has no 'segmentations'"),
        (
            lambda gt: gt["annotations"][0].update(video_id=9),
            "annotations[0] (id 1) has video_id 9, which is not in the videos",
        ),
        (
            lambda gt: gt["annotations"][0]["segmentations"].pop(),
            "annotations[0] (id 1): 'segmentations' has 3 entries but video 1 has 4 frames",
        ),
    ],
)
def test_bad_ground_truth(tmp_path, square_track, corrupt, message):
    path = write_gt(tmp_path, [(1, 10, 10, 4)], [(1, square_track)])
    gt = json.loads(path.read_text())
    corrupt(gt)
    path.write_text(json.dumps(gt))
    with pytest.raises(ValueError) as error:
        evaluate_ytvis(path, [])
    assert message in str(error.value)
    assert str(path) in str(error.value)

import contextlib
import copy
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from troi.evaluation.vid_evaluation import MOTION_SPEEDS, evaluate_vid, motion_ious, motion_speeds

CATEGORY_IDS = (1, 5, 9)  # not contiguous: the evaluator must map its classes to these


def make_vid_set(seed=0):
    """A COCO-VID ground truth (3 videos of 8-12 frames, 1-2 tracks each over part of the
    video, so some frames have no object; slow, medium and fast tracks) and detections:
    jittered boxes for most objects, false positives, some on frames without objects."""
    rng = np.random.default_rng(seed)
    images, annotations, detections = [], [], []
    for video_id, num_frames in enumerate((8, 12, 10), start=1):
        first_image = len(images) + 1
        images += [
            {
                "id": first_image + frame,
                "video_id": video_id,
                "frame_id": frame,
                "file_name": f"{video_id}/{frame}.JPEG",
                "width": 640,
                "height": 480,
                "degraded": bool(rng.random() < 0.4),
            }
            for frame in range(num_frames)
        ]
        for track in range(1 + video_id % 2):
            instance_id, category_id = 10 * video_id + track, int(rng.choice(CATEGORY_IDS))
            origin, size = rng.uniform(0, 300, size=2), rng.uniform(40, 150, size=2)
            velocity = rng.choice([-1, 1], size=2) * (0.2, 1.5, 12.0)[(video_id + track) % 3]  # px per frame
            for frame in range(int(rng.integers(0, 3)), num_frames - int(rng.integers(1, 3))):
                box = [*(origin + frame * velocity).round(1).tolist(), *size.round(1).tolist()]
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": first_image + frame,
                        "video_id": video_id,
                        "instance_id": instance_id,
                        "category_id": category_id,
                        "bbox": box,
                        "area": box[2] * box[3],
                        "iscrowd": 0,
                    }
                )
                if rng.random() < 0.8:
                    jittered = (np.array(box) + rng.normal(0, 6, size=4)).round(1).tolist()
                    detections.append(
                        {
                            "image_id": first_image + frame,
                            "category_id": category_id,
                            "bbox": jittered,
                            "score": round(float(rng.random()), 3),
                        }
                    )
    for image in images:
        for _ in range(int(rng.integers(0, 3))):
            box = [*rng.uniform(0, 400, size=2).round(1).tolist(), *rng.uniform(20, 120, size=2).round(1).tolist()]
            detections.append(
                {
                    "image_id": image["id"],
                    "category_id": int(rng.choice(CATEGORY_IDS)),
                    "bbox": box,
                    "score": round(float(rng.random()), 3),
                }
            )
    categories = [{"id": category_id, "name": f"class{category_id}"} for category_id in CATEGORY_IDS]
    videos = [{"id": video_id, "name": f"video{video_id}"} for video_id in (1, 2, 3)]
    gt = {"videos": videos, "images": images, "annotations": annotations, "categories": categories}
    return gt, detections


def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def pycocotools_stats(gt_path, detections, image_ids=None, category_ids=None):
    """``COCOeval.stats`` of plain pycocotools, with default parameters."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_path)
        evaluation = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(detections)), "bbox")
        if image_ids is not None:
            evaluation.params.imgIds = image_ids
        if category_ids is not None:
            evaluation.params.catIds = category_ids
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats


@pytest.fixture
def vid_set(tmp_path):
    gt, detections = make_vid_set()
    return write_json(tmp_path / "gt.json", gt), gt, detections


def test_matches_pycocotools_cocoeval_bit_for_bit(vid_set):
    gt_path, gt, detections = vid_set
    assert any(not any(a["image_id"] == image["id"] for a in gt["annotations"]) for image in gt["images"])
    metrics = evaluate_vid(gt_path, detections, backend="pycocotools")
    stats = pycocotools_stats(gt_path, detections)
    assert 0 < metrics["AP50"] < 100
    assert all(0 < metrics[f"AP50_{speed}"] < 100 for speed in MOTION_SPEEDS)  # the set has every speed
    assert metrics["AP"] == stats[0] * 100
    assert metrics["AP50"] == stats[1] * 100
    assert metrics["AP75"] == stats[2] * 100
    for category_id in CATEGORY_IDS:
        assert (
            metrics[f"AP50-class{category_id}"]
            == pycocotools_stats(gt_path, detections, category_ids=[category_id])[1] * 100
        )


def test_degraded_and_clean_frames_are_cocoeval_on_those_images(vid_set):
    gt_path, gt, detections = vid_set
    metrics = evaluate_vid(gt_path, detections, backend="pycocotools")
    for name, degraded in (("AP50_degraded", True), ("AP50_clean", False)):
        image_ids = [image["id"] for image in gt["images"] if image["degraded"] == degraded]
        assert metrics[name] == pycocotools_stats(gt_path, detections, image_ids=image_ids)[1] * 100
    assert metrics["AP50_degraded"] != metrics["AP50_clean"]


def test_no_degraded_flag_no_degraded_metrics(tmp_path):
    gt, detections = make_vid_set()
    for image in gt["images"]:
        del image["degraded"]
    metrics = evaluate_vid(write_json(tmp_path / "gt.json", gt), detections)
    assert "AP50_degraded" not in metrics and "AP50_clean" not in metrics
    assert all(f"AP50_{speed}" in metrics for speed in MOTION_SPEEDS)


def test_backends_give_the_same_numbers(vid_set):
    gt_path, _, detections = vid_set
    fast = evaluate_vid(gt_path, detections, backend="faster_coco_eval")
    reference = evaluate_vid(gt_path, detections, backend="pycocotools")
    assert fast.keys() == reference.keys()
    for name, value in reference.items():
        assert fast[name] == pytest.approx(value, abs=1e-10, nan_ok=True), name


def brute_force_motion_ious(video_ids, instance_ids, frame_ids, boxes, window=10):
    result = np.zeros(len(frame_ids))
    for i in range(len(frame_ids)):
        ious = []
        for j in range(len(frame_ids)):
            if (
                j != i
                and video_ids[j] == video_ids[i]
                and instance_ids[j] == instance_ids[i]
                and abs(frame_ids[j] - frame_ids[i]) <= window
            ):
                (x1, y1, w1, h1), (x2, y2, w2, h2) = boxes[i], boxes[j]
                overlap = max(0, min(x1 + w1, x2 + w2) - max(x1, x2)) * max(0, min(y1 + h1, y2 + h2) - max(y1, y2))
                ious.append(overlap / (w1 * h1 + w2 * h2 - overlap))
        result[i] = np.mean(ious) if ious else 0.0
    return result


def test_motion_iou_by_hand():
    # One track moving half its width per frame: IoU (w - d) / (w + d) = 1/3 at one frame,
    # 0 at two. A static track: 1. Frames 0 and 10 are neighbours, 0 and 21 are not.
    video_ids = np.array([1, 1, 1, 2, 2, 2, 2, 2])
    instance_ids = np.array([7, 7, 7, 7, 7, 7, 8, 8])
    frame_ids = np.array([2, 0, 1, 0, 10, 21, 5, 6])
    boxes = np.array(
        [[20, 0, 10, 10], [10, 0, 10, 10], [15, 0, 10, 10]] + [[0, 0, 50, 80]] * 3 + [[0, 0, 10, 10], [1, 0, 9, 10]],
        dtype=float,
    )
    expected = [1 / 6, 1 / 6, 1 / 3, 1.0, 1.0, 0.0, 0.9, 0.9]
    np.testing.assert_allclose(motion_ious(video_ids, instance_ids, frame_ids, boxes), expected, rtol=1e-12)
    assert [MOTION_SPEEDS[i] for i in motion_speeds(np.array(expected))] == [
        "fast",
        "fast",
        "fast",
        "slow",
        "slow",
        "fast",
        "medium",
        "medium",
    ]


def test_motion_iou_equals_brute_force_on_random_tracks():
    rng = np.random.default_rng(3)
    num_boxes = 300
    video_ids, instance_ids = rng.integers(0, 3, num_boxes), rng.integers(0, 4, num_boxes)
    frame_ids = rng.integers(0, 60, num_boxes)  # gaps of 0 to ~20 frames within a track
    keys = np.unique(np.stack([video_ids, instance_ids, frame_ids], axis=1), axis=0)  # one box per frame
    rng.shuffle(keys)
    boxes = np.concatenate([rng.uniform(0, 50, (len(keys), 2)), rng.uniform(20, 40, (len(keys), 2))], axis=1)
    expected = brute_force_motion_ious(*keys.T, boxes)
    np.testing.assert_allclose(motion_ious(*keys.T, boxes), expected, rtol=1e-12, atol=1e-15)


def test_motion_iou_rejects_two_boxes_of_one_instance_in_a_frame():
    with pytest.raises(ValueError, match="instance 4 of video 2 has two boxes in frame 3"):
        motion_ious(np.array([2, 2]), np.array([4, 4]), np.array([3, 3]), np.ones((2, 4)))


def motion_set():
    """A static object (slow) in video 1 and a fast one (a box width per frame) in video 2,
    both class 1, five frames each."""
    images, annotations = [], []
    for video_id, step in ((1, 0), (2, 60)):
        for frame in range(5):
            images.append({"id": len(images) + 1, "video_id": video_id, "frame_id": frame})
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": len(images),
                    "instance_id": video_id,
                    "category_id": 1,
                    "bbox": [10 + step * frame, 10, 50, 50],
                    "area": 2500,
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}]}


def test_motion_ap_by_hand_and_ignored_objects(tmp_path):
    gt = motion_set()
    gt_path = write_json(tmp_path / "gt.json", gt)
    static, moving = gt["annotations"][:5], gt["annotations"][5:]
    detections = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9} for a in static]
    # Found: the fast object in one frame, with the top-but-one score. Missed: a false positive.
    detections.append({"image_id": moving[2]["image_id"], "category_id": 1, "bbox": moving[2]["bbox"], "score": 0.95})
    detections.append({"image_id": 1, "category_id": 1, "bbox": [300, 300, 40, 40], "score": 0.99})
    coco_recall_points = np.linspace(0, 1, 101)
    for backend in ("pycocotools", "faster_coco_eval"):
        metrics = evaluate_vid(gt_path, detections, backend=backend)
        # Slow: FP, (ignored fast hit), 5 TPs of 5 -> the precision envelope is 5/6 at every recall.
        assert metrics["AP50_slow"] == pytest.approx(100 * 5 / 6, abs=1e-9)
        # Fast: FP, TP of 5, (ignored slow hits) -> precision 1/2 up to recall 1/5, then 0.
        expected_fast = 0.5 * np.count_nonzero(coco_recall_points <= 1 / 5) / 101
        assert metrics["AP50_fast"] == pytest.approx(100 * expected_fast, abs=1e-9)
        assert np.isnan(metrics["AP50_medium"])  # no medium object: COCO's -1
        # Over all objects: FP, TP, 5 TPs of 10 -> below both.
        assert metrics["AP50"] < metrics["AP50_slow"]


def test_empty_results_give_zero_not_a_crash(vid_set):
    gt_path, _, _ = vid_set
    for backend in ("pycocotools", "faster_coco_eval"):
        metrics = evaluate_vid(gt_path, [], backend=backend)
        assert metrics["AP"] == 0 and metrics["AP50"] == 0 and metrics["AP50_degraded"] == 0
        assert all(metrics[f"AP50-class{category_id}"] == 0 for category_id in CATEGORY_IDS)


def test_without_ground_truth_ap_is_nan_as_cocos_minus_one(tmp_path):
    gt, detections = make_vid_set()
    gt["annotations"] = []
    metrics = evaluate_vid(write_json(tmp_path / "gt.json", gt), detections)
    assert all(np.isnan(value) for value in metrics.values())


def test_results_from_a_file_and_left_untouched(vid_set, tmp_path):
    gt_path, _, detections = vid_set
    original = copy.deepcopy(detections)
    from_list = evaluate_vid(gt_path, detections)
    assert detections == original
    np.testing.assert_equal(evaluate_vid(gt_path, write_json(tmp_path / "results.json", detections)), from_list)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda det: det[2].pop("score"), r"results\[2\] has no key 'score'"),
        (lambda det: det[1].update(bbox=[1, 2, 3]), r"results\[1\] has bbox \[1, 2, 3\]"),
        (lambda det: det[5].update(bbox=[1, 2, None, 4]), r"results\[5\] has bbox \[1, 2, None, 4\]"),
        (lambda det: det[4].update(image_id=999), r"results\[4\] has image_id 999, which is not in the ground truth"),
        (lambda det: det[0].update(category_id=2), r"results\[0\] has category_id 2, which is not in the ground truth"),
        (lambda det: det.__setitem__(3, [1, 2]), r"results\[3\] is a list, not a detection dict"),
        (lambda det: det[6].update(score=float("nan")), r"results\[6\] has score nan; a score must be a finite number"),
        (lambda det: det[6].update(score=float("inf")), r"results\[6\] has score inf"),
        (lambda det: det[6].update(score="0.9"), r"results\[6\] has score '0.9'"),
        (lambda det: det[6].update(bbox=[1, float("nan"), 3, 4]), r"results\[6\] has bbox \[1, nan, 3, 4\]; expected"),
        (lambda det: det[6].update(bbox=[1, 2, 0, 4]), r"results\[6\] has bbox \[1, 2, 0, 4\].*positive width"),
        (lambda det: det[6].update(bbox=[1, 2, 3, -4]), r"results\[6\] has bbox \[1, 2, 3, -4\]"),
    ],
)
@pytest.mark.parametrize("backend", ["faster_coco_eval", "pycocotools"])
def test_malformed_results(vid_set, change, message, backend):
    gt_path, _, detections = vid_set
    change(detections)
    with pytest.raises(ValueError, match=message):
        evaluate_vid(gt_path, detections, backend=backend)


def test_truncated_json_names_the_file(vid_set, tmp_path):
    gt_path, _, detections = vid_set
    results = tmp_path / "results.json"
    results.write_text(json.dumps(detections)[:-7])
    with pytest.raises(ValueError, match=r"results json .*results.json is not valid json \(truncated"):
        evaluate_vid(gt_path, str(results))
    truncated_gt = tmp_path / "gt.json"
    truncated_gt.write_text(open(gt_path).read()[:50])
    with pytest.raises(ValueError, match=r"ground-truth json .*gt.json is not valid json"):
        evaluate_vid(str(truncated_gt), detections)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda gt: gt["annotations"][3].pop("instance_id"), r"annotations\[3\] has no 'instance_id'"),
        (lambda gt: gt["images"][5].pop("frame_id"), r"images\[5\] has no 'frame_id'"),
        (lambda gt: gt.pop("categories"), r"has no top-level 'categories' list"),
        (
            lambda gt: gt["annotations"][0].update(image_id=12345),
            r"annotations\[0\] \(id 1\) has image_id 12345, which is not in the images",
        ),
    ],
)
def test_malformed_ground_truth_names_the_key_and_the_file(tmp_path, change, message):
    gt, detections = make_vid_set()
    change(gt)
    gt_path = write_json(tmp_path / "broken_gt.json", gt)
    with pytest.raises(ValueError, match=message) as error:
        evaluate_vid(gt_path, detections)
    assert gt_path in str(error.value)


def test_unknown_backend(vid_set):
    with pytest.raises(ValueError, match="Unknown COCO evaluation backend 'cocoapi'"):
        evaluate_vid(vid_set[0], [], backend="cocoapi")

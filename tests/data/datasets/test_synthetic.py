import json
import os
from collections import defaultdict

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from pycocotools import mask as mask_util

from troi.data.datasets import (
    DEGRADATIONS,
    SYNTHETIC_CLASSES,
    ensure_synthetic_videos,
    generate_synthetic_videos,
    load_coco_vid_json,
    load_ytvis_json,
    register_synthetic_videos,
)

SMALL = {"num_frames": (6, 8), "image_size": (64, 80)}
BLURS = ("motion_blur", "defocus")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """24 videos of 10-14 frames at 128x160: every fairness statistic below reads them."""
    paths = generate_synthetic_videos(
        tmp_path_factory.mktemp("synthetic") / "train",
        seed=3,
        num_videos=24,
        num_frames=(10, 14),
        image_size=(128, 160),
    )
    with open(paths["coco_vid_json"]) as f:
        coco = json.load(f)
    images = {image["id"]: image for image in coco["images"]}
    frames = {
        image_id: cv2.imread(os.path.join(paths["image_root"], image["file_name"])).astype(np.float32)
        for image_id, image in images.items()
    }
    return paths, coco, images, frames


def _decode(rle):
    return mask_util.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)


def _inner_crop(frame, bbox):
    """The central half (in height and width) of a box: inside the object for every shape."""
    x, y, w, h = bbox
    return frame[y + h // 4 : y + h - h // 4, x + w // 4 : x + w - w // 4]


def _texture_features(crop):
    """Spectral energy of a crop at texture frequencies (0.11-0.4 cycles/px), split into
    (along x, along y, diagonal) fractions, and the total energy per pixel."""
    height, width = crop.shape[:2]
    window = np.outer(np.hanning(height), np.hanning(width))[..., None]
    power = (np.abs(np.fft.fft2((crop - crop.mean(axis=(0, 1))) * window, axes=(0, 1))) ** 2).sum(-1)
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    angle = np.degrees(np.arctan2(np.abs(fy), np.abs(fx)))
    band = (np.hypot(fy, fx) >= 0.11) & (np.hypot(fy, fx) <= 0.4)
    energy = np.array(
        [
            power[band & (angle < 22.5)].sum(),
            power[band & (angle > 67.5)].sum(),
            power[band & (angle >= 22.5) & (angle <= 67.5)].sum(),
        ]
    )
    return energy / energy.sum(), energy.sum() / (height * width)


def _nearest_mean_predictions(features, labels, train):
    """Nearest class mean classifier fitted on ``features[train]``."""
    means = np.stack([features[train & (labels == c)].mean(axis=0) for c in np.unique(labels[train])])
    classes = np.unique(labels[train])
    return classes[np.argmin(((features[:, None] - means[None]) ** 2).sum(-1), axis=1)]


def _unoccluded_objects(coco, images, frames):
    """Per annotation on a clean or blurred frame: category, degradation, texture features,
    colour Laplacian variance in the box."""
    rows = []
    for annotation in coco["annotations"]:
        image = images[annotation["image_id"]]
        if image["degradation"] == "occlusion":
            continue
        frame = frames[image["id"]]
        fractions, energy = _texture_features(_inner_crop(frame, annotation["bbox"]))
        x, y, w, h = annotation["bbox"]
        laplacian = cv2.Laplacian(frame[y : y + h, x : x + w], cv2.CV_32F).var(axis=(0, 1)).sum()
        rows.append((annotation["category_id"], str(image["degradation"]), fractions, energy, laplacian))
    categories, degradations, fractions, energies, laplacians = (np.array(column) for column in zip(*rows))
    return categories, degradations, fractions, energies, laplacians


def test_same_seed_same_bytes_other_seed_other_videos(tmp_path):
    first = generate_synthetic_videos(tmp_path / "a", seed=7, num_videos=2, **SMALL)
    again = generate_synthetic_videos(tmp_path / "b", seed=7, num_videos=2, **SMALL)
    other = generate_synthetic_videos(tmp_path / "c", seed=8, num_videos=2, **SMALL)
    frame = "video_00001/00000.jpg"

    def read(paths, key):
        with open(os.path.join(paths["image_root"], frame) if key == "frame" else paths[key], "rb") as f:
            return f.read()

    for key in ("coco_vid_json", "ytvis_json", "frame"):
        assert read(first, key) == read(again, key)
        assert read(first, key) != read(other, key)
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c"]  # no staging directory left behind


def test_existing_output_dir_is_refused_and_left_alone(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="out"):
        generate_synthetic_videos(tmp_path / "out", seed=0, num_videos=1, **SMALL)
    assert os.listdir(tmp_path / "out") == []
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": -1}, "seed"),
        ({"num_videos": 0}, "num_videos"),
        ({"num_frames": (4, 8)}, "num_frames"),
        ({"image_size": (32, 80)}, "image_size"),
    ],
)
def test_invalid_arguments(tmp_path, kwargs, message):
    arguments = {"seed": 0, "num_videos": 1, **SMALL, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_synthetic_videos(tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()


def test_ensure_generates_once_and_refuses_other_arguments(tmp_path):
    paths = ensure_synthetic_videos(tmp_path / "out", seed=1, num_videos=1, **SMALL)
    stamp = os.stat(paths["coco_vid_json"]).st_mtime_ns
    assert ensure_synthetic_videos(tmp_path / "out", seed=1, num_videos=1, **SMALL) == paths
    assert os.stat(paths["coco_vid_json"]).st_mtime_ns == stamp
    with pytest.raises(ValueError, match="delete it"):
        ensure_synthetic_videos(tmp_path / "out", seed=2, num_videos=1, **SMALL)


def test_degraded_runs_and_clean_frames(videos):
    _, coco, _, _ = videos
    frames_by_video = defaultdict(list)
    for image in coco["images"]:
        frames_by_video[image["video_id"]].append(image)
    assert len(frames_by_video) == 24
    for frames in frames_by_video.values():
        frames.sort(key=lambda image: image["frame_id"])
        assert [image["frame_id"] for image in frames] == list(range(len(frames)))
        flags = [image["degraded"] for image in frames]
        assert all(image["degraded"] == (image["degradation"] is not None) for image in frames)
        assert 0.2 <= np.mean(flags) <= 0.4
        runs, gaps, length = [], [], 1
        for previous, current in zip(frames, frames[1:] + [None]):
            if current is not None and current["degradation"] == previous["degradation"]:
                length += 1
                continue
            (runs if previous["degraded"] else gaps).append(length)
            length = 1
        assert all(2 <= run <= 5 for run in runs)
        inner_gaps = gaps[1:] if not flags[0] else gaps
        inner_gaps = inner_gaps[:-1] if not flags[-1] else inner_gaps
        assert all(gap >= 2 for gap in inner_gaps)
    kinds = {image["degradation"] for image in coco["images"]}
    assert kinds == {None, *DEGRADATIONS}


def test_annotations_are_consistent_tracks(videos):
    paths, coco, images, _ = videos
    assert [c["name"] for c in coco["categories"]] == list(SYNTHETIC_CLASSES)
    tracks = defaultdict(set)
    for annotation in coco["annotations"]:
        image = images[annotation["image_id"]]
        mask = _decode(annotation["segmentation"])
        x, y, w, h = annotation["bbox"]
        assert 0 <= x and 0 <= y and x + w <= image["width"] and y + h <= image["height"]
        assert mask.sum() == annotation["area"] > 0
        assert not mask[:y].any() and not mask[y + h :].any() and not mask[:, :x].any() and not mask[:, x + w :].any()
        if not annotation["occluded"]:
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            assert [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1] == annotation["bbox"]
        assert annotation["occluded"] == (image["degradation"] == "occlusion")
        tracks[annotation["instance_id"]].add((annotation["video_id"], annotation["category_id"]))
    assert all(len(track) == 1 for track in tracks.values())  # one video and one class per instance

    with open(paths["ytvis_json"]) as f:
        ytvis = json.load(f)
    assert len(ytvis["annotations"]) == len(tracks)
    assert sum(len(video["file_names"]) for video in ytvis["videos"]) == len(coco["images"])


def test_occluders_leave_30_to_60_percent_visible(videos):
    _, coco, images, _ = videos
    full_area = {}
    for annotation in coco["annotations"]:
        if not images[annotation["image_id"]]["degraded"]:
            full_area[annotation["instance_id"]] = annotation["area"]
    visible = [
        annotation["area"] / full_area[annotation["instance_id"]]
        for annotation in coco["annotations"]
        if annotation["occluded"]
    ]
    assert len(visible) > 10
    assert 0.3 <= min(visible) and max(visible) <= 0.6


def test_blur_wipes_out_the_texture_of_every_class(videos):
    _, coco, images, frames = videos
    categories, degradations, _, energies, laplacians = _unoccluded_objects(coco, images, frames)
    clean, blurred = degradations == "None", np.isin(degradations, BLURS)
    assert blurred.sum() > 30
    assert np.median(laplacians[blurred]) < 0.01 * np.median(laplacians[clean])
    assert np.percentile(laplacians[blurred], 95) < np.percentile(laplacians[clean], 5)
    for category in range(1, len(SYNTHETIC_CLASSES) + 1):
        of_class = categories == category
        assert np.median(energies[blurred & of_class]) < 0.01 * np.median(energies[clean & of_class])


def test_blurred_texture_is_at_noise_level(videos):
    """Texture-band energy inside blurred objects is no higher than in blurred background."""
    _, coco, images, frames = videos
    _, degradations, _, energies, _ = _unoccluded_objects(coco, images, frames)
    boxes = defaultdict(list)
    for annotation in coco["annotations"]:
        boxes[annotation["image_id"]].append(annotation["bbox"])
    background = []
    for image_id, image in images.items():
        if image["degradation"] not in BLURS:
            continue
        near_objects = np.zeros((image["height"], image["width"]), dtype=bool)
        for x, y, w, h in boxes[image_id]:
            near_objects[max(y - 12, 0) : y + h + 12, max(x - 12, 0) : x + w + 12] = True
        for y in range(0, image["height"] - 24, 12):
            for x in range(0, image["width"] - 24, 12):
                if not near_objects[y : y + 24, x : x + 24].any():
                    background.append(_texture_features(frames[image_id][y : y + 24, x : x + 24])[1])
    assert np.median(energies[np.isin(degradations, BLURS)]) < 1.5 * np.median(background)


def test_texture_identifies_the_class_on_clean_frames_only(videos):
    """A nearest-mean classifier on texture spectra, fitted on clean frames: near perfect on
    clean frames, near chance (1/4) on blurred ones."""
    _, coco, images, frames = videos
    categories, degradations, fractions, _, _ = _unoccluded_objects(coco, images, frames)
    clean = degradations == "None"
    predictions = _nearest_mean_predictions(fractions, categories, clean)
    assert (predictions[clean] == categories[clean]).mean() > 0.95
    blurred = np.isin(degradations, BLURS)
    assert (predictions[blurred] == categories[blurred]).mean() < 0.5


def test_blurred_objects_stay_visible_as_blobs_of_their_mean_colour(videos):
    _, coco, images, frames = videos
    mean_colour = {}
    for annotation in coco["annotations"]:
        image = images[annotation["image_id"]]
        if not image["degraded"] and annotation["instance_id"] not in mean_colour:
            mean_colour[annotation["instance_id"]] = frames[image["id"]][_decode(annotation["segmentation"])].mean(0)
    for annotation in coco["annotations"]:
        image = images[annotation["image_id"]]
        if image["degradation"] in BLURS:
            x, y, w, h = annotation["bbox"]
            centre = frames[image["id"]][y + h // 3 : y + h - h // 3, x + w // 3 : x + w - w // 3].mean(axis=(0, 1))
            assert np.linalg.norm(centre - mean_colour[annotation["instance_id"]]) < 35


def _chroma(pixels):
    """Median over pixels ``[..., 3]`` of max - min channel: 0 for grey."""
    return float(np.median(pixels.max(axis=-1) - pixels.min(axis=-1)))


def test_objects_are_saturated_on_near_grey_backgrounds_also_when_blurred(videos):
    """What tells objects apart from the background (and from each other) survives blur:
    their hue. Backgrounds and occluders are near grey."""
    _, coco, images, frames = videos
    objects, backgrounds = [], []
    boxes = defaultdict(list)
    for annotation in coco["annotations"]:
        boxes[annotation["image_id"]].append(annotation["bbox"])
        image = images[annotation["image_id"]]
        if image["degradation"] in BLURS:
            x, y, w, h = annotation["bbox"]
            objects.append(_chroma(frames[image["id"]][y + h // 3 : y + h - h // 3, x + w // 3 : x + w - w // 3]))
    for image_id, image in images.items():
        outside = np.ones((image["height"], image["width"]), dtype=bool)
        for x, y, w, h in boxes[image_id]:
            outside[max(y - 8, 0) : y + h + 8, max(x - 8, 0) : x + w + 8] = False
        backgrounds.append(_chroma(frames[image_id][outside]))
    assert len(objects) > 30
    assert np.percentile(objects, 5) > 2 * np.percentile(backgrounds, 95)


def test_colour_and_size_do_not_predict_the_class(videos):
    """Leave-one-out nearest class mean on (mean colour, box size) of every object: near chance."""
    _, coco, images, frames = videos
    objects = {}
    for annotation in coco["annotations"]:
        image = images[annotation["image_id"]]
        if not image["degraded"] and annotation["instance_id"] not in objects:
            colour = frames[image["id"]][_decode(annotation["segmentation"])].mean(0)
            objects[annotation["instance_id"]] = (annotation["category_id"], [*colour, *annotation["bbox"][2:]])
    labels = np.array([category for category, _ in objects.values()])
    features = np.array([feature for _, feature in objects.values()])
    features = (features - features.mean(0)) / features.std(0)
    correct = 0
    for index in range(len(labels)):
        train = np.arange(len(labels)) != index
        correct += _nearest_mean_predictions(features, labels, train)[index] == labels[index]
    assert len(labels) >= 30
    assert correct / len(labels) < 0.5


def test_loaders_read_the_generated_jsons(videos):
    paths, coco, _, _ = videos
    vid = load_coco_vid_json(paths["coco_vid_json"], paths["image_root"])
    ytvis = load_ytvis_json(paths["ytvis_json"], paths["image_root"])
    assert len(vid) == len(ytvis) == len(coco["images"])
    for vid_record, ytvis_record in zip(vid, ytvis):
        assert vid_record["file_name"] == ytvis_record["file_name"]
        assert os.path.isfile(vid_record["file_name"])
        assert vid_record["degraded"] == (vid_record["degradation"] is not None)
        for key in ("bbox", "segmentation", "instance_id", "category_id"):
            assert [obj[key] for obj in vid_record["annotations"]] == [obj[key] for obj in ytvis_record["annotations"]]


def test_registration_is_lazy_and_generates_on_first_use(tmp_path):
    names = register_synthetic_videos(
        tmp_path / "root", prefix="test_synthetic_lazy", seed=2, num_train_videos=2, num_val_videos=1, **SMALL
    )
    try:
        assert names == [
            "test_synthetic_lazy_vid_train",
            "test_synthetic_lazy_ytvis_train",
            "test_synthetic_lazy_vid_val",
            "test_synthetic_lazy_ytvis_val",
        ]
        assert not (tmp_path / "root").exists()
        metadata = MetadataCatalog.get("test_synthetic_lazy_ytvis_val")
        assert metadata.evaluator_type == "ytvis"
        assert metadata.thing_classes == list(SYNTHETIC_CLASSES)
        assert metadata.json_file == str(tmp_path / "root" / "val" / "ytvis.json")
        assert metadata.generator_args["seed"] == 5  # 2 * seed + 1
        assert len({record["video_id"] for record in DatasetCatalog.get("test_synthetic_lazy_vid_train")}) == 2
        assert sorted(os.listdir(tmp_path / "root")) == ["train"]
        val = DatasetCatalog.get("test_synthetic_lazy_ytvis_val")
        assert os.path.isfile(metadata.json_file) and len({record["video_id"] for record in val}) == 1
        assert MetadataCatalog.get("test_synthetic_lazy_vid_val").evaluator_type == "vid"
        with open(tmp_path / "root" / "train" / "coco_vid.json") as f:
            train_frame = json.load(f)["images"][0]["file_name"]
        with (
            open(tmp_path / "root" / "train" / "frames" / train_frame, "rb") as f,
            open(tmp_path / "root" / "val" / "frames" / train_frame, "rb") as g,
        ):
            assert f.read() != g.read()  # disjoint seeds
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)

import cv2
import numpy as np
import pytest

from detectron2.data import MetadataCatalog

from tests.modeling.backbone.test_tanet import recognition_cfg
from troi.data import ClipDatasetMapper
from troi.data.clip_mapper import dataset_flip_label_map
from troi.data.datasets.video_lists import rawframes_record, video_record


def write_frames(folder, num_frames, size=(72, 96), template="img_{:05d}.jpg"):
    """Lossless frames: frame i is one random image plus 10 i grey levels (blue fixed at 7)."""
    folder.mkdir(parents=True)
    base = np.random.default_rng(0).integers(0, 80, size=size + (3,)).astype(np.uint8)
    base[:, :, 0] = 7  # a fixed blue channel: tells the channel order
    for index in range(num_frames):
        frame = base + np.uint8(10 * index)
        frame[:, :, 0] = 7
        cv2.imwrite(str(folder / template.format(index + 1)), frame)
    return base


def mapper(is_train, *opts, dataset_names=()):
    cfg = recognition_cfg("synthetic/tanet_tiny.yaml", *opts)
    return ClipDatasetMapper(cfg, is_train=is_train, dataset_names=dataset_names)


def test_one_augmentation_for_all_frames_of_a_clip(tmp_path):
    write_frames(tmp_path / "clip", 16, template="{:05d}.png")
    record = rawframes_record("clip", str(tmp_path / "clip"), 16, 3, "{:05d}.png", 1)
    np.random.seed(0)
    for _ in range(5):
        mapped = mapper(True)(record)
        clip = mapped["clip"].numpy().astype(np.int64)  # (T, 3, H, W), RGB
        assert clip.shape == (8, 3, 64, 64) and mapped["clip"].dtype.__str__() == "torch.uint8"
        indices = np.array(mapped["frame_indices"])
        assert [i // 2 for i in indices] == list(range(8))  # one frame from each 2-frame segment
        for k in range(1, 8):  # the same crop, resize and flip: the difference is the added grey level
            difference = clip[k, :2] - clip[0, :2]
            assert np.abs(difference - 10 * (indices[k] - indices[0])).max() <= 1
        assert (clip[:, 2] == 7).all()  # blue is the last channel in RGB


def test_test_clips_are_centre_frames_and_centre_crops(tmp_path):
    base = write_frames(tmp_path / "clip", 16, template="{:05d}.png")
    record = rawframes_record("clip", str(tmp_path / "clip"), None, 2, "{:05d}.png", 1)  # frames counted
    mapped = mapper(False)(record)
    assert mapped["frame_indices"] == [1, 3, 5, 7, 9, 11, 13, 15] and mapped["label"] == 2
    expected = base[4:68, 16:80, ::-1].transpose(2, 0, 1)  # 72x96 is kept (short side 72), centre 64 crop
    assert np.array_equal(mapped["clip"][0].numpy(), expected + np.uint8(10) * np.array([1, 1, 0])[:, None, None])


def test_flips_map_the_label(tmp_path):
    write_frames(tmp_path / "clip", 8, template="{:05d}.png")
    record = rawframes_record("clip", str(tmp_path / "clip"), 8, 0, "{:05d}.png", 1)
    MetadataCatalog.get("flip_test").set(flip_label_map={0: 1, 1: 0})
    try:
        flipped = mapper(True, "INPUT.CLIP.FLIP_PROB", 1.0, dataset_names=["flip_test"])
        assert flipped(record)["label"] == 1
        assert flipped(dict(record, label=5))["label"] == 5  # not in the map
        assert mapper(True, "INPUT.CLIP.FLIP_PROB", 0.0, dataset_names=["flip_test"])(record)["label"] == 0
        MetadataCatalog.get("flip_test_other").set(flip_label_map={2: 3, 3: 2})
        with pytest.raises(ValueError, match="different flip_label_maps"):
            dataset_flip_label_map(["flip_test", "flip_test_other"])
    finally:
        MetadataCatalog.pop("flip_test", None)
        MetadataCatalog.pop("flip_test_other", None)


def test_video_files(tmp_path):
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (96, 72))
    for index in range(20):
        writer.write(np.full((72, 96, 3), 10 * index, dtype=np.uint8))
    writer.release()
    mapped = mapper(False)(video_record("clip", path, 4))
    assert mapped["frame_indices"] == [1, 3, 6, 8, 11, 13, 16, 18]
    means = mapped["clip"].float().mean(dim=(1, 2, 3)).numpy()
    assert np.abs(means - 10 * np.array(mapped["frame_indices"])).max() < 3  # JPEG-compressed frames


def test_errors_name_the_clip_and_file(tmp_path):
    write_frames(tmp_path / "clip", 4, template="{:05d}.png")
    record = rawframes_record("clip", str(tmp_path / "clip"), 8, 0, "{:05d}.png", 1)  # lists 8, has 4
    with pytest.raises(FileNotFoundError, match=r"clip clip: frame .*00005.png does not exist"):
        mapper(False)(record)
    with pytest.raises(FileNotFoundError, match="frame folder .*missing does not exist"):
        mapper(False)(rawframes_record("missing", str(tmp_path / "missing"), None, 0, "{:05d}.png", 1))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="clip empty: .*empty holds no frame 00001.png"):
        mapper(False)(rawframes_record("empty", str(tmp_path / "empty"), None, 0, "{:05d}.png", 1))
    with pytest.raises(FileNotFoundError, match="video input .*nothing.mp4 does not exist"):
        mapper(False)(video_record("nothing", str(tmp_path / "nothing.mp4"), 0))
    with pytest.raises(ValueError, match="INPUT.FORMAT 'L'"):
        mapper(False, "INPUT.FORMAT", "L")

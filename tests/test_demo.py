"""demo/demo.py end to end on tiny frames with randomly initialised models."""

import importlib.util
import json
import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from troi.engine import VideoFrames, video_writer

ROOT = Path(__file__).parents[1]
SMALL = [
    "INPUT.MIN_SIZE_TEST",
    "64",
    "INPUT.MAX_SIZE_TEST",
    "96",
    "INPUT.SUPPORT_FRAMES.TEST.NUM",
    "3",
    "MODEL.RPN.POST_NMS_TOPK_TEST",
    "20",
]


def load_demo():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "demo" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_frames(folder, num_frames, sizes=None):
    folder.mkdir()
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (64, 96, 3))
    for index in range(num_frames):
        frame = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
        if sizes and index in sizes:
            frame = cv2.resize(frame, sizes[index])
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame)
    return folder


def run_demo(tmp_path, input_folder, config="troi_tiny_dc5.yaml", *extra):
    return load_demo().main(
        [
            "--config-file",
            str(ROOT / "configs" / "synthetic" / config),
            "--input",
            str(input_folder),
            "--output",
            str(tmp_path / "out" / "video.mp4"),
            "--stats",
            str(tmp_path / "out" / "stats.json"),
            "--confidence-threshold",
            "0.0",
            *extra,
            "--opts",
            *SMALL,
        ]
    )


@pytest.mark.parametrize("mode", ["offline", "streaming"])
def test_annotated_video_stats_and_similar_points(tmp_path, mode):
    frames = write_frames(tmp_path / "frames", 8)
    run_demo(
        tmp_path,
        frames,
        "troi_tiny_dc5.yaml",
        "--mode",
        mode,
        "--similar-points",
        str(tmp_path / "points"),
        "--similar-points-frames",
        "3",
        "6",
        "--similar-points-boxes",
        "2",
        "--similar-points-height",
        "128",
    )
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["frames"] == stats["backbone_calls"] == 8 and stats["mode"] == mode
    assert stats["seconds"] > 0 and stats["fps"] == pytest.approx(8 / stats["seconds"])
    video = list(VideoFrames(str(tmp_path / "out" / "video.mp4")))
    assert len(video) == 8 and video[0].shape == (64, 96, 3)
    with av.open(str(tmp_path / "out" / "video.mp4")) as container:  # H.264, which browsers play
        assert stats["video_codec"] == container.streams.video[0].codec_context.name == "h264"
    points = sorted(os.listdir(tmp_path / "points"))
    assert points == ["frame00003_box0.png", "frame00003_box1.png", "frame00006_box0.png", "frame00006_box1.png"]
    figure = cv2.imread(str(tmp_path / "points" / points[0]))
    assert figure.shape[1] == 4 * 192 + 3 * 4  # target + 3 support frames, each 192x128
    assert sorted(os.listdir(tmp_path / "out")) == ["stats.json", "video.mp4"]


def test_video_instance_segmentation_model(tmp_path):
    frames = write_frames(tmp_path / "frames", 5)
    stats = run_demo(tmp_path, frames, "masktrack_troi_tiny_fpn.yaml", "--similar-points", str(tmp_path / "points"))
    assert stats["frames"] == stats["backbone_calls"] == 5
    assert len(os.listdir(tmp_path / "points")) == 3


@pytest.mark.parametrize("bad_output", ["stats", "video"])
def test_output_paths_are_checked_before_inference(tmp_path, bad_output):
    frames = write_frames(tmp_path / "frames", 4)
    (tmp_path / "out" / f"{bad_output}.{'json' if bad_output == 'stats' else 'mp4'}").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=f"is a folder; the output must be a file path: .*{bad_output}"):
        run_demo(tmp_path, frames, "troi_tiny_dc5.yaml", "--similar-points", str(tmp_path / "points"))
    assert os.listdir(tmp_path / "out") == [f"{bad_output}.{'json' if bad_output == 'stats' else 'mp4'}"]
    assert sorted(os.listdir(tmp_path)) == ["frames", "out"]


def test_similar_point_frames_outside_the_video(tmp_path):
    frames = write_frames(tmp_path / "frames", 4)
    with pytest.raises(ValueError, match=r"--similar-points-frames 99 -1: .*frames has 4 frames, at positions 0-3"):
        run_demo(
            tmp_path,
            frames,
            "troi_tiny_dc5.yaml",
            "--similar-points",
            str(tmp_path / "points"),
            "--similar-points-frames",
            "2",
            "99",
            "-1",
        )
    assert not os.path.exists(tmp_path / "out")


class _WriterThatLosesFrames:
    """OpenCV's writer on a full disk: it reports nothing, but only the first frames reach the file."""

    opencv_writer = cv2.VideoWriter

    def __init__(self, *args):
        self._writer, self._written = self.opencv_writer(*args), 0

    def isOpened(self):
        return self._writer.isOpened()

    def write(self, frame):
        self._written += 1
        if self._written <= 2:
            self._writer.write(frame)

    def release(self):
        self._writer.release()


def test_a_video_that_does_not_decode_is_an_error_and_no_output(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(video_writer, "h264_encoder", lambda: None)  # the mp4v fallback
    monkeypatch.setattr(video_writer.cv2, "VideoWriter", _WriterThatLosesFrames)
    frames = write_frames(tmp_path / "frames", 4)
    with pytest.raises(OSError, match=r"out/video.mp4: 4 frames were written but 2 decode from the file"):
        run_demo(tmp_path, frames, "troi_tiny_dc5.yaml", "--similar-points", str(tmp_path / "points"))
    assert "no H.264 encoder" in caplog.text
    assert os.listdir(tmp_path / "out") == [] and sorted(os.listdir(tmp_path)) == ["frames", "out"]


def test_bad_input_leaves_no_output(tmp_path):
    frames = write_frames(tmp_path / "frames", 6, sizes={4: (80, 64)})
    with pytest.raises(ValueError, match="frame size changes within .*: .*004.png is 80x64 but .*000.png is 96x64"):
        run_demo(
            tmp_path,
            frames,
            "troi_tiny_dc5.yaml",
            "--mode",
            "streaming",
            "--similar-points",
            str(tmp_path / "points"),
            "--similar-points-frames",
            "2",
        )
    assert os.listdir(tmp_path / "out") == [] and sorted(os.listdir(tmp_path)) == ["frames", "out"]
    (frames / "notes.txt").write_text("")
    with pytest.raises(ValueError, match="notes.txt is not an image file"):
        run_demo(tmp_path, frames)
    with pytest.raises(FileNotFoundError, match="missing.mp4 does not exist"):
        run_demo(tmp_path, tmp_path / "missing.mp4")
    assert os.listdir(tmp_path / "out") == []

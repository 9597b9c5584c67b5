import logging

import cv2
import numpy as np
import pytest

from troi.engine import VideoFrames, VideoWriter


def frame(value, size=(16, 24)):
    return np.full((*size, 3), value, dtype=np.uint8)


def write_video(path, frames, fps=5.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for image in frames:
        writer.write(image)
    writer.release()


def test_folder_frames_in_natural_order(tmp_path):
    for index in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{index}.png"), frame(index))
    (tmp_path / ".DS_Store").write_bytes(b"")  # hidden files are ignored
    frames = VideoFrames(tmp_path)
    assert len(frames) == frames.known_length == 3 and frames.fps is None
    assert [int(image[0, 0, 0]) for image in frames] == [1, 2, 10]
    assert {position: int(image[0, 0, 0]) for position, image in frames.read([2, 0]).items()} == {0: 1, 2: 10}


def test_video_file(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, [frame(40 * index) for index in range(6)])
    frames = VideoFrames(str(path))
    assert frames.known_length is None and len(frames) == 6 and frames.fps == pytest.approx(5.0)
    decoded = list(frames)
    assert len(decoded) == 6 and decoded[0].shape == (16, 24, 3)
    read = frames.read([4, 1])
    assert sorted(read) == [1, 4]
    assert np.abs(read[4].astype(int) - decoded[4].astype(int)).max() == 0
    with pytest.raises(IndexError, match="outside .*clip.mp4's 6 frames"):
        frames.read([9])
    with pytest.raises(IndexError, match="ends before frame 9"):
        VideoFrames(str(path)).read([9])  # not counted yet


def test_arrays():
    frames = VideoFrames([frame(1), frame(2)])
    assert len(frames) == 2 and [int(image[0, 0, 0]) for image in frames] == [1, 2]
    with pytest.raises(ValueError, match=r"array 1 must be a \[H, W, 3\] uint8 BGR image"):
        list(VideoFrames([frame(1), frame(2)[:, :, 0]]))


def test_stream_of_arrays():
    frames = VideoFrames(frame(value) for value in range(3))
    assert frames.known_length is None and [int(image[0, 0, 0]) for image in frames] == [0, 1, 2]
    with pytest.raises(TypeError, match="length of <stream> is unknown: offline inference needs"):
        len(frames)
    with pytest.raises(ValueError, match="<stream> has no frames"):
        list(frames)  # read once


def test_missing_unreadable_and_empty_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.mp4 does not exist"):
        VideoFrames(tmp_path / "nowhere.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="OpenCV cannot open video .*notes.mp4"):
        VideoFrames(tmp_path / "notes.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty has no frames"):
        VideoFrames(tmp_path / "empty")
    with pytest.raises(ValueError, match="has no frames"):
        VideoFrames([])


def test_folder_with_non_images(tmp_path):
    cv2.imwrite(str(tmp_path / "0.png"), frame(0))
    (tmp_path / "labels.txt").write_text("cat")
    with pytest.raises(ValueError, match="labels.txt is not an image file"):
        VideoFrames(tmp_path)
    (tmp_path / "labels.txt").unlink()
    (tmp_path / "1.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="could not decode frame .*1.jpg"):
        list(VideoFrames(tmp_path))


def test_frame_size_change_mid_video(tmp_path):
    for index in range(3):
        cv2.imwrite(str(tmp_path / f"{index}.png"), frame(index, size=(16, 24) if index < 2 else (16, 20)))
    frames = iter(VideoFrames(tmp_path))
    next(frames), next(frames)  # the first frames pass
    with pytest.raises(ValueError, match=r"frame size changes within .*: .*2.png is 20x16 but .*0.png is 24x16"):
        next(frames)


@pytest.mark.parametrize("count_first", [True, False], ids=["len", "iter"])
def test_truncated_video_gives_a_warning(tmp_path, caplog, count_first):
    """The header says 10 frames but the file ends after the first few (moov first: H.264 MP4)."""
    whole = tmp_path / "whole.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(str(whole), fps=10) as writer:
        for _ in range(10):
            writer.write(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    frames = VideoFrames(str(truncated))
    with caplog.at_level(logging.WARNING, logger="troi"):
        decoded = len(frames) if count_first else len(list(frames))
        list(frames)  # warned once only
    assert 0 < decoded < 10
    assert caplog.text.count(f"truncated.mp4: its header says 10 frames but only the first {decoded} decode") == 1

import errno
import multiprocessing
import os
import resource
import signal

import av
import numpy as np
import pytest

from troi.engine import VideoFrames, VideoWriter, video_writer
from troi.utils import atomic_outputs


def frames(count, height=64, width=96):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def test_h264_that_browsers_play_and_every_frame_decodes(tmp_path):
    path = str(tmp_path / "video.mp4")
    with VideoWriter(path, fps=12.5) as writer:
        for frame in frames(5, height=63, width=95):  # odd sizes get one more row and column
            writer.write(frame)
    assert (writer.codec, writer.frames) == ("h264", 5)
    with av.open(path) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.format.name, stream.frames) == ("h264", "yuv420p", 5)
        assert float(stream.average_rate) == 12.5
    decoded = list(VideoFrames(path))
    assert len(decoded) == 5 and decoded[0].shape == (64, 96, 3)


def test_fallback_to_mp4v_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(video_writer, "h264_encoder", lambda: None)
    with VideoWriter(str(tmp_path / "video.mp4"), fps=10, name="out/video.mp4") as writer:
        for frame in frames(3):
            writer.write(frame)
    assert writer.codec == "mp4v" and len(list(VideoFrames(str(tmp_path / "video.mp4")))) == 3
    assert "no H.264 encoder (PyAV with libx264) is available: out/video.mp4 is written as mp4v" in caplog.text


def test_frames_of_another_size(tmp_path):
    with pytest.raises(ValueError, match="frame 1 of out.mp4 is 48x32, the earlier ones 96x64"):
        with VideoWriter(str(tmp_path / "video.mp4"), fps=10, name="out.mp4") as writer:
            writer.write(frames(1)[0])
            writer.write(frames(1, 32, 48)[0])


def _write_on_a_full_disk(path, fallback, report):
    """In a child process whose files may not grow past 20 kB (as on a full disk)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG) instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
    if fallback:
        video_writer.h264_encoder = lambda: None
    try:
        with atomic_outputs() as outputs:
            with VideoWriter(outputs.file(path), fps=10, name=path) as writer:
                for frame in frames(30, 192, 256):
                    writer.write(frame)
        report.put("no error")
    except OSError as error:
        report.put(str(error))


@pytest.mark.parametrize("fallback", [False, True], ids=["h264", "mp4v"])
def test_a_full_disk_is_an_error_naming_the_output_and_leaves_no_file(tmp_path, fallback):
    context = multiprocessing.get_context("fork")
    report = context.Queue()
    path = str(tmp_path / "video.mp4")
    child = context.Process(target=_write_on_a_full_disk, args=(path, fallback, report))
    child.start()
    message = report.get(timeout=60)
    child.join(timeout=60)
    if fallback:  # OpenCV's writer reports nothing: the check of the finished file does
        assert message.startswith(f"{path}: 30 frames were written but 0 decode from the file")
    else:  # PyAV reports the failed write, about the temporary file: the output is named instead
        assert message == f"[Errno {errno.EFBIG}] File too large: '{path}'"
    assert os.listdir(tmp_path) == []

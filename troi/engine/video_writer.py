"""Videos that browsers and phones play (H.264 MP4), checked to decode before they count."""

import contextlib
import logging
from fractions import Fraction
from typing import Optional

import cv2
import numpy as np

try:  # PyAV (requirements.txt) ships FFmpeg with libx264
    import av
except ImportError:  # then the fallback below
    av = None

__all__ = ["VideoWriter", "count_decodable_frames", "h264_encoder"]

logger = logging.getLogger(__name__)

H264_ENCODER = "libx264"
FALLBACK_FOURCC = "mp4v"  # MPEG-4 part 2: OpenCV writes it everywhere, but few browsers play it


def h264_encoder() -> Optional[str]:
    """The H.264 encoder PyAV has (``"libx264"``), None where PyAV or the encoder is missing."""
    if av is None:
        return None
    try:
        av.codec.Codec(H264_ENCODER, "w")
    except av.codec.codec.UnknownCodecError:
        return None
    return H264_ENCODER


def count_decodable_frames(path: str) -> int:
    """How many frames OpenCV decodes from the video ``path`` (0 if it cannot open it)."""
    capture = cv2.VideoCapture(path)
    count = 0
    while capture.isOpened() and capture.grab():
        count += 1
    capture.release()
    return count


def _even_sized(frame: np.ndarray) -> np.ndarray:
    """``frame`` with one more column and/or row (copies of the last) where its width or
    height is odd: the encoders' yuv420p stores colour per 2x2 pixels."""
    height, width = frame.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return frame
    return cv2.copyMakeBorder(frame, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)


class VideoWriter:
    """Writes BGR ``[H, W, 3]`` uint8 frames, all of one size, to a video file.

    The video is H.264 (PyAV's libx264, yuv420p, index at the front for progressive
    playback), which browsers and phones play. Where PyAV or its H.264 encoder is missing
    it is OpenCV's MPEG-4 part 2 (``mp4v``), with a warning. An odd width or height gets
    one more column or row.

    :meth:`close` finishes the file, then re-opens it and counts the frames that decode:
    fewer than were written (a full disk, which OpenCV's writer does not report) is an
    OSError naming the file. As a context manager it closes (and checks) the file when
    the block ends without error, and only releases it after an error.

    Args:
        path: the file to write (e.g. a temporary path of :class:`troi.utils.AtomicOutputs`);
            its extension picks the container.
        fps: frames per second.
        name: the file as errors name it (default: ``path``).

    Attributes:
        codec: ``"h264"`` or ``"mp4v"``.
        frames: frames written so far.
    """

    def __init__(self, path: str, fps: float, name: Optional[str] = None):
        self.path, self.fps, self.name = path, fps, name or path
        self._encoder = h264_encoder()
        self.codec = "h264" if self._encoder else FALLBACK_FOURCC
        if self._encoder is None:
            logger.warning(
                f"no H.264 encoder (PyAV with libx264) is available: {self.name} is written as "
                f"{FALLBACK_FOURCC}, which most browsers and phones do not play"
            )
        self.frames = 0
        self._size = None  # (height, width) once the first frame is written
        self._container = self._stream = self._opencv = None

    def write(self, frame: np.ndarray) -> None:
        frame = _even_sized(frame)
        if self._size is None:
            self._open(*frame.shape[:2])
        elif frame.shape[:2] != self._size:
            raise ValueError(
                f"frame {self.frames} of {self.name} is {frame.shape[1]}x{frame.shape[0]}, the earlier "
                f"ones {self._size[1]}x{self._size[0]} (width x height)"
            )
        if self._container is not None:
            for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                self._container.mux(packet)
        else:
            self._opencv.write(frame)
        self.frames += 1

    def close(self) -> None:
        """Finish the file and check that all its frames decode (OSError otherwise)."""
        self._finish(flush=True)
        decoded = count_decodable_frames(self.path)
        if decoded < self.frames:
            raise OSError(
                f"{self.name}: {self.frames} frames were written but {decoded} decode from the file (is the disk full?)"
            )

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # the error that ended the block is the one to report
            self._finish(flush=False)

    def _open(self, height: int, width: int) -> None:
        self._size = (height, width)
        if self._encoder is not None:
            self._container = av.open(self.path, "w", options={"movflags": "+faststart"})
            self._stream = self._container.add_stream(self._encoder, rate=Fraction(self.fps).limit_denominator(1001))
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        else:
            self._opencv = cv2.VideoWriter(
                self.path, cv2.VideoWriter_fourcc(*FALLBACK_FOURCC), self.fps, (width, height)
            )
            if not self._opencv.isOpened():
                raise OSError(f"OpenCV cannot write an {FALLBACK_FOURCC} video to {self.name}")

    def _finish(self, flush: bool) -> None:
        if self._container is not None:
            container, self._container = self._container, None
            try:
                if flush:
                    for packet in self._stream.encode():
                        container.mux(packet)
            finally:
                container.close()
        if self._opencv is not None:
            self._opencv.release()
            self._opencv = None

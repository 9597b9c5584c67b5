"""The frames of one video, from a video file, a folder of images, a list of arrays or a
stream of arrays."""

import logging
import os
import re
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

import cv2
import numpy as np

from detectron2.data.detection_utils import read_image

__all__ = ["IMAGE_EXTENSIONS", "VideoFrames"]

logger = logging.getLogger(__name__)

# Files a folder of frames may hold (hidden files, e.g. .DS_Store, are ignored).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _natural_key(name: str) -> List[Union[int, str]]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _image_files(folder: str) -> List[str]:
    """The image files of ``folder`` in natural order; ValueError on anything else."""
    names = sorted((name for name in os.listdir(folder) if not name.startswith(".")), key=_natural_key)
    for name in names:
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or not name.lower().endswith(IMAGE_EXTENSIONS):
            raise ValueError(
                f"{path} is not an image file ({', '.join(IMAGE_EXTENSIONS)}): a folder of frames must hold only images"
            )
    return [os.path.join(folder, name) for name in names]


def _decoded(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """The frames OpenCV decodes from ``capture``, until it decodes none."""
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


class VideoFrames:
    """The frames of one video as BGR ``[H, W, 3]`` uint8 arrays, all of one size.

    Args:
        source: a video file (any format OpenCV decodes), a folder of images (frames in
            natural name order), a sequence of BGR arrays, or any other iterable of them
            (a live stream: read once, in order, length unknown).

    Errors name the file (and frame): FileNotFoundError for a missing path, ValueError
    for a video OpenCV cannot open, a video or folder without frames, a non-image in a
    folder, an undecodable image, or a frame whose size differs from the others'. Frames
    are checked as they are read, so a size change shows when that frame is reached. A
    video file that decodes fewer frames than its header says (truncated or damaged) gives
    a warning, once, and the frames that decode.
    """

    def __init__(self, source: Union[str, os.PathLike, Iterable[np.ndarray]]):
        self._files: Optional[List[str]] = None
        self._video: Optional[str] = None
        self._arrays = None  # a sequence of arrays
        self._stream: Optional[Iterator[np.ndarray]] = None
        self._num_frames: Optional[int] = None
        self._first: Optional[Tuple[str, Tuple[int, int]]] = None  # (frame description, (h, w))
        self._checked_length = False  # a video file's decoded frames compared with its header
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            if not os.path.exists(path):
                raise FileNotFoundError(f"video input {path} does not exist")
            self.name = path
            if os.path.isdir(path):
                self._files = _image_files(path)
                self._num_frames = len(self._files)
            else:
                self._video = path
                self._capture().release()
        elif hasattr(source, "__len__") and hasattr(source, "__getitem__"):
            self.name = f"<{len(source)} arrays>"
            self._arrays = source
            self._num_frames = len(source)
        else:
            self.name = "<stream>"
            self._stream = iter(source)
        if self._num_frames == 0:
            raise ValueError(f"{self.name} has no frames")

    @property
    def known_length(self) -> Optional[int]:
        """The number of frames if known without reading the video (None for a video file
        not counted yet)."""
        return self._num_frames

    @property
    def fps(self) -> Optional[float]:
        """Frame rate of a video file (if it says), else None."""
        if self._video is None:
            return None
        capture = self._capture()
        fps = capture.get(cv2.CAP_PROP_FPS)
        capture.release()
        return fps if fps > 0 else None

    def __len__(self) -> int:
        if self._stream is not None:
            raise TypeError(
                f"the length of {self.name} is unknown: offline inference needs a video file, a "
                f"folder or a list of frames (streaming takes a stream)"
            )
        if self._num_frames is None:  # a video file: count its frames (decoding, not converting)
            capture = self._capture()
            count = 0
            while capture.grab():
                count += 1
            capture.release()
            if count == 0:
                raise ValueError(f"video {self.name} has no frames OpenCV can decode")
            self._check_length(count)
            self._num_frames = count
        return self._num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order, checked."""
        if self._video is not None:
            capture = self._capture()
            try:
                count = yield from self._sequential(_decoded(capture), "frame {} of " + self.name)
            finally:
                capture.release()
            self._check_length(count)
        elif self._stream is not None:
            yield from self._sequential(self._stream, "frame {} of " + self.name)
        else:
            for position in range(self._num_frames):
                yield self._load(position)

    def _sequential(self, frames: Iterator[np.ndarray], description: str) -> Iterator[np.ndarray]:
        """Check the frames of a video file or stream; ValueError when there are none.
        Returns how many there were."""
        count = 0
        for count, frame in enumerate(frames, start=1):
            yield self._checked(frame, description.format(count - 1))
        if count == 0:
            raise ValueError(f"{self.name} has no frames (OpenCV decodes none; a stream can be read once)")
        return count

    def _check_length(self, decoded: int) -> None:
        """Warn (once) when the video file decodes fewer frames than its header says."""
        if self._checked_length:
            return
        self._checked_length = True
        capture = self._capture()
        header = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        if decoded < header:
            logger.warning(
                f"video {self.name}: its header says {header} frames but only the first {decoded} "
                f"decode (a truncated or damaged file?); using those {decoded}"
            )

    def read(self, positions: Iterable[int]) -> Dict[int, np.ndarray]:
        """The frames at ``positions`` (one pass over a video file), checked."""
        wanted = sorted(set(positions))
        if not wanted:
            return {}
        if wanted[0] < 0 or (self._num_frames is not None and wanted[-1] >= self._num_frames):
            raise IndexError(f"frame positions {wanted} outside {self.name}'s {self._num_frames} frames")
        if self._video is None:
            return {position: self._load(position) for position in wanted}
        frames = {}
        capture = self._capture()
        try:
            for position in range(wanted[-1] + 1):
                if not capture.grab():
                    raise IndexError(f"video {self.name} ends before frame {wanted[-1]} (at {position} frames)")
                if position in wanted:
                    ok, frame = capture.retrieve()
                    if not ok:
                        raise ValueError(f"could not decode frame {position} of video {self.name}")
                    frames[position] = self._checked(frame, f"frame {position} of {self.name}")
        finally:
            capture.release()
        return frames

    def _capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self._video)
        if not capture.isOpened():
            capture.release()
            raise ValueError(f"OpenCV cannot open video {self._video}: not a video, or an unsupported format")
        return capture

    def _load(self, position: int) -> np.ndarray:
        """Frame ``position`` of a folder or array list."""
        if self._arrays is not None:
            return self._checked(self._arrays[position], f"array {position}")
        file_name = self._files[position]
        try:
            image = read_image(file_name, format="BGR")
        except (OSError, ValueError, SyntaxError) as error:
            raise ValueError(f"could not decode frame {file_name}: {error}") from error
        return self._checked(np.ascontiguousarray(image), file_name)

    def _checked(self, frame: np.ndarray, description: str) -> np.ndarray:
        """``frame`` if it is a ``[H, W, 3]`` uint8 image of the video's size."""
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            shape = getattr(frame, "shape", None)
            raise ValueError(
                f"{description} must be a [H, W, 3] uint8 BGR image, got {type(frame).__name__} of shape {shape}"
            )
        size = frame.shape[:2]
        if self._first is None:
            self._first = (description, size)
        elif size != self._first[1]:
            first, (height, width) = self._first
            raise ValueError(
                f"the frame size changes within {self.name}: {description} is {size[1]}x{size[0]} "
                f"but {first} is {width}x{height} (width x height)"
            )
        return frame

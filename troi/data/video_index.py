"""Every frame of every video, in order, so a target frame can find its support frames."""

from typing import Dict, Hashable, List, Sequence

__all__ = ["VideoIndex", "video_key"]

# What the index keeps of a frame's dataset dict; annotations only when asked.
FRAME_FIELDS = ("file_name", "frame_id", "height", "width", "image_id")


def video_key(dataset_dict: dict) -> Hashable:
    """The video a dataset dict belongs to: its ``video_id``, or, for a still image (no
    ``video_id``), a one-frame video of its own."""
    if "video_id" in dataset_dict:
        return dataset_dict["video_id"]
    return ("image", dataset_dict.get("image_id", dataset_dict["file_name"]))


class VideoIndex:
    """Frames of each video sorted by ``frame_id``, as light records (:data:`FRAME_FIELDS`).

    Args:
        dataset_dicts: detectron2 dataset dicts of all frames (support frames may be
            frames that are never targets, e.g. unannotated ones).
        keep_annotations: also keep each frame's ``annotations`` (support GT for VIS).
    """

    def __init__(self, dataset_dicts: Sequence[dict], keep_annotations: bool = False):
        self._videos: Dict[Hashable, List[dict]] = {}
        for record in dataset_dicts:
            frame = {field: record[field] for field in FRAME_FIELDS if field in record}
            frame.setdefault("frame_id", 0)
            if keep_annotations:
                frame["annotations"] = record.get("annotations", [])
            self._videos.setdefault(video_key(record), []).append(frame)
        self._positions: Dict[Hashable, Dict[int, int]] = {}
        for key, frames in self._videos.items():
            frames.sort(key=lambda frame: frame["frame_id"])
            positions = {frame["frame_id"]: index for index, frame in enumerate(frames)}
            if len(positions) != len(frames):
                raise ValueError(f"video {key!r} has duplicate frame_id values")
            self._positions[key] = positions

    def __len__(self) -> int:
        return len(self._videos)

    def frames(self, dataset_dict: dict) -> List[dict]:
        """All frames of the video of ``dataset_dict``, in order."""
        key = video_key(dataset_dict)
        if key not in self._videos:
            raise KeyError(f"video {key!r} of {dataset_dict.get('file_name')} is not in the video index")
        return self._videos[key]

    def frame(self, dataset_dict: dict, frame_id: int) -> dict:
        """The record of frame ``frame_id`` of ``dataset_dict``'s video."""
        return self.frames(dataset_dict)[self._position_of(dataset_dict, frame_id)]

    def position(self, dataset_dict: dict) -> int:
        """Position of ``dataset_dict``'s frame in its video."""
        return self._position_of(dataset_dict, dataset_dict.get("frame_id", 0))

    def _position_of(self, dataset_dict: dict, frame_id: int) -> int:
        positions = self._positions[video_key(dataset_dict)]
        if frame_id not in positions:
            raise KeyError(f"frame {frame_id} of video {video_key(dataset_dict)!r} is not in the video index")
        return positions[frame_id]

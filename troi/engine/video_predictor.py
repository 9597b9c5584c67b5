"""detectron2's DefaultPredictor for videos: frames in, per-frame Instances out."""

import itertools
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm import tqdm

from detectron2.engine import DefaultPredictor
from detectron2.structures import Instances

from ..data.support_frame_positions import past_support_frames, sample_support_frames
from ..data.transforms import build_resize
from ..modeling.video_inference_cache import INFERENCE_CACHE_KEY, VideoInferenceCache
from .similar_points import ProposalSimilarPoints, similar_points
from ..data.video_frames import VideoFrames

__all__ = ["MODES", "FramePrediction", "VideoPredictor", "VideoStats"]

# "offline": uniform supports over the whole video; "streaming": a ring buffer of past frames.
MODES = ("offline", "streaming")

# A video file or folder of frames, BGR arrays (a list; any iterable for streaming), or VideoFrames.
VideoInput = Union[str, os.PathLike, Iterable[np.ndarray], VideoFrames]


class FramePrediction(NamedTuple):
    """One frame's predictions.

    Attributes:
        index: position of the frame in the video.
        image: the frame, BGR ``[H, W, 3]``.
        instances: its predictions in the frame's resolution, on the CPU.
        inputs: the model input (the frame group) it was predicted from.
    """

    index: int
    image: np.ndarray
    instances: Instances
    inputs: dict


@dataclass
class VideoStats:
    """Counters of the latest video a :class:`VideoPredictor` ran on.

    Attributes:
        frames: frames predicted so far.
        backbone_calls: frame images the backbone ran on (== frames when each frame's
            backbone runs once).
        seconds: time spent reading and predicting them (not in the caller's loop body).
    """

    frames: int = 0
    backbone_calls: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "fps": self.fps}


class VideoPredictor(DefaultPredictor):
    """Runs a ``VideoRCNN`` (or subclass: the input format of ``FrameGroupDatasetMapper``)
    over a whole video, each frame's backbone once.

    Unlike :class:`DefaultPredictor`, which predicts one image, ``predictor(video, mode)``
    takes a whole video and yields a :class:`FramePrediction` per frame, in order. The
    frames are transformed as :class:`DefaultPredictor` does (BGR in, ``cfg.INPUT.FORMAT``,
    the test-time ResizeShortestEdge), and each target frame goes to the model with its
    support frames and their ids, so the model's inference cache serves every frame that
    it has seen (a support of an earlier target, or an earlier target itself) without
    the backbone, and keeps what depends on the support frames alone (their proposals
    and SELSA references, Temporal RoI Align's normalised maps and projections).

    Modes, with ``T = cfg.INPUT.SUPPORT_FRAMES.TEST.NUM``:

    * ``"offline"``: ``T`` supports uniformly over the whole video (the paper's test
      setting), the same for every frame. They are read first, then each frame once (a
      video file is decoded to count its frames, to read the supports, then frame by
      frame); the model holds the ``T`` supports' features and the current frame's.
    * ``"streaming"``: the ``T`` latest frames on the grid of every
      ``cfg.INPUT.SUPPORT_FRAMES.TEST.STRIDE``-th frame (:func:`past_support_frames`),
      in a ring buffer; each frame's backbone runs when it arrives, and it later serves
      as a support. Needs no video length: the frames may come from a live source.

    With ``cfg.INPUT.SUPPORT_FRAMES.TEST.INCLUDE_TARGET`` the current frame is also its own
    last support frame, in either mode (computed once all the same). Frames are resized as
    ``cfg.INPUT.RESIZE_BACKEND`` says.

    Either way memory is bounded whatever the video's length: each video gets a
    :class:`VideoInferenceCache` (:attr:`inference_cache`, passed to the model with every
    frame group) of ``T + 1`` frames, the supports and the current frame, least recently
    used out, which is all either mode needs.
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        self.aug = build_resize(cfg, is_train=False)
        support = cfg.INPUT.SUPPORT_FRAMES.TEST
        self.num_support_frames = support.NUM
        self.include_target = support.INCLUDE_TARGET
        self.stride = support.STRIDE
        self.inference_cache = VideoInferenceCache(max_frames=self.num_support_frames + 1)
        self.stats = VideoStats()
        self._video_ids = itertools.count()
        self.model.backbone.register_forward_hook(self._count_backbone_images)

    def __call__(self, video: VideoInput, mode: str = "offline", progress: bool = True) -> Iterator[FramePrediction]:
        """Predict every frame of ``video`` (:data:`VideoInput`) in ``mode`` (:data:`MODES`);
        ``progress`` shows a bar with frames/s. :attr:`stats` counts this video's frames,
        backbone images and time."""
        frames = video if isinstance(video, VideoFrames) else VideoFrames(video)
        groups = self.frame_groups(frames, mode)
        self.stats = VideoStats()
        self.inference_cache.reset()  # nothing of earlier videos
        total = len(frames) if mode == "offline" else frames.known_length
        try:
            with torch.no_grad(), tqdm(total=total, unit="frame", desc=frames.name, disable=not progress) as bar:
                started = time.perf_counter()
                for index, image, inputs in groups:
                    instances = self.model([inputs])[0]["instances"].to("cpu")
                    self.stats.frames += 1
                    self.stats.seconds += time.perf_counter() - started
                    bar.update()
                    yield FramePrediction(index, image, instances, inputs)
                    started = time.perf_counter()
        finally:
            self.inference_cache.reset()  # frees the video's cached features

    def frame_groups(self, video: VideoInput, mode: str = "offline") -> Iterator[Tuple[int, np.ndarray, dict]]:
        """``(index, BGR frame, model input)`` of every frame of ``video`` in ``mode``, the
        input holding the frame, its support frames and their ids (a new ``video_id``
        per call)."""
        if mode not in MODES:
            raise ValueError(f"unknown video inference mode {mode!r}; choose one of {MODES}")
        frames = video if isinstance(video, VideoFrames) else VideoFrames(video)
        video_id = ("video_predictor", next(self._video_ids))
        if mode == "offline":
            return self._offline_groups(frames, video_id)
        return self._streaming_groups(frames, video_id)

    def similar_points(
        self,
        prediction: FramePrediction,
        boxes: Optional[torch.Tensor] = None,
        num_boxes: int = 3,
        cells: Optional[Sequence[Tuple[int, int]]] = None,
        points_per_cell: int = 1,
    ) -> List[ProposalSimilarPoints]:
        """The most similar points and frame weights Temporal RoI Align finds for target-frame
        boxes of ``prediction`` (see :func:`similar_points`), in the model's input coordinates.

        Args:
            boxes: ``[P, 4]`` XYXY boxes in the frame's coordinates, treated as proposals;
                default: the ``num_boxes`` top-scoring detections.
            cells, points_per_cell: as :func:`similar_points`.
        """
        if boxes is None:
            boxes = prediction.instances.pred_boxes.tensor[:num_boxes]
        height, width = prediction.image.shape[:2]
        input_height, input_width = prediction.inputs["image"].shape[1:]
        scale = torch.tensor([input_width / width, input_height / height] * 2)
        return similar_points(
            self.model,
            prediction.inputs,
            torch.as_tensor(boxes, dtype=torch.float32) * scale,
            cells=cells,
            points_per_cell=points_per_cell,
        )

    def _offline_groups(self, frames: VideoFrames, video_id):
        positions = sample_support_frames("uniform", 0, len(frames), self.num_support_frames)
        supports = {position: self._transform(image) for position, image in frames.read(positions).items()}
        for index, image in enumerate(frames):
            tensor = supports[index] if index in supports else self._transform(image)
            yield (
                index,
                image,
                self._inputs(video_id, index, image, tensor, positions, [supports[position] for position in positions]),
            )

    def _streaming_groups(self, frames: VideoFrames, video_id):
        memory: "OrderedDict[int, torch.Tensor]" = OrderedDict()  # the latest grid frames, oldest first
        for index, image in enumerate(frames):
            tensor = self._transform(image)
            positions = past_support_frames(index, self.num_support_frames, self.stride)
            support_images = [tensor if position == index else memory[position] for position in positions]
            yield index, image, self._inputs(video_id, index, image, tensor, positions, support_images)
            if index % self.stride == 0 and self.num_support_frames:
                memory[index] = tensor
                if len(memory) > self.num_support_frames:
                    memory.popitem(last=False)

    def _inputs(
        self,
        video_id,
        index: int,
        image: np.ndarray,
        tensor: torch.Tensor,
        support_ids: List[int],
        support_images: List[torch.Tensor],
    ) -> dict:
        """The model input of frame ``index`` (``tensor``), with the target itself appended
        to its supports when :attr:`include_target`."""
        height, width = image.shape[:2]
        if self.include_target:
            support_ids, support_images = list(support_ids) + [index], list(support_images) + [tensor]
        return {
            "image": tensor,
            "height": height,
            "width": width,
            "video_id": video_id,
            "frame_id": index,
            "support_images": support_images,
            "support_frame_ids": list(support_ids),
            INFERENCE_CACHE_KEY: self.inference_cache,
        }

    def _transform(self, image: np.ndarray) -> torch.Tensor:
        """BGR ``[H, W, 3]`` frame -> ``[3, h, w]`` uint8 model input (as DefaultPredictor)."""
        if self.input_format == "RGB":
            image = image[:, :, ::-1]
        image = self.aug.get_transform(image).apply_image(image)
        return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))

    def _count_backbone_images(self, module, inputs, output):
        self.stats.backbone_calls += inputs[0].shape[0]

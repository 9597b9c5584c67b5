"""GeneralizedRCNN on frame groups: a target frame and its support frames."""

import contextlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Hashable, List, Optional, Tuple

import torch

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import ImageList, Instances
from detectron2.utils.events import get_event_storage

from ..backbone.frozen_stats_bn import freeze_bn_stats
from ..poolers import check_troi_branches
from ..roi_heads.temporal_roi_heads import TemporalROIHeads
from ..support_frames import SupportFrames, crop_to_image, pad_and_stack
from ..video_inference_cache import INFERENCE_CACHE_KEY, VideoInferenceCache

__all__ = ["VideoRCNN"]


@contextlib.contextmanager
def _inference_mode(module: torch.nn.Module):
    """Run ``module`` with its test-time behaviour (e.g. the RPN's test top-k), no grad."""
    was_training = module.training
    module.train(False)
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


def padded_size(image_size: Tuple[int, int], size_divisibility: int) -> Tuple[int, int]:
    """``(h, w)`` of an image padded alone to ``size_divisibility`` (as ImageList pads)."""
    if size_divisibility <= 1:
        return tuple(image_size)
    return tuple(math.ceil(side / size_divisibility) * size_divisibility for side in image_size)


@dataclass
class _Frame:
    """One frame's backbone features, the same whichever batch computed them.

    Attributes:
        features: ``{level: [C, h, w]}`` over the frame's own padded size (as a one-image
            batch gives them): what the frame contributes as a target frame.
        support_features: the same cropped to the image: what target frames see of it.
        image_size: ``(h, w)`` of its input image.
        proposals: its RPN proposals (SELSA references), once computed.
        encodings: what the ROI heads derive from it alone (``SupportFrames.encodings``:
            Temporal RoI Align encodings, SELSA references).
    """

    features: Dict[str, torch.Tensor]
    support_features: Dict[str, torch.Tensor]
    image_size: Tuple[int, int]
    proposals: Optional[Instances] = None
    encodings: dict = field(default_factory=dict)


@META_ARCH_REGISTRY.register()
class VideoRCNN(GeneralizedRCNN):
    """Faster/Mask R-CNN whose RoI features draw on other frames of the video.

    Each input dict is one target frame (see ``FrameGroupDatasetMapper``):

    * ``"image"``: ``[3, H, W]`` target frame; ``"instances"``: its GT (training);
    * ``"support_images"``: list of ``[3, H, W]`` support frames, transformed like the
      target (may be empty);
    * ``"video_id"``, ``"frame_id"``, ``"support_frame_ids"`` (optional): identify the
      target and support frames, so that identical frames are computed once;
    * ``"inference_cache"`` (optional, inference): a :class:`VideoInferenceCache` shared by
      the inputs of a video, in which frames computed once serve later target frames: a
      frame that is a support of many targets, or both a target and a support, runs
      through the backbone once while it stays in the cache. The model itself keeps
      nothing between calls.

    The frames of the whole batch not cached yet go through the backbone in one pass;
    the RPN proposes boxes on the target frames (and, for SELSA, on the support frames
    with its test-time settings); the ROI heads (:class:`TemporalROIHeads`) see the
    support frames' features and proposals. Cached frames also keep what the Temporal RoI
    Align operators and SELSA derive from them alone.
    """

    required_roi_heads = TemporalROIHeads  # subclasses name their own
    # Whether training inputs carry a reference frame with its GT: the train loader reads it
    # to pick its mapper (VISFrameGroupDatasetMapper), so one key, the meta-architecture, decides.
    trains_on_reference_frames = False

    @configurable
    def __init__(self, *, support_proposals: int, **kwargs):
        super().__init__(**kwargs)
        required = self.required_roi_heads
        if not isinstance(self.roi_heads, required):
            raise ValueError(
                f"{type(self).__name__} needs MODEL.ROI_HEADS.NAME = '{required.__name__}' "
                f"(or a subclass), got {type(self.roi_heads).__name__}"
            )
        self.support_proposals = support_proposals

    @classmethod
    def from_config(cls, cfg):
        check_troi_branches(cfg)
        ret = super().from_config(cfg)
        if cfg.MODEL.BACKBONE.FREEZE_BN_STATS:
            ret["backbone"] = freeze_bn_stats(ret["backbone"])
        ret["support_proposals"] = cfg.MODEL.SELSA.SUPPORT_PROPOSALS
        return ret

    def forward(self, batched_inputs: List[dict]):
        """Training losses; in eval mode, :meth:`inference`."""
        if not self.training:
            return self.inference(batched_inputs)
        images, features, support = self.frame_group_features(batched_inputs)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        extra = self.roi_heads_training_inputs(batched_inputs, images, features, support)
        _, detector_losses = self.roi_heads(images, features, proposals, gt_instances, support=support, **extra)
        if self.vis_period > 0 and get_event_storage().iter % self.vis_period == 0:
            self.visualize_training(batched_inputs, proposals)
        return {**detector_losses, **proposal_losses}

    def roi_heads_training_inputs(
        self, batched_inputs: List[dict], images: ImageList, features: Dict[str, torch.Tensor], support: SupportFrames
    ) -> dict:
        """Keyword arguments the ROI heads take in training besides the support frames
        (none here; subclasses add theirs, e.g. MaskTrack R-CNN's reference frames)."""
        return {}

    def inference(
        self,
        batched_inputs: List[dict],
        detected_instances: Optional[List[Instances]] = None,
        do_postprocess: bool = True,
    ):
        """As :meth:`GeneralizedRCNN.inference`, on frame groups (given detections, too, get
        their masks from the support frames)."""
        assert not self.training
        images, features, support = self.frame_group_features(batched_inputs)
        if detected_instances is None:
            proposals, _ = self.proposal_generator(images, features, None)
            results, _ = self.roi_heads(images, features, proposals, None, support=support)
        else:
            detected = [x.to(self.device) for x in detected_instances]
            results = self.roi_heads.forward_with_given_boxes(features, detected, support=support)
        if do_postprocess:
            return GeneralizedRCNN._postprocess(results, batched_inputs, images.image_sizes)
        return results

    def frame_group_features(self, batched_inputs: List[dict]):
        """Backbone features of the target frames and their :class:`SupportFrames`.

        Returns:
            the target frames' ImageList, their ``{level: [B, C, H, W]}`` features (each
            frame's own, zero-padded to the largest of the batch), and the support frames
            (with proposals when the ROI heads use them).
        """
        cache = self._inference_cache(batched_inputs)
        target_keys = [self._frame_key(x, x.get("frame_id"), x["image"]) for x in batched_inputs]
        support_keys = [self._support_keys(x) for x in batched_inputs]
        target_images = self._preprocess([x["image"] for x in batched_inputs])
        frames = self._frames(batched_inputs, target_keys, support_keys, target_images, cache)
        target_features = {
            name: pad_and_stack([frames[key].features[name] for key in target_keys])
            for name in self.backbone.output_shape()
        }
        return target_images, target_features, self._support_frames(support_keys, frames, cache)

    def _inference_cache(self, batched_inputs: List[dict]) -> Optional[VideoInferenceCache]:
        """The :class:`VideoInferenceCache` the inputs carry (one for all, or none); never
        used in training, where weights change between calls."""
        caches = {id(x.get(INFERENCE_CACHE_KEY)): x.get(INFERENCE_CACHE_KEY) for x in batched_inputs}
        if len(caches) > 1:
            raise ValueError("the inputs of one batch must share one 'inference_cache' (or carry none)")
        cache = next(iter(caches.values()), None)
        return None if self.training else cache

    def _frames(
        self, batched_inputs, target_keys, support_keys, target_images, cache: Optional[VideoInferenceCache]
    ) -> Dict[Hashable, _Frame]:
        """Every frame of the batch by key: those in ``cache``, the others computed in one
        backbone pass; with a cache, all of them are then its most recently used."""
        cached = cache.frames if cache is not None else {}
        pending = OrderedDict()  # key -> normalized [3, h, w] image of frames not computed yet
        for key, (height, width), image in zip(target_keys, target_images.image_sizes, target_images.tensor):
            if key not in cached and key not in pending:
                pending[key] = image[:, :height, :width]
        for x, frame_keys in zip(batched_inputs, support_keys):
            for key, image in zip(frame_keys, x.get("support_images", [])):
                if key not in cached and key not in pending:
                    pending[key] = self._normalize(image)
        keys = list(OrderedDict.fromkeys(target_keys + [key for frame_keys in support_keys for key in frame_keys]))
        frames = {key: cached.get(key) for key in keys if key in cached}
        frames.update(self._compute_frames(pending))
        if cache is not None:
            for key in keys:
                if key[0] != "anonymous":
                    cache.frames[key] = frames[key]
        return frames

    def _compute_frames(self, pending: "OrderedDict[Hashable, torch.Tensor]") -> Dict[Hashable, _Frame]:
        """:class:`_Frame` of each normalized ``[3, h, w]`` image of ``pending``: in training in
        one backbone pass; at inference one image at a time, so that the backbone's
        temporaries are one image's (a batch of 15 frames at 600x800 would hold GBs) and
        each frame's features have their own storage, freed when the cache drops the frame."""
        items = list(pending.items())
        batches = [items] if self.training and items else [[item] for item in items]
        frames = {}
        for batch in batches:
            frames.update(self._backbone_frames(OrderedDict(batch)))
        return frames

    def _backbone_frames(self, pending: "OrderedDict[Hashable, torch.Tensor]") -> Dict[Hashable, _Frame]:
        """:class:`_Frame` of each image of ``pending``, in one backbone pass."""
        divisibility = self.backbone.size_divisibility
        images = ImageList.from_tensors(list(pending.values()), divisibility)
        features = self.backbone(images.tensor)
        strides = {name: shape.stride for name, shape in self.backbone.output_shape().items()}
        frames = {}
        for index, (key, image_size) in enumerate(zip(pending, images.image_sizes)):
            own = crop_to_image(
                {name: level[index] for name, level in features.items()}, strides, padded_size(image_size, divisibility)
            )
            frames[key] = _Frame(own, crop_to_image(own, strides, image_size), image_size)
        return frames

    def _support_frames(
        self, keys, frames: Dict[Hashable, _Frame], cache: Optional[VideoInferenceCache]
    ) -> SupportFrames:
        """Assemble the :class:`SupportFrames` of support ``keys`` (per target frame)."""
        if self.roi_heads.uses_support_proposals:
            unique = {key: frames[key] for frame_keys in keys for key in frame_keys}
            self._add_proposals([frame for frame in unique.values() if frame.proposals is None])
        ordered = [frames[key] for frame_keys in keys for key in frame_keys]
        return SupportFrames(
            features=[frame.support_features for frame in ordered],
            counts=[len(frame_keys) for frame_keys in keys],
            image_sizes=[frame.image_size for frame in ordered],
            proposals=[frame.proposals for frame in ordered] if self.roi_heads.uses_support_proposals else None,
            target_keys=None if cache is None else [tuple(frame_keys) for frame_keys in keys],
            encodings=None if self.training else [frame.encodings for frame in ordered],
            references=None if cache is None else cache.references,
        )

    def _add_proposals(self, frames: List[_Frame]):
        """Give ``frames`` the RPN's top ``support_proposals`` proposals, with its test-time
        settings (also in training, as the reference), one RPN call per image size."""
        by_size = OrderedDict()
        for frame in frames:
            by_size.setdefault(frame.image_size, []).append(frame)
        with _inference_mode(self.proposal_generator):
            for size, group in by_size.items():
                features = {
                    name: torch.stack([frame.support_features[name] for frame in group])
                    for name in group[0].support_features
                }
                # The RPN reads only the ImageList's image_sizes.
                sized = ImageList(torch.empty(0, device=self.device), [size] * len(group))
                proposals, _ = self.proposal_generator(sized, features, None)
                for frame, frame_proposals in zip(group, proposals):
                    frame.proposals = frame_proposals[: self.support_proposals]

    def _support_keys(self, x: dict) -> List[Hashable]:
        """Keys of one input's support frames (see :meth:`_frame_key`)."""
        supports = x.get("support_images", [])
        frame_ids = x.get("support_frame_ids")
        if frame_ids is None:
            return [self._frame_key(x, None, image) for image in supports]
        if len(frame_ids) != len(supports):
            raise ValueError(f"{len(frame_ids)} support_frame_ids for {len(supports)} support_images")
        return [self._frame_key(x, frame_id, image) for frame_id, image in zip(frame_ids, supports)]

    def _frame_key(self, x: dict, frame_id: Optional[Hashable], image: torch.Tensor) -> Hashable:
        """Cache key of a frame (target or support) of input ``x``.

        Frames are known to be identical when they have the same frame id in the same
        video: within one input (one transform), and at inference (deterministic test
        transforms) across inputs and calls too. A frame without ids is its own key, never
        cached.
        """
        if frame_id is None or "video_id" not in x:
            return ("anonymous", id(image))
        scope = ("video", x["video_id"]) if not self.training else ("input", id(x))
        return (scope, frame_id, tuple(image.shape))

    def _normalize(self, image: torch.Tensor) -> torch.Tensor:
        """``[3, H, W]`` input image -> normalized on the model's device."""
        return (image.to(self.device) - self.pixel_mean) / self.pixel_std

    def _preprocess(self, images: List[torch.Tensor]) -> ImageList:
        """Normalize, pad and batch images (as :meth:`GeneralizedRCNN.preprocess_image`)."""
        return ImageList.from_tensors([self._normalize(image) for image in images], self.backbone.size_divisibility)

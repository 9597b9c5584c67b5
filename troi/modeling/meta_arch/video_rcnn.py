"""GeneralizedRCNN on frame groups: a target frame and its support frames."""
import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional, Tuple

import torch

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import ImageList, Instances
from detectron2.utils.events import get_event_storage

from ..roi_heads.temporal_roi_heads import TemporalROIHeads
from ..support_frames import SupportFrames, crop_to_image

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


@dataclass
class _SupportFrame:
    """One support frame's cropped features, input image size and (SELSA) proposals."""

    features: Dict[str, torch.Tensor]
    image_size: Tuple[int, int]
    proposals: Optional[Instances] = None


@META_ARCH_REGISTRY.register()
class VideoRCNN(GeneralizedRCNN):
    """Faster/Mask R-CNN whose RoI features draw on other frames of the video.

    Each input dict is one target frame (see ``FrameGroupDatasetMapper``):

    * ``"image"``: ``[3, H, W]`` target frame; ``"instances"``: its GT (training);
    * ``"support_images"``: list of ``[3, H, W]`` support frames, transformed like the
      target (may be empty);
    * ``"video_id"``, ``"support_frame_ids"`` (optional): identify the support frames, so
      that identical frames are computed once and, at inference, reused across target
      frames (the cache holds ``support_cache_size`` frames, least recently used out).

    The target and support frames of the whole batch go through the backbone in one
    pass; the RPN proposes boxes on the target frames (and, for SELSA, on the support
    frames with its test-time settings); the ROI heads (:class:`TemporalROIHeads`) see
    the support frames' features and proposals.
    """

    @configurable
    def __init__(self, *, support_cache_size: int, support_proposals: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(self.roi_heads, TemporalROIHeads):
            raise ValueError(f"VideoRCNN needs MODEL.ROI_HEADS.NAME = 'TemporalROIHeads' (or a subclass), "
                             f"got {type(self.roi_heads).__name__}")
        self.support_cache_size = support_cache_size
        self.support_proposals = support_proposals
        self._support_cache: "OrderedDict[Hashable, _SupportFrame]" = OrderedDict()

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        ret["support_cache_size"] = 2 * cfg.INPUT.SUPPORT_FRAMES.TEST.NUM + 2
        ret["support_proposals"] = cfg.MODEL.SELSA.SUPPORT_PROPOSALS
        return ret

    def train(self, mode: bool = True):
        """Switching modes (e.g. an evaluation starting) drops the inference caches."""
        self._support_cache.clear()
        return super().train(mode)

    def forward(self, batched_inputs: List[dict]):
        """Training losses; in eval mode, :meth:`inference`."""
        if not self.training:
            return self.inference(batched_inputs)
        images, features, support = self.frame_group_features(batched_inputs)
        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        _, detector_losses = self.roi_heads(images, features, proposals, gt_instances, support=support)
        if self.vis_period > 0 and get_event_storage().iter % self.vis_period == 0:
            self.visualize_training(batched_inputs, proposals)
        return {**detector_losses, **proposal_losses}

    def inference(self, batched_inputs: List[dict], detected_instances: Optional[List[Instances]] = None,
                  do_postprocess: bool = True):
        """As :meth:`GeneralizedRCNN.inference`, on frame groups."""
        assert not self.training
        images, features, support = self.frame_group_features(batched_inputs)
        if detected_instances is None:
            proposals, _ = self.proposal_generator(images, features, None)
            results, _ = self.roi_heads(images, features, proposals, None, support=support)
        else:
            detected = [x.to(self.device) for x in detected_instances]
            results = self.roi_heads.forward_with_given_boxes(features, detected)
        if do_postprocess:
            return GeneralizedRCNN._postprocess(results, batched_inputs, images.image_sizes)
        return results

    def frame_group_features(self, batched_inputs: List[dict]):
        """Backbone features of the target frames and their :class:`SupportFrames`.

        Returns:
            the target frames' ImageList, their ``{level: [B, C, H, W]}`` features, and
            the support frames (with proposals when the ROI heads use them).
        """
        keys = [self._support_keys(x) for x in batched_inputs]
        pending = OrderedDict()  # key -> support image, for frames not computed yet
        for x, frame_keys in zip(batched_inputs, keys):
            for key, image in zip(frame_keys, x.get("support_images", [])):
                if key not in pending and key not in self._support_cache:
                    pending[key] = image
        images = self._preprocess([x["image"] for x in batched_inputs] + list(pending.values()))
        features = self.backbone(images.tensor)
        num_targets = len(batched_inputs)
        target_images = ImageList(images.tensor[:num_targets], images.image_sizes[:num_targets])
        target_features = {name: level[:num_targets] for name, level in features.items()}
        strides = {name: shape.stride for name, shape in self.backbone.output_shape().items()}
        computed = {}
        for index, key in enumerate(pending, start=num_targets):
            frame_features = {name: level[index] for name, level in features.items()}
            computed[key] = _SupportFrame(crop_to_image(frame_features, strides, images.image_sizes[index]),
                                          images.image_sizes[index])
        return target_images, target_features, self._support_frames(keys, computed)

    def _support_frames(self, keys, computed) -> SupportFrames:
        """Assemble :class:`SupportFrames` from newly computed and cached frames."""
        frames = {key: self._support_cache.get(key) or computed[key] for frame_keys in keys for key in frame_keys}
        if self.roi_heads.uses_support_proposals:
            self._add_proposals([frame for frame in frames.values() if frame.proposals is None])
        if not self.training:
            for key, frame in frames.items():
                self._support_cache[key] = frame
                self._support_cache.move_to_end(key)
            while len(self._support_cache) > self.support_cache_size:
                self._support_cache.popitem(last=False)
        ordered = [frames[key] for frame_keys in keys for key in frame_keys]
        return SupportFrames(
            features=[frame.features for frame in ordered],
            counts=[len(frame_keys) for frame_keys in keys],
            image_sizes=[frame.image_size for frame in ordered],
            proposals=[frame.proposals for frame in ordered] if self.roi_heads.uses_support_proposals else None,
            target_keys=None if self.training else [tuple(frame_keys) for frame_keys in keys],
        )

    def _add_proposals(self, frames: List[_SupportFrame]):
        """Give ``frames`` the RPN's top ``support_proposals`` proposals, with its test-time
        settings (also in training, as the reference), one RPN call per image size."""
        by_size = OrderedDict()
        for frame in frames:
            by_size.setdefault(frame.image_size, []).append(frame)
        with _inference_mode(self.proposal_generator):
            for size, group in by_size.items():
                features = {name: torch.stack([frame.features[name] for frame in group]) for name in group[0].features}
                # The RPN reads only the ImageList's image_sizes.
                sized = ImageList(torch.empty(0, device=self.device), [size] * len(group))
                proposals, _ = self.proposal_generator(sized, features, None)
                for frame, frame_proposals in zip(group, proposals):
                    frame.proposals = frame_proposals[: self.support_proposals]

    def _support_keys(self, x: dict) -> List[Hashable]:
        """Cache keys of one input's support frames.

        Frames are known to be identical when they have the same frame id in the same
        video: within one input (one transform), and at inference (deterministic test
        transforms) across inputs too. Without ids, every support frame is its own key.
        """
        supports = x.get("support_images", [])
        frame_ids = x.get("support_frame_ids")
        if frame_ids is None or "video_id" not in x:
            return [("anonymous", id(image)) for image in supports]
        if len(frame_ids) != len(supports):
            raise ValueError(f"{len(frame_ids)} support_frame_ids for {len(supports)} support_images")
        scope = ("video", x["video_id"]) if not self.training else ("input", id(x))
        return [(scope, frame_id, tuple(image.shape)) for frame_id, image in zip(frame_ids, supports)]

    def _preprocess(self, images: List[torch.Tensor]) -> ImageList:
        """Normalize, pad and batch images (as :meth:`GeneralizedRCNN.preprocess_image`)."""
        images = [(image.to(self.device) - self.pixel_mean) / self.pixel_std for image in images]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

"""MaskTrack R-CNN on frame groups: Mask R-CNN + a track branch, trained on (target,
reference) frame pairs, tracking at inference."""

from typing import List, Optional

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import Instances

from ..reference_frames import reference_frames_of
from ..roi_heads.masktrack_roi_heads import MaskTrackROIHeads
from ..tracker import MatchWeights, Tracker
from ..video_inference_cache import INFERENCE_CACHE_KEY
from .video_rcnn import VideoRCNN

__all__ = ["MaskTrackRCNN"]


@META_ARCH_REGISTRY.register()
class MaskTrackRCNN(VideoRCNN):
    """:class:`VideoRCNN` with :class:`MaskTrackROIHeads`, for video instance segmentation.

    Training inputs are :class:`VideoRCNN`'s plus ``"reference_instances"``: the GT (with
    ``gt_ids``) of a reference frame of the same video, which is the input's first support
    frame (``VISFrameGroupDatasetMapper``): the backbone runs once for it, and with Temporal
    RoI Align on it is also one of the target's support frames.

    At inference, frames must come video by video, in order (``VideoInferenceSampler``):
    a :class:`Tracker`, kept in the inputs' ``"inference_cache"``, links the detections of
    the frames of one video, and starts afresh with each new ``"video_id"`` (an input
    without a cache or a video id is a video of its own). Each output
    ``"instances"`` has ``pred_boxes``, ``scores``, ``pred_classes``, ``pred_masks`` and
    ``track_ids`` (long, unique within the video).

    Args:
        match_weights, max_unseen_frames: of the :class:`Tracker`.
        **kwargs: :class:`VideoRCNN` arguments.
    """

    required_roi_heads = MaskTrackROIHeads
    trains_on_reference_frames = True

    @configurable
    def __init__(self, *, match_weights: MatchWeights, max_unseen_frames: int, **kwargs):
        super().__init__(**kwargs)
        self.match_weights = match_weights
        self.max_unseen_frames = max_unseen_frames

    @classmethod
    def from_config(cls, cfg):
        ret = super().from_config(cfg)
        tracker = cfg.MODEL.TRACKER
        ret["match_weights"] = MatchWeights(
            score=tracker.SCORE_WEIGHT, iou=tracker.IOU_WEIGHT, same_class=tracker.CLASS_WEIGHT
        )
        ret["max_unseen_frames"] = tracker.MAX_UNSEEN_FRAMES
        return ret

    def roi_heads_training_inputs(self, batched_inputs, images, features, support) -> dict:
        """The reference frames (each input's first support frame) with their GT."""
        missing = [index for index, x in enumerate(batched_inputs) if "reference_instances" not in x]
        if missing:
            raise ValueError(
                f"MaskTrackRCNN training inputs {missing} have no 'reference_instances'; map them "
                "with VISFrameGroupDatasetMapper (build_frame_group_train_loader does for MaskTrackRCNN)"
            )
        strides = {name: shape.stride for name, shape in self.backbone.output_shape().items()}
        references = reference_frames_of(
            features,
            images.image_sizes,
            strides,
            support,
            [x["reference_instances"].to(self.device) for x in batched_inputs],
        )
        return {"references": references}

    def inference(
        self,
        batched_inputs: List[dict],
        detected_instances: Optional[List[Instances]] = None,
        do_postprocess: bool = True,
    ):
        """:meth:`VideoRCNN.inference`, then each frame's detections get their ``track_ids``."""
        results = super().inference(batched_inputs, detected_instances, do_postprocess=False)
        for x, instances in zip(batched_inputs, results):
            embeddings = instances.track_embeddings
            instances.remove("track_embeddings")
            tracker = self.tracker_for(x)
            instances.track_ids = tracker.update(
                instances.pred_boxes.tensor, instances.scores, instances.pred_classes, embeddings
            )
        if do_postprocess:
            return GeneralizedRCNN._postprocess(results, batched_inputs, [r.image_size for r in results])
        return results

    def tracker_for(self, x: dict) -> Tracker:
        """The tracker of input ``x``'s video, kept in its ``"inference_cache"`` (a new one for
        a new video). Without a cache each input is a video of its own."""
        new_tracker = lambda: Tracker(self.match_weights, self.max_unseen_frames)  # noqa: E731
        cache = x.get(INFERENCE_CACHE_KEY)
        return cache.tracker(x.get("video_id"), new_tracker) if cache is not None else new_tracker()

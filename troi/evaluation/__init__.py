"""Video detection (ImageNet VID) and video instance segmentation (YouTube-VIS) evaluation."""
from .vid_evaluation import MOTION_SPEEDS, VIDEvaluator, evaluate_vid
from .ytvis_evaluation import YTVIS_METRICS, evaluate_ytvis

__all__ = ["MOTION_SPEEDS", "VIDEvaluator", "YTVIS_METRICS", "evaluate_vid", "evaluate_ytvis"]

"""Video detection (ImageNet VID) and video instance segmentation (YouTube-VIS) evaluation."""
from .vid_evaluation import MOTION_SPEEDS, VIDEvaluator, evaluate_vid
from .ytvis_evaluation import YTVIS_METRICS, evaluate_ytvis
from .ytvis_evaluator import YTVISEvaluator, tracks_to_ytvis_results

__all__ = ["MOTION_SPEEDS", "VIDEvaluator", "YTVISEvaluator", "YTVIS_METRICS", "evaluate_vid", "evaluate_ytvis",
           "tracks_to_ytvis_results"]

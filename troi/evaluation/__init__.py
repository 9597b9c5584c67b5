"""Video detection (ImageNet VID), video instance segmentation (YouTube-VIS) and video
recognition evaluation."""

from .. import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from .recognition_evaluation import RECOGNITION_METRICS, RecognitionEvaluator, recognition_accuracy
from .vid_evaluation import MOTION_SPEEDS, evaluate_vid
from .vid_evaluator import VIDEvaluator
from .ytvis_evaluation import YTVIS_METRICS, evaluate_ytvis
from .ytvis_evaluator import YTVISEvaluator, tracks_to_ytvis_results

__all__ = [
    "MOTION_SPEEDS",
    "RECOGNITION_METRICS",
    "RecognitionEvaluator",
    "VIDEvaluator",
    "YTVISEvaluator",
    "YTVIS_METRICS",
    "evaluate_vid",
    "evaluate_ytvis",
    "recognition_accuracy",
    "tracks_to_ytvis_results",
]

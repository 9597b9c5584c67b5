"""Training that resumes exactly, and video inference: the video predictor, frame sources,
visualization, similar points and the video writer."""

from .. import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from .hooks import IterationSeed
from .resumable_trainer import ResumableTrainer
from .similar_points import ProposalSimilarPoints, similar_points
from .similar_points_figure import draw_similar_points, input_frames
from .track_visualizer import TrackVisualizer
from .trainer import Trainer
from ..data.video_frames import VideoFrames  # a frame source, re-exported for the video predictor's users
from .video_predictor import MODES, FramePrediction, VideoPredictor, VideoStats
from .video_writer import VideoWriter

__all__ = [
    "MODES",
    "FramePrediction",
    "IterationSeed",
    "ProposalSimilarPoints",
    "ResumableTrainer",
    "TrackVisualizer",
    "Trainer",
    "VideoFrames",
    "VideoPredictor",
    "VideoStats",
    "VideoWriter",
    "draw_similar_points",
    "input_frames",
    "similar_points",
]

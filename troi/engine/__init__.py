"""Training that resumes exactly, and video inference: the video predictor, frame sources,
visualization, similar points and the video writer."""
from .hooks import IterationSeed
from .resumable_trainer import ResumableTrainer
from .similar_points import ProposalSimilarPoints, similar_points
from .similar_points_figure import draw_similar_points, input_frames
from .track_visualizer import TrackVisualizer
from .video_frames import VideoFrames
from .video_predictor import MODES, FramePrediction, VideoPredictor, VideoStats
from .video_writer import VideoWriter

__all__ = [
    "MODES",
    "FramePrediction",
    "IterationSeed",
    "ProposalSimilarPoints",
    "ResumableTrainer",
    "TrackVisualizer",
    "VideoFrames",
    "VideoPredictor",
    "VideoStats",
    "VideoWriter",
    "draw_similar_points",
    "input_frames",
    "similar_points",
]

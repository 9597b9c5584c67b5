"""Video inference: the video predictor, frame sources, visualization and similar points."""
from .atomic_outputs import atomic_file, atomic_folder
from .similar_points import ProposalSimilarPoints, similar_points
from .similar_points_figure import draw_similar_points, input_frames
from .track_visualizer import TrackVisualizer
from .video_frames import VideoFrames
from .video_predictor import MODES, FramePrediction, VideoPredictor, VideoStats

__all__ = [
    "MODES",
    "FramePrediction",
    "ProposalSimilarPoints",
    "TrackVisualizer",
    "VideoFrames",
    "VideoPredictor",
    "VideoStats",
    "atomic_file",
    "atomic_folder",
    "draw_similar_points",
    "input_frames",
    "similar_points",
]

from .masktrack_rcnn import MaskTrackRCNN
from .video_rcnn import VideoRCNN
from .video_recognizer import VideoRecognizer

__all__ = ["MaskTrackRCNN", "VideoRCNN", "VideoRecognizer"]

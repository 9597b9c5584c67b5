from .masktrack_rcnn import MaskTrackRCNN
from .video_rcnn import VideoRCNN

__all__ = ["MaskTrackRCNN", "VideoRCNN"]

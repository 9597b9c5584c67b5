from .masktrack_roi_heads import MaskTrackROIHeads
from .selsa_box_head import SelsaBoxHead
from .temporal_roi_heads import TemporalROIHeads
from .track_head import ROI_TRACK_HEAD_REGISTRY, TrackEmbeddingHead, build_track_head

__all__ = [
    "MaskTrackROIHeads",
    "ROI_TRACK_HEAD_REGISTRY",
    "SelsaBoxHead",
    "TemporalROIHeads",
    "TrackEmbeddingHead",
    "build_track_head",
]

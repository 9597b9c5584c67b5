from .selsa_box_head import SelsaBoxHead
from .temporal_roi_heads import TemporalROIHeads

__all__ = ["SelsaBoxHead", "TemporalROIHeads"]

"""TRoI for Detectron2: Temporal RoI Align and SELSA for video object recognition."""
from . import compat

compat.apply_all()

from .layers import (  # noqa: E402  (the shims must run before detectron2.layers is imported)
    SelsaAggregator,
    TemporalAttentionalFeatureAggregation,
    TemporalRoIAlign,
    most_similar_roi_align,
)

__version__ = "0.1.0"

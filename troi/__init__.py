"""TRoI for Detectron2: Temporal RoI Align and SELSA for video object recognition."""
from . import compat

compat.apply_all()

# The shims must run before anything imports detectron2.layers.
from .config import add_troi_config  # noqa: E402
from .layers import (  # noqa: E402
    SelsaAggregator,
    TemporalAdaptiveModule,
    TemporalAttentionalFeatureAggregation,
    TemporalRoIAlign,
    most_similar_roi_align,
)
from . import data, modeling  # noqa: E402,F401  (register datasets, backbones, heads, meta-archs)

__version__ = "0.1.0"

__all__ = [
    "SelsaAggregator",
    "TemporalAdaptiveModule",
    "TemporalAttentionalFeatureAggregation",
    "TemporalRoIAlign",
    "add_troi_config",
    "most_similar_roi_align",
]

"""The temporal operators: pure tensor math, no detectron2 imports."""

from .most_similar_roi_align import most_similar_roi_align
from .selsa import SelsaAggregator, SelsaReferenceProjections
from .temporal_adaptive_module import TemporalAdaptiveModule
from .temporal_attention import TemporalAttentionalFeatureAggregation
from .temporal_roi_align import TemporalRoIAlign

__all__ = [
    "most_similar_roi_align",
    "SelsaAggregator",
    "SelsaReferenceProjections",
    "TemporalAdaptiveModule",
    "TemporalAttentionalFeatureAggregation",
    "TemporalRoIAlign",
]

"""TRoI for Detectron2: Temporal RoI Align and SELSA for video object recognition, and TAM.

Importing ``troi`` is light: ``troi.layers`` (the operators) needs torch only. The names
below load their part on first use; ``add_troi_config`` also imports ``troi.data`` and
``troi.modeling``, which register this project's datasets, backbones, heads and
meta-architectures with detectron2. Every part that uses detectron2 applies
``troi.compat``'s shims before importing it.
"""

import importlib

__version__ = "0.1.0"

_LAYERS = (
    "SelsaAggregator",
    "TemporalAdaptiveModule",
    "TemporalAttentionalFeatureAggregation",
    "TemporalRoIAlign",
    "most_similar_roi_align",
)

__all__ = sorted(_LAYERS + ("add_troi_config",))


def __getattr__(name):
    if name in _LAYERS:
        return getattr(importlib.import_module(".layers", __name__), name)
    if name == "add_troi_config":
        importlib.import_module(".data", __name__)  # registrations, as detectron2 projects do on import
        importlib.import_module(".modeling", __name__)
        return importlib.import_module(".config", __name__).add_troi_config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

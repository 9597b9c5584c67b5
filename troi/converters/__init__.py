"""Converters of the reference implementations' checkpoints and configs (mmtracking 0.14,
torchvision ResNets) into this project's detectron2 models."""

from .. import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from .mmcv_config import MMCVConfigError, parse_mmcv_config
from .mmtracking_checkpoint import ConvertedCheckpoint, convert_checkpoint, write_converted
from .mmtracking_config import MMTrackingConfigError, detectron2_config
from .mmtracking_weights import CheckpointConversionError, checkpoint_kind, convert_state_dict

__all__ = [
    "CheckpointConversionError",
    "ConvertedCheckpoint",
    "MMCVConfigError",
    "MMTrackingConfigError",
    "checkpoint_kind",
    "convert_checkpoint",
    "convert_state_dict",
    "detectron2_config",
    "parse_mmcv_config",
    "write_converted",
]

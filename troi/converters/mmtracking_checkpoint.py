"""Convert an mmtracking (or torchvision ResNet) checkpoint file into a detectron2 one.

The output is a pickle in detectron2's model-zoo format (``{"model": {name: ndarray},
"__author__": ..., "matching_heuristics": ...}``), which ``DetectionCheckpointer`` loads as
``MODEL.WEIGHTS``. For mmtracking checkpoints the detectron2 config comes from the mmtracking
config the checkpoint carries (``meta['config']``, written by mmtracking's training) or one
given; the converted parameters are checked against a model built from that config: every
parameter present, with its shape, nothing left over. A torchvision ResNet converts to
detectron2's ResNet names and loads by detectron2's name matching into any of this
project's ResNet backbones (an ImageNet initialisation, as the reference's training uses).
"""

import os
import pickle
from typing import Optional

import torch

from detectron2.config import CfgNode
from detectron2.modeling import build_model

from .. import modeling  # noqa: F401  (registers the architectures build_model makes here)
from ..utils import atomic_outputs
from .mmcv_config import parse_mmcv_config
from .mmtracking_config import box_coder_stds, detectron2_config
from .mmtracking_weights import (
    CheckpointConversionError,
    TargetLayout,
    checkpoint_kind,
    convert_state_dict,
    delta_scales,
)

__all__ = [
    "ConvertedCheckpoint",
    "check_against_model",
    "convert_checkpoint",
    "load_state_dict",
    "target_layout",
    "write_converted",
]


class ConvertedCheckpoint:
    """A conversion's result: ``model`` (name -> ndarray), its ``kind`` and, for mmtracking
    checkpoints, the detectron2 ``cfg`` that builds the model."""

    def __init__(self, model, kind: str, cfg: Optional[CfgNode]):
        self.model, self.kind, self.cfg = model, kind, cfg


def load_state_dict(path: str, trust: bool = False):
    """``(state_dict, meta)`` of a ``.pth`` checkpoint (mmcv's ``{'meta', 'state_dict'}`` or
    a bare state dict). Reads tensors and plain containers only unless ``trust``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        hint = "" if trust else " (if you trust the file, --trust-checkpoint loads any Python object in it)"
        raise CheckpointConversionError(f"could not read checkpoint {path}: {error}{hint}") from error
    if not isinstance(checkpoint, dict):
        raise CheckpointConversionError(f"{path} holds a {type(checkpoint).__name__}, not a checkpoint dict")
    state_dict = checkpoint.get("state_dict", checkpoint)
    meta = checkpoint.get("meta", {}) if "state_dict" in checkpoint else {}
    return state_dict, meta


def target_layout(cfg: CfgNode, mm: dict) -> TargetLayout:
    """The :class:`TargetLayout` of the model ``cfg`` builds, converted from the mmtracking
    config ``mm`` (its box coders' stds)."""
    detector = mm["model"]["detector"]
    fpn = cfg.MODEL.BACKBONE.NAME == "build_resnet_fpn_backbone"
    return TargetLayout(
        backbone_prefix="backbone.bottom_up." if fpn else "backbone.resnet.",
        anchor_sizes=len(cfg.MODEL.ANCHOR_GENERATOR.SIZES[0]),
        anchor_ratios=len(cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS[0]),
        rpn_delta_scales=delta_scales(
            box_coder_stds(detector["rpn_head"], "model.detector.rpn_head"), cfg.MODEL.RPN.BBOX_REG_WEIGHTS
        ),
        box_delta_scales=delta_scales(
            box_coder_stds(detector["roi_head"]["bbox_head"], "model.detector.roi_head.bbox_head"),
            cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS,
        ),
    )


def check_against_model(converted, cfg: CfgNode, source: str):
    """Raise :class:`CheckpointConversionError` unless ``converted`` holds exactly the
    parameters and buffers (``num_batches_tracked`` counters aside) of ``cfg``'s model,
    with their shapes."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    expected = {
        name: tuple(value.shape)
        for name, value in build_model(cfg).state_dict().items()
        if not name.endswith("num_batches_tracked") and name not in ("pixel_mean", "pixel_std")
    }
    missing = sorted(set(expected) - set(converted))
    extra = sorted(set(converted) - set(expected))
    wrong = sorted(
        f"{name} {tuple(converted[name].shape)} (model: {expected[name]})"
        for name in set(expected) & set(converted)
        if tuple(converted[name].shape) != expected[name]
    )
    problems = [
        f"{label}: {', '.join(names)}"
        for label, names in (
            ("missing from the checkpoint", missing),
            ("not in the model", extra),
            ("wrong shape", wrong),
        )
        if names
    ]
    if problems:
        raise CheckpointConversionError(f"{source} does not match the model of its config; " + "; ".join(problems))


def convert_checkpoint(
    path: str, *, mmtracking_config: Optional[str] = None, weights_path: str = "", trust: bool = False
) -> ConvertedCheckpoint:
    """Convert checkpoint ``path`` (see the module doc).

    Args:
        mmtracking_config: an mmtracking config file to use instead of ``meta['config']``.
        weights_path: ``MODEL.WEIGHTS`` of the returned config.
        trust: let ``torch.load`` unpickle arbitrary objects.
    """
    state_dict, meta = load_state_dict(path, trust)
    kind = checkpoint_kind(list(state_dict))
    if kind == "torchvision_resnet":
        return ConvertedCheckpoint(convert_state_dict(state_dict, kind, TargetLayout(backbone_prefix="")), kind, None)
    if mmtracking_config is not None:
        with open(mmtracking_config) as f:
            text, source = f.read(), mmtracking_config
    elif "config" in meta:
        text, source = meta["config"], f"{path} meta['config']"
    else:
        raise CheckpointConversionError(
            f"{path} carries no mmtracking config (meta['config']); pass the config "
            "it was trained with (--mmtracking-config)"
        )
    mm = parse_mmcv_config(text, source)
    cfg = detectron2_config(mm, weights=weights_path)
    model = convert_state_dict(state_dict, kind, target_layout(cfg, mm))
    check_against_model(model, cfg, path)
    return ConvertedCheckpoint(model, kind, cfg)


def write_converted(converted: ConvertedCheckpoint, output: str, config_output: Optional[str] = None):
    """Write the pickle (and the yaml config), all whole or none."""
    author = "torchvision" if converted.kind == "torchvision_resnet" else f"mmtracking ({converted.kind})"
    data = {
        "model": dict(converted.model),
        "__author__": author,
        "matching_heuristics": converted.kind == "torchvision_resnet",
    }
    if config_output is not None and converted.cfg is None:
        raise CheckpointConversionError("a torchvision backbone has no detectron2 config of its own (no --config-out)")
    config_text = converted.cfg.dump() if config_output is not None else None
    with atomic_outputs() as outputs:
        with open(outputs.file(output), "wb") as f:
            pickle.dump(data, f, protocol=4)
        if config_text is not None:
            with open(outputs.file(config_output), "w") as f:
                f.write(config_text)

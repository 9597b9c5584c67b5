"""mmtracking 0.14 (mmdet 2.x) state dicts -> this project's detectron2 parameter names.

Which checkpoint a state dict is (:func:`checkpoint_kind`) is read from its keys:

* ``"selsa"`` / ``"selsa_troi"``: mmtracking's SELSA video detectors (``detector.`` prefix),
  without / with Temporal RoI Align (``bbox_roi_extractor.embed_network``);
* ``"masktrack"``: MaskTrack R-CNN (``detector.`` and ``track_head.`` prefixes);
* ``"torchvision_resnet"``: a torchvision ImageNet ResNet/ResNeXt (``layer1.0.conv1.weight``,
  ``fc.weight``), the backbone the reference trains from.

The mapping (checked on the reference's own outputs, ``tests/converters``):

* ResNet: ``conv1``/``bn1`` -> ``stem.conv1``/``stem.conv1.norm``; ``layerN.B.convK`` /
  ``bnK`` -> ``res{N+1}.B.convK`` / ``.convK.norm``; ``downsample.0`` / ``.1`` ->
  ``shortcut`` / ``shortcut.norm``; ``num_batches_tracked`` (a counter) is dropped.
* Necks: ChannelMapper ``neck.convs.0.conv`` -> the DC5 neck; FPN ``neck.lateral_convs.i``
  / ``fpn_convs.i`` -> ``fpn_lateral{i+2}`` / ``fpn_output{i+2}``.
* RPN: ``rpn_conv`` / ``rpn_cls`` / ``rpn_reg`` -> ``conv`` / ``objectness_logits`` /
  ``anchor_deltas``. mmdet orders a position's anchors ratio-major, detectron2 size-major:
  detectron2's anchor ``s * R + r`` is mmdet's ``r * S + s`` (:func:`anchor_permutation`),
  for the objectness rows and each anchor's block of 4 delta rows.
* ROI heads: TRoI's ``embed_network.conv`` -> TAFA's embedding; ``shared_fcs.i`` ->
  ``fc{i+1}``; ``aggregator.i`` -> ``aggregators.fc{i+1}``; ``fc_cls`` / ``fc_reg`` ->
  ``cls_score`` / ``bbox_pred`` (background last in both); mask ``convs.i.conv`` /
  ``upsample`` / ``conv_logits`` -> ``mask_fcn{i+1}`` / ``deconv`` / ``predictor``; track
  ``embed_head.fcs.i`` -> ``track_head.fcs.i``.
* Box deltas: mmdet decodes ``delta * std``, detectron2 ``delta / weight``, so each
  regression row (weight and bias) of coordinate ``j`` is scaled by ``std_j * weight_j``
  (:func:`delta_scales`; 1 when the weights are ``1 / std``).
"""

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_KINDS",
    "CheckpointConversionError",
    "TargetLayout",
    "anchor_permutation",
    "checkpoint_kind",
    "convert_state_dict",
    "delta_scales",
]

CHECKPOINT_KINDS = ("selsa", "selsa_troi", "masktrack", "torchvision_resnet")

_NORM_PARAMETERS = ("weight", "bias", "running_mean", "running_var")


class CheckpointConversionError(ValueError):
    """A state dict that cannot be converted completely."""


@dataclass(frozen=True)
class TargetLayout:
    """What the conversion needs to know of the detectron2 model it converts for.

    Attributes:
        backbone_prefix: where its ResNet sits (``"backbone.resnet."`` under the DC5 neck,
            ``"backbone.bottom_up."`` under an FPN, ``""`` for a bare backbone).
        anchor_sizes, anchor_ratios: anchor sizes and aspect ratios per position (one level).
        rpn_delta_scales, box_delta_scales: per coordinate (dx, dy, dw, dh), the factor of
            the RPN's / box predictor's regression rows (:func:`delta_scales`).
    """

    backbone_prefix: str
    anchor_sizes: int = 1
    anchor_ratios: int = 1
    rpn_delta_scales: Tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    box_delta_scales: Tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)


def checkpoint_kind(keys: Sequence[str]) -> str:
    """One of :data:`CHECKPOINT_KINDS`, read from a state dict's keys.

    Raises:
        CheckpointConversionError: the keys are none of them.
    """
    keys = set(keys)
    if any(key.startswith("track_head.") for key in keys) and any(key.startswith("detector.") for key in keys):
        return "masktrack"
    if any(key.startswith("detector.roi_head.bbox_head.aggregator.") for key in keys):
        troi = any(key.startswith("detector.roi_head.bbox_roi_extractor.embed_network.") for key in keys)
        return "selsa_troi" if troi else "selsa"
    if {"conv1.weight", "layer1.0.conv1.weight", "fc.weight"} <= keys:
        return "torchvision_resnet"
    sample = ", ".join(sorted(keys)[:5])
    raise CheckpointConversionError(
        f"not an mmtracking SELSA / SELSA+TRoI / MaskTrack R-CNN or torchvision ResNet state dict (keys: {sample}, ...)"
    )


def anchor_permutation(num_sizes: int, num_ratios: int) -> List[int]:
    """``P`` with detectron2 anchor ``j`` = mmdet anchor ``P[j]`` at one position:
    detectron2 orders ``(size, ratio)`` size-major, mmdet ratio-major."""
    return [ratio * num_sizes + size for size in range(num_sizes) for ratio in range(num_ratios)]


def delta_scales(mmdet_stds: Sequence[float], detectron2_weights: Sequence[float]) -> Tuple[float, ...]:
    """Per coordinate, the factor turning mmdet regression outputs (decoded as ``delta *
    std``) into detectron2's (decoded as ``delta / weight``): ``std * weight``."""
    if len(mmdet_stds) != 4 or len(detectron2_weights) != 4:
        raise ValueError(f"need 4 stds and 4 weights, got {list(mmdet_stds)} and {list(detectron2_weights)}")
    return tuple(float(std) * float(weight) for std, weight in zip(mmdet_stds, detectron2_weights))


# A rule: regex on the mmdet key (after its prefix) -> detectron2 name template, and the
# transform its value needs ("anchors", "rpn_deltas", "box_deltas" or None).
_Rule = Tuple[str, str, Optional[str]]


def _backbone_rules(bb: str) -> List[_Rule]:
    norm = "|".join(_NORM_PARAMETERS)
    return [
        (r"conv1\.weight", f"{bb}stem.conv1.weight", None),
        (rf"bn1\.({norm})", f"{bb}stem.conv1.norm.{{0}}", None),
        (r"layer(\d)\.(\d+)\.conv(\d)\.weight", f"{bb}res{{0+1}}.{{1}}.conv{{2}}.weight", None),
        (rf"layer(\d)\.(\d+)\.bn(\d)\.({norm})", f"{bb}res{{0+1}}.{{1}}.conv{{2}}.norm.{{3}}", None),
        (r"layer(\d)\.(\d+)\.downsample\.0\.weight", f"{bb}res{{0+1}}.{{1}}.shortcut.weight", None),
        (rf"layer(\d)\.(\d+)\.downsample\.1\.({norm})", f"{bb}res{{0+1}}.{{1}}.shortcut.norm.{{2}}", None),
    ]


def _detector_rules(layout: TargetLayout) -> List[_Rule]:
    rules = [
        ("backbone." + pattern, name, transform) for pattern, name, transform in _backbone_rules(layout.backbone_prefix)
    ]
    rules += [
        (r"neck\.convs\.0\.conv\.(weight|bias)", "backbone.neck.{0}", None),
        (r"neck\.lateral_convs\.(\d)\.conv\.(weight|bias)", "backbone.fpn_lateral{0+2}.{1}", None),
        (r"neck\.fpn_convs\.(\d)\.conv\.(weight|bias)", "backbone.fpn_output{0+2}.{1}", None),
        (r"rpn_head\.rpn_conv\.(weight|bias)", "proposal_generator.rpn_head.conv.{0}", None),
        (r"rpn_head\.rpn_cls\.(weight|bias)", "proposal_generator.rpn_head.objectness_logits.{0}", "anchors"),
        (r"rpn_head\.rpn_reg\.(weight|bias)", "proposal_generator.rpn_head.anchor_deltas.{0}", "rpn_deltas"),
        (
            r"roi_head\.bbox_roi_extractor\.embed_network\.conv\.(weight|bias)",
            "roi_heads.box_pooler.temporal_roi_align.embed.{0}",
            None,
        ),
        (r"roi_head\.bbox_head\.shared_fcs\.(\d+)\.(weight|bias)", "roi_heads.box_head.fc{0+1}.{1}", None),
        (
            r"roi_head\.bbox_head\.aggregator\.(\d+)\.(fc_embed|ref_fc_embed|fc|ref_fc)\.(weight|bias)",
            "roi_heads.box_head.aggregators.fc{0+1}.{1}.{2}",
            None,
        ),
        (r"roi_head\.bbox_head\.fc_cls\.(weight|bias)", "roi_heads.box_predictor.cls_score.{0}", None),
        (r"roi_head\.bbox_head\.fc_reg\.(weight|bias)", "roi_heads.box_predictor.bbox_pred.{0}", "box_deltas"),
        (r"roi_head\.mask_head\.convs\.(\d+)\.conv\.(weight|bias)", "roi_heads.mask_head.mask_fcn{0+1}.{1}", None),
        (r"roi_head\.mask_head\.upsample\.(weight|bias)", "roi_heads.mask_head.deconv.{0}", None),
        (r"roi_head\.mask_head\.conv_logits\.(weight|bias)", "roi_heads.mask_head.predictor.{0}", None),
    ]
    return [("detector." + pattern, name, transform) for pattern, name, transform in rules] + [
        (r"track_head\.embed_head\.fcs\.(\d+)\.(weight|bias)", "roi_heads.track_head.fcs.{0}.{1}", None),
    ]


def _name(template: str, groups: Sequence[str]) -> str:
    """Fill ``{i}`` with group ``i`` and ``{i+k}`` with group ``i`` plus ``k``."""

    def fill(match):
        index, _, offset = match.group(1).partition("+")
        value = groups[int(index)]
        return str(int(value) + int(offset)) if offset else value

    return re.sub(r"\{(\d+(?:\+\d+)?)\}", fill, template)


def _permute_rows(value: np.ndarray, permutation: List[int], block: int) -> np.ndarray:
    """Rows in blocks of ``block`` (one block per anchor), block ``j`` of the result being
    block ``permutation[j]`` of ``value``."""
    if value.shape[0] != len(permutation) * block:
        raise CheckpointConversionError(f"{value.shape[0]} rows for {len(permutation)} anchors x {block}")
    rows = [row for anchor in permutation for row in range(anchor * block, (anchor + 1) * block)]
    return value[rows]


def _scale_deltas(value: np.ndarray, scales: Sequence[float]) -> np.ndarray:
    """Multiply row ``4 * a + j`` (anchor or class ``a``, coordinate ``j``) by ``scales[j]``."""
    if value.shape[0] % 4:
        raise CheckpointConversionError(f"{value.shape[0]} regression rows are not a multiple of 4")
    factors = np.tile(np.asarray(scales, dtype=value.dtype), value.shape[0] // 4)
    return value * factors.reshape((-1,) + (1,) * (value.ndim - 1))


def _transforms(layout: TargetLayout) -> Dict[Optional[str], Callable[[np.ndarray], np.ndarray]]:
    permutation = anchor_permutation(layout.anchor_sizes, layout.anchor_ratios)
    return {
        None: lambda value: value,
        "anchors": lambda value: _permute_rows(value, permutation, 1),
        "rpn_deltas": lambda value: _scale_deltas(_permute_rows(value, permutation, 4), layout.rpn_delta_scales),
        "box_deltas": lambda value: _scale_deltas(value, layout.box_delta_scales),
    }


def convert_state_dict(
    state_dict: Mapping[str, torch.Tensor], kind: str, layout: TargetLayout
) -> "OrderedDict[str, np.ndarray]":
    """Rename and transform every tensor of an mmtracking / torchvision ``state_dict`` of
    ``kind`` (:data:`CHECKPOINT_KINDS`) for a detectron2 model of ``layout``.

    Returns:
        ``{detectron2 name: numpy array}``, sorted by name (the same bytes when pickled
        twice); ``num_batches_tracked`` counters and a torchvision classifier (``fc.*``)
        are left out.

    Raises:
        CheckpointConversionError: naming every key no rule maps, or mapped twice.
    """
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}; choose one of {CHECKPOINT_KINDS}")
    if kind == "torchvision_resnet":
        rules = _backbone_rules(layout.backbone_prefix)
        skipped = re.compile(r"(.*\.)?num_batches_tracked|fc\.(weight|bias)")
    else:
        rules = _detector_rules(layout)
        skipped = re.compile(r".*\.num_batches_tracked")
    compiled = [(re.compile(pattern), name, transform) for pattern, name, transform in rules]
    transforms = _transforms(layout)
    converted, unmapped, sources = {}, [], {}
    for key, value in state_dict.items():
        if skipped.fullmatch(key):
            continue
        for pattern, template, transform in compiled:
            match = pattern.fullmatch(key)
            if match:
                name = _name(template, match.groups())
                if name in converted:
                    raise CheckpointConversionError(f"{key} and {sources[name]} both map to {name}")
                array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
                converted[name] = transforms[transform](array)
                sources[name] = key
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise CheckpointConversionError(
            f"{len(unmapped)} keys of the {kind} checkpoint have no detectron2 counterpart: {', '.join(unmapped)}"
        )
    return OrderedDict(sorted(converted.items()))

"""mmaction2 0.24 TANet checkpoints -> this project's :class:`troi.modeling.VideoRecognizer`.

mmaction2's ``Recognizer2D`` with a ``TANet`` backbone names its parameters (after
``TANet.init_weights()`` wrapped every bottleneck in a ``TABlock``)::

    backbone.conv1.{conv,bn}.*                          the stem
    backbone.layer<s>.<b>.block.conv<k>.{conv,bn}.*     a bottleneck's convs (k = 1, 2, 3)
    backbone.layer<s>.<b>.block.downsample.{conv,bn}.*  its projection shortcut
    backbone.layer<s>.<b>.tam.{G,L}.<i>.*               its TAM (the same names here)
    cls_head.fc_cls.{weight,bias}                       the classifier (TSN or TSM head)

which map to ``backbone.stem.conv1[.norm]``, ``backbone.res<s+1>.<b>.conv<k>[.norm]``,
``backbone.res<s+1>.<b>.shortcut[.norm]``, ``backbone.res<s+1>.<b>.tam.*`` and
``cls_head.fc_cls.*``. BatchNorm ``num_batches_tracked`` counters are dropped. Every
other key is an error naming it; the result is checked against the model of a config
(names and shapes) before anything is written.
"""

import pickle
import re
from collections import OrderedDict
from typing import Mapping

import numpy as np
import torch

from detectron2.config import CfgNode

from ..utils import atomic_file
from .mmtracking_checkpoint import check_against_model, load_state_dict
from .mmtracking_weights import CheckpointConversionError, _name

__all__ = ["TANET_AUTHOR", "convert_tanet_checkpoint", "convert_tanet_state_dict", "write_tanet_checkpoint"]

TANET_AUTHOR = "mmaction2 (TANet)"

_NORM = "weight|bias|running_mean|running_var"
_RULES = [
    (r"backbone\.conv1\.conv\.weight", "backbone.stem.conv1.weight"),
    (rf"backbone\.conv1\.bn\.({_NORM})", "backbone.stem.conv1.norm.{0}"),
    (r"backbone\.layer(\d)\.(\d+)\.block\.conv(\d)\.conv\.weight", "backbone.res{0+1}.{1}.conv{2}.weight"),
    (rf"backbone\.layer(\d)\.(\d+)\.block\.conv(\d)\.bn\.({_NORM})", "backbone.res{0+1}.{1}.conv{2}.norm.{3}"),
    (r"backbone\.layer(\d)\.(\d+)\.block\.downsample\.conv\.weight", "backbone.res{0+1}.{1}.shortcut.weight"),
    (rf"backbone\.layer(\d)\.(\d+)\.block\.downsample\.bn\.({_NORM})", "backbone.res{0+1}.{1}.shortcut.norm.{2}"),
    (rf"backbone\.layer(\d)\.(\d+)\.tam\.([GL])\.(\d)\.(weight|{_NORM})", "backbone.res{0+1}.{1}.tam.{2}.{3}.{4}"),
    (r"cls_head\.fc_cls\.(weight|bias)", "cls_head.fc_cls.{0}"),
]
_SKIPPED = re.compile(r".*\.num_batches_tracked")


def convert_tanet_state_dict(state_dict: Mapping[str, torch.Tensor]) -> "OrderedDict[str, np.ndarray]":
    """Rename every tensor of an mmaction2 TANet recognizer's ``state_dict``.

    Returns:
        ``{name: numpy array}`` sorted by name (the same bytes when pickled twice).

    Raises:
        CheckpointConversionError: naming every key no rule maps.
    """
    compiled = [(re.compile(pattern), template) for pattern, template in _RULES]
    converted, unmapped = {}, []
    for key, value in state_dict.items():
        if _SKIPPED.fullmatch(key):
            continue
        for pattern, template in compiled:
            match = pattern.fullmatch(key)
            if match:
                array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
                converted[_name(template, match.groups())] = array
                break
        else:
            unmapped.append(key)
    if unmapped:
        raise CheckpointConversionError(
            f"{len(unmapped)} keys of the checkpoint are not mmaction2 TANet recognizer keys: {', '.join(unmapped)}"
        )
    if not converted:
        raise CheckpointConversionError("the checkpoint holds no parameters")
    return OrderedDict(sorted(converted.items()))


def convert_tanet_checkpoint(path: str, cfg: CfgNode, trust: bool = False) -> "OrderedDict[str, np.ndarray]":
    """Convert the mmaction2 checkpoint ``path`` (``{'meta', 'state_dict'}`` or a bare state
    dict) and check it against the model ``cfg`` builds (every parameter and buffer, with
    its shape, nothing left over).

    Args:
        trust: let ``torch.load`` unpickle arbitrary objects (only for files you trust).
    """
    state_dict, _ = load_state_dict(path, trust)
    model = convert_tanet_state_dict(state_dict)
    check_against_model(model, cfg, path)
    return model


def write_tanet_checkpoint(model: Mapping[str, np.ndarray], output: str) -> None:
    """Write ``model`` in detectron2's pickle format (loaded by exact names), whole or not at all."""
    data = {"model": dict(model), "__author__": TANET_AUTHOR, "matching_heuristics": False}
    with atomic_file(output) as temporary, open(temporary, "wb") as f:
        pickle.dump(data, f, protocol=4)

"""mmaction2 TANet checkpoints -> VideoRecognizer, on mmaction2's own key list
(tests/fixtures/tam/tanet_r50_keys.txt) and TABlock (tests/modeling/backbone/test_tanet.py)."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.modeling.backbone.test_tanet import recognition_cfg
from troi.converters.mmaction2_tanet import (
    TANET_AUTHOR,
    convert_tanet_state_dict,
    write_tanet_checkpoint,
)
from troi.converters.mmtracking_checkpoint import check_against_model
from troi.converters.mmtracking_weights import CheckpointConversionError

KEYS_FILE = Path(__file__).parents[1] / "fixtures" / "tam" / "tanet_r50_keys.txt"


def reference_state_dict(num_classes=400):
    """mmaction2's TANet-R50 recognizer state dict (keys, shapes and order), filled with zeros."""
    state = {}
    for line in KEYS_FILE.read_text().splitlines():
        key, shape = line.split("\t")
        shape = json.loads(shape)
        if key.startswith("cls_head.fc_cls"):
            shape[0] = num_classes
        state[key] = torch.zeros(shape, dtype=torch.int64 if key.endswith("num_batches_tracked") else torch.float32)
    return state


def test_every_reference_key_maps_onto_the_r50_model():
    state = reference_state_dict()
    assert len(state) == 544
    converted = convert_tanet_state_dict(state)
    counters = [key for key in state if key.endswith("num_batches_tracked")]
    assert len(converted) == len(state) - len(counters)
    check_against_model(converted, recognition_cfg("kinetics400/tanet_r50_1x1x8.yaml"), "tanet_r50_keys.txt")
    for ours, theirs in (
        ("backbone.stem.conv1.weight", "backbone.conv1.conv.weight"),
        ("backbone.stem.conv1.norm.running_var", "backbone.conv1.bn.running_var"),
        ("backbone.res2.0.shortcut.weight", "backbone.layer1.0.block.downsample.conv.weight"),
        ("backbone.res5.2.conv3.norm.bias", "backbone.layer4.2.block.conv3.bn.bias"),
        ("backbone.res4.5.tam.G.3.weight", "backbone.layer3.5.tam.G.3.weight"),
        ("backbone.res3.1.tam.L.1.running_mean", "backbone.layer2.1.tam.L.1.running_mean"),
        ("cls_head.fc_cls.weight", "cls_head.fc_cls.weight"),
    ):
        assert converted[ours].shape == tuple(state[theirs].shape)
    assert list(converted) == sorted(converted)


def test_the_something_something_configs_take_their_174_class_checkpoints():
    converted = convert_tanet_state_dict(reference_state_dict(num_classes=174))
    check_against_model(converted, recognition_cfg("sthv1/tanet_r50_1x1x8.yaml"), "sthv1")
    with pytest.raises(
        CheckpointConversionError, match=r"wrong shape: cls_head.fc_cls.bias \(174,\) \(model: \(400,\)\)"
    ):
        check_against_model(converted, recognition_cfg("kinetics400/tanet_r50_1x1x8.yaml"), "sthv1")


def test_unmapped_keys_are_named():
    state = reference_state_dict()
    state["backbone.layer1.0.block.se.fc.weight"] = torch.zeros(1)
    state["neck.fpn.weight"] = torch.zeros(1)
    with pytest.raises(
        CheckpointConversionError,
        match=r"2 keys .*: backbone.layer1.0.block.se.fc.weight, "
        r"neck.fpn.weight",
    ):
        convert_tanet_state_dict(state)
    state = reference_state_dict()
    state["backbone.layer1.0.block.conv4.conv.weight"] = torch.zeros(1)  # a name the rules map, not the model's
    with pytest.raises(CheckpointConversionError, match=r"not in the model: backbone.res2.0.conv4.weight"):
        check_against_model(
            convert_tanet_state_dict(state), recognition_cfg("kinetics400/tanet_r50_1x1x8.yaml"), "x.pth"
        )


def test_missing_keys_are_named():
    state = reference_state_dict()
    del state["backbone.layer2.3.tam.L.0.weight"]
    with pytest.raises(CheckpointConversionError, match=r"missing from the checkpoint: backbone.res3.3.tam.L.0.weight"):
        check_against_model(
            convert_tanet_state_dict(state), recognition_cfg("kinetics400/tanet_r50_1x1x8.yaml"), "x.pth"
        )


def test_detectron2_pickle_format_and_same_bytes_twice(tmp_path, fixture_npz):
    data = fixture_npz("tam/tablock_c64_t8")
    state = {
        f"backbone.layer2.0.{key}": torch.from_numpy(value)
        for key, value in data.items()
        if key.startswith(("block.", "tam."))
    }
    for name in ("a.pkl", "b.pkl"):
        write_tanet_checkpoint(convert_tanet_state_dict(state), str(tmp_path / name))
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()
    with open(tmp_path / "a.pkl", "rb") as f:
        written = pickle.load(f)
    assert set(written) == {"model", "__author__", "matching_heuristics"}
    assert written["__author__"] == TANET_AUTHOR and written["matching_heuristics"] is False
    assert all(isinstance(value, np.ndarray) for value in written["model"].values())
    assert np.array_equal(written["model"]["backbone.res3.0.tam.G.0.weight"], data["tam.G.0.weight"])

"""mmcv pretty_text configs read as plain data, without running them."""

import pytest

from troi.converters.mmcv_config import MMCVConfigError, parse_mmcv_config

from .mmtracking_cases import Case


def test_a_checkpoint_config_reads_as_nested_dicts():
    config = parse_mmcv_config((Case.load("selsa_troi_w8_a").path / "config.py").read_text())
    extractor = config["model"]["detector"]["roi_head"]["bbox_roi_extractor"]
    assert config["model"]["type"] == "SELSA"
    assert extractor == {
        "type": "TemporalRoIAlign",
        "roi_layer": {"type": "RoIAlign", "output_size": 7, "sampling_ratio": 2},
        "out_channels": 64,
        "featmap_strides": [16],
        "num_most_similar_points": 2,
        "num_temporal_attention_blocks": 4,
    }
    assert config["model"]["detector"]["backbone"]["out_indices"] == (3,)
    assert config["data"]["test"]["ref_img_sampler"]["frame_range"] == [-7, 7]
    assert config["lr_config"]["warmup_ratio"] == pytest.approx(1 / 3)


def test_dict_displays_and_negative_numbers_read_too():
    assert parse_mmcv_config("a = {'x-y': -1, 'z': (1.5, None)}\nb = dict(c=[True])") == {
        "a": {"x-y": -1, "z": (1.5, None)},
        "b": {"c": [True]},
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("import os", "line 1: expected 'name = value'"),
        ("a = 1\nb = open('x')", r"line 2: unsupported expression \"open\('x'\)\""),
        ("a = data_root + 'x'", "unsupported expression"),
        ("a = dict(", "line 1: not valid Python"),
    ],
)
def test_anything_but_literals_is_refused_with_the_line(text, message):
    with pytest.raises(MMCVConfigError, match=message):
        parse_mmcv_config(text, "ckpt.pth meta['config']")

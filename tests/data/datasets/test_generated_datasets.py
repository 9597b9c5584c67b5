"""ensure_generated: generate once, afterwards check the stamp against the arguments."""

import json
import os

import pytest

from troi.data.datasets.generated_datasets import ensure_generated


def generate(output_dir, seed, size=3):
    os.makedirs(output_dir)
    with open(os.path.join(output_dir, "info.json"), "w") as f:
        json.dump(info(seed, size), f)


def info(seed, size):
    return {"seed": seed, "size": [size, size]}


def ensure(output_dir, seed, **kwargs):
    stamp = os.path.join(output_dir, "info.json")
    ensure_generated(generate, output_dir, (seed,), kwargs, info, lambda: json.load(open(stamp)), "test data")


def test_generates_once_then_checks_the_arguments(tmp_path):
    folder = str(tmp_path / "data")
    ensure(folder, 1)
    stamp_time = os.path.getmtime(os.path.join(folder, "info.json"))
    ensure(folder, 1, size=3)  # the default, spelled out: the same data
    assert os.path.getmtime(os.path.join(folder, "info.json")) == stamp_time
    with pytest.raises(ValueError, match=r"holds test data generated with .*'seed': 1.*, not .*'seed': 2"):
        ensure(folder, 2)

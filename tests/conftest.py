"""Shared test helpers. Importing troi first applies the detectron2 compat shims."""
from pathlib import Path

import numpy as np
import pytest
import torch

import troi  # noqa: F401

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixture_npz():
    """Load ``tests/fixtures/<name>.npz`` as a dict of arrays."""

    def load(name):
        with np.load(FIXTURES / f"{name}.npz") as data:
            return {key: data[key] for key in data.files}

    return load


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)

import itertools
import random

import numpy as np
import pytest
import torch

from detectron2.config import get_cfg
from troi.data import ResumableTrainLoader
from troi.data.resumable_train_loader import training_index_sampler


def draws(dataset_dict):
    """A mapper whose output is what it drew from the global generators."""
    return {
        "index": dataset_dict["index"],
        "landscape": dataset_dict["width"] > dataset_dict["height"],
        "draws": (random.random(), float(np.random.rand()), float(torch.rand(1))),
    }


def make_loader(num_workers=0, grouping=True, seed=3):
    dicts = [{"index": i, "width": 8 if i % 3 else 4, "height": 6} for i in range(10)]  # a third portrait
    return ResumableTrainLoader(
        dicts,
        draws,
        training_index_sampler(get_cfg(), dicts),
        seed=seed,
        batch_size=2,
        aspect_ratio_grouping=grouping,
        num_workers=num_workers,
    )


def first(loader, count):
    return list(itertools.islice(iter(loader), count))


@pytest.mark.parametrize("grouping", [True, False])
def test_batches_depend_on_the_seed_alone(grouping):
    reference = first(make_loader(grouping=grouping), 12)
    assert first(make_loader(num_workers=2, grouping=grouping), 12) == reference  # whatever process maps them
    assert first(make_loader(grouping=grouping, seed=4), 12) != reference
    assert all(len(batch) == 2 for batch in reference)
    if grouping:
        assert all(batch[0]["landscape"] == batch[1]["landscape"] for batch in reference)
    draws_of = [sample["draws"] for batch in reference for sample in batch]
    assert len(set(draws_of)) == len(draws_of)  # every sample draws afresh, also a dict seen in an earlier epoch


def test_restarts_at_the_batch_a_checkpoint_saved():
    loader = make_loader()
    head = first(loader, 7)
    state = loader.state_dict()
    assert state == {"seed": 3, "batches": 7}
    restarted = make_loader(seed=0)
    restarted.load_state_dict(state)
    assert first(restarted, 5) == first(make_loader(), 12)[7:] and head == first(make_loader(), 7)
    assert restarted.state_dict() == {"seed": 3, "batches": 12}


def test_mapping_leaves_the_global_generators_alone():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    first(make_loader(), 3)  # maps in this process
    assert torch.equal(torch.rand(3), expected)


def test_the_batch_must_split_over_the_training_processes(monkeypatch):
    from troi import add_troi_config
    from troi.data import resumable_train_loader as module

    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.SOLVER.IMS_PER_BATCH = 4
    monkeypatch.setattr(module.comm, "get_world_size", lambda: 3)
    with pytest.raises(ValueError, match="SOLVER.IMS_PER_BATCH 4 is not a multiple of the 3 training processes"):
        module.resumable_train_loader(cfg, [{"file_name": "a.jpg"}], mapper=None, aspect_ratio_grouping=False)

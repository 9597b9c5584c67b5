import random
from types import SimpleNamespace

import numpy as np
import torch

from troi.engine import IterationSeed


def draws_at(hook, iteration):
    hook.trainer = SimpleNamespace(iter=iteration)
    hook.before_step()
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_an_iteration_draws_the_same_whatever_ran_before():
    hook = IterationSeed(seed=5)
    at_3 = draws_at(hook, 3)
    torch.rand(100), np.random.rand(7)  # e.g. an evaluation between the iterations
    assert draws_at(hook, 4) != at_3 and draws_at(hook, 3) == at_3
    restored = IterationSeed(seed=0)
    restored.load_state_dict(hook.state_dict())
    assert draws_at(restored, 3) == at_3 and draws_at(IterationSeed(seed=6), 3) != at_3

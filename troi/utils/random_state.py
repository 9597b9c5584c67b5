"""Seeds for the global random generators (Python's, NumPy's, torch's) derived from keys.

Training draws its randomness (augmentations, support frames, RoI sampling) from the
global generators. Seeding them from a key such as ``(seed, rank, iteration)`` makes what
a step draws depend on that key alone, not on everything drawn before it, which is what
lets a resumed run draw what the uninterrupted run draws.
"""

import contextlib
import random
from typing import Iterator

import numpy as np
import torch

from detectron2.utils import comm
from detectron2.utils.env import seed_all_rng

__all__ = ["derive_seed", "seed_global_rngs", "seeded_global_rngs", "training_seed"]


def derive_seed(*key: int) -> int:
    """A 32-bit seed from a key of non-negative ints (NumPy's ``SeedSequence``: keys that
    differ in any entry give unrelated seeds)."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def seed_global_rngs(*key: int) -> None:
    """Seed Python's, NumPy's and torch's global generators from ``key``."""
    seed_all_rng(derive_seed(*key))


@contextlib.contextmanager
def seeded_global_rngs(*key: int) -> Iterator[None]:
    """Inside: the global CPU generators seeded from ``key``. After: their states from
    before, so the code around the block draws as if the block had not run."""
    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    seed = derive_seed(*key)
    random.seed(seed)
    np.random.seed(seed)
    torch.random.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def training_seed(cfg) -> int:
    """``cfg.SEED``, or where it is negative (detectron2's "random"), a random seed shared
    by all processes (call it in every process)."""
    return cfg.SEED if cfg.SEED >= 0 else comm.shared_random_seed()

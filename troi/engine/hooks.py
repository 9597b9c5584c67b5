"""Training hooks."""

from detectron2.engine import HookBase
from detectron2.utils import comm

from ..utils import seed_global_rngs

__all__ = ["IterationSeed"]

_ITERATION_STREAM = 1  # first key word of the iterations' seeds (the train loader's samples use 0)


class IterationSeed(HookBase):
    """Seeds Python's, NumPy's and torch's global generators before every iteration from
    ``(seed, rank, iteration)``.

    What an iteration draws (RPN and RoI sampling, ...) then depends on these alone, not on
    what ran before it: a run resumed at iteration ``i`` draws what the uninterrupted run
    draws there, although the latter evaluated, checkpointed or restarted its data loader
    at other points. The seed is saved in checkpoints (this hook's state) and restored.

    Args:
        seed: the same in every process (:func:`troi.utils.training_seed`).
    """

    def __init__(self, seed: int):
        self.seed = seed

    def before_step(self):
        seed_global_rngs(_ITERATION_STREAM, self.seed, comm.get_rank(), self.trainer.iter)

    def state_dict(self) -> dict:
        return {"seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])

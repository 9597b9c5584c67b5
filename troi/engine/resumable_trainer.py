"""detectron2's DefaultTrainer, resumed exactly where it stopped."""

import logging
import weakref

from detectron2.engine import DefaultTrainer

from ..checkpoint import AtomicCheckpointer
from ..utils import training_seed
from .hooks import IterationSeed

__all__ = ["ResumableTrainer"]

logger = logging.getLogger(__name__)


class ResumableTrainer(DefaultTrainer):
    """:class:`DefaultTrainer` whose ``resume_or_load(resume=True)`` continues an interrupted
    run as if it had never stopped: with a fixed seed on CPU, the weights after ``N``
    iterations are bit for bit those of an uninterrupted run, for any
    ``DATALOADER.NUM_WORKERS`` of either part.

    A checkpoint holds, besides the model: the optimizer's state (SGD momentum; see
    :func:`troi.compat.checkpoint_trainer_optimizer`), the LR scheduler's, the iteration,
    the train loader's seed and position (``build_train_loader`` must return a
    :class:`troi.data.ResumableTrainLoader`), and the seed of :class:`IterationSeed`,
    which seeds the global generators before every iteration. Checkpoints are written
    by an :class:`AtomicCheckpointer`: never half written.
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        if hasattr(self.data_loader, "state_dict"):
            self.checkpointer.add_checkpointable("train_loader", self.data_loader)
        else:
            logger.warning(
                f"the train loader ({type(self.data_loader).__name__}) has no state_dict: a resumed run "
                f"restarts its data order"
            )

    def build_hooks(self):
        """:class:`IterationSeed`, then DefaultTrainer's hooks. DefaultTrainer's ``__init__``
        calls this right after it made its checkpointer, which is replaced here by an
        :class:`AtomicCheckpointer` first, so that the ``PeriodicCheckpointer`` saves with it."""
        self.checkpointer = AtomicCheckpointer(
            self.checkpointer.model, self.cfg.OUTPUT_DIR, trainer=weakref.proxy(self)
        )
        return [IterationSeed(training_seed(self.cfg))] + super().build_hooks()

    def resume_or_load(self, resume: bool = True):
        super().resume_or_load(resume)
        position = getattr(self.data_loader, "batches", self.start_iter)
        if position != self.start_iter:
            logger.warning(
                f"the checkpoint puts the train loader at batch {position} but training resumes at "
                f"iteration {self.start_iter} (a checkpoint of an earlier version?): the data order differs "
                f"from an uninterrupted run's"
            )

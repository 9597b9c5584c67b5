"""Training runs that measure themselves, for the benchmarks (``benchmarks/*_gain.py``): one
job's config, its log in a file (the terminal shows a progress bar), and a :class:`Trainer`
run whose step times, loop time and peak memory are read before any evaluation."""

import logging
import os
import resource
import statistics
import sys
import time
from typing import Sequence, Tuple

from detectron2.config import CfgNode, get_cfg
from detectron2.engine import hooks
from detectron2.utils.logger import setup_logger
from torch import nn
from tqdm import tqdm

from ..config import add_troi_config
from .trainer import Trainer

__all__ = ["benchmark_cfg", "log_to_file", "train_measured"]


def benchmark_cfg(config: str, train_name: str, val_name: str, seed: int, output_dir: str, opts: Sequence = ()):
    """The frozen config of ``config`` on datasets ``train_name`` / ``val_name``, with
    ``SEED``, ``OUTPUT_DIR`` and then ``opts`` (``KEY VALUE ...``) merged in."""
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(config)
    cfg.merge_from_list(
        ["DATASETS.TRAIN", (train_name,), "DATASETS.TEST", (val_name,), "SEED", seed, "OUTPUT_DIR", output_dir, *opts]
    )
    cfg.freeze()
    return cfg


def log_to_file(output_dir: str) -> None:
    """detectron2's log into ``output_dir/log.txt`` only, not to the terminal."""
    os.makedirs(output_dir, exist_ok=True)
    logger = setup_logger(os.path.join(output_dir, "log.txt"), name="detectron2")
    for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
        logger.removeHandler(handler)


class _MeasuringTrainer(Trainer):
    def build_hooks(self):  # evaluation runs after the peak memory is read
        return [hook for hook in super().build_hooks() if not isinstance(hook, hooks.EvalHook)]


class _Measure(hooks.HookBase):
    """A progress bar; each step's seconds and the training loop's."""

    def __init__(self, total: int, label: str):
        self.total, self.label = total, label
        self.step_seconds = []
        self.loop_seconds = None

    def before_train(self):
        self.bar = tqdm(total=self.total, desc=self.label, unit="it", file=sys.stderr)
        self.loop_start = time.perf_counter()

    def before_step(self):
        self.step_start = time.perf_counter()

    def after_step(self):
        self.step_seconds.append(time.perf_counter() - self.step_start)
        self.bar.update(1)

    def after_train(self):
        self.loop_seconds = time.perf_counter() - self.loop_start
        self.bar.close()


def train_measured(cfg: CfgNode, label: str) -> Tuple[nn.Module, dict]:
    """Train ``cfg`` from scratch without its periodic evaluation.

    Returns:
        the trained model and ``{"train_seconds", "step_seconds", "peak_memory_mb"}``: the
        training loop's wall clock, the median step after the first tenth (warm-up), and
        this process's peak resident memory so far.
    """
    trainer = _MeasuringTrainer(cfg)
    measure = _Measure(cfg.SOLVER.MAX_ITER, label)
    trainer.register_hooks([measure])
    trainer.resume_or_load(resume=False)
    trainer.train()
    warm = measure.step_seconds[len(measure.step_seconds) // 10 :] or measure.step_seconds
    return trainer.model, {
        "train_seconds": measure.loop_seconds,
        "step_seconds": statistics.median(warm),
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }

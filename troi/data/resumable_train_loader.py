"""A training data loader that a checkpoint restarts at the batch where it stopped.

detectron2's train loader draws the data order from a generator it advances as it goes
and the augmentations from the global generators of whichever process maps a sample (a
worker's, with ``NUM_WORKERS > 0``), so a run restarted from a checkpoint sees other data
than the run it continues. Here batch ``k`` of a rank is a function of the seed alone:

1. the dataset indices are detectron2's training sampler's
   (``DATALOADER.SAMPLER_TRAIN``) for that seed, sharded by rank as detectron2 does;
2. they are cut into batches of ``SOLVER.IMS_PER_BATCH / world size``, with
   ``DATALOADER.ASPECT_RATIO_GROUPING`` by detectron2's ``AspectRatioGroupedDataset``,
   applied to the indices and their dataset dicts' ``width``/``height`` (no image is read);
3. sample ``j`` of batch ``k`` is mapped with Python's, NumPy's and torch's global
   generators seeded by ``(seed, rank, k, j)`` (:func:`troi.utils.seeded_global_rngs`),
   in whichever process maps it.

So the batches are the same for any ``NUM_WORKERS``, and restarting at batch ``k`` replays
steps 1-2 on integers to skip the first ``k`` (0.25 s for 100,000 batches of 2 here).
"""

import itertools
from typing import Callable, Iterator, List, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from detectron2.data.build import trivial_batch_collator
from detectron2.data.common import AspectRatioGroupedDataset, DatasetFromList
from detectron2.data.samplers import RepeatFactorTrainingSampler, TrainingSampler
from detectron2.utils import comm

from ..utils import seeded_global_rngs, training_seed

__all__ = ["ResumableTrainLoader", "TrainingBatches", "resumable_train_loader", "training_index_sampler"]

_DATA_STREAM = 0  # first key word of the samples' seeds (troi.engine.IterationSeed uses another)


def training_index_sampler(cfg, dataset_dicts: Sequence[dict]) -> Callable[[int], Sampler]:
    """A function ``seed -> sampler`` making detectron2's ``DATALOADER.SAMPLER_TRAIN`` over
    ``dataset_dicts`` (an endless stream of this rank's indices)."""
    name = cfg.DATALOADER.SAMPLER_TRAIN
    if name == "TrainingSampler":
        return lambda seed: TrainingSampler(len(dataset_dicts), seed=seed)
    if name == "RepeatFactorTrainingSampler":
        factors = RepeatFactorTrainingSampler.repeat_factors_from_category_frequency(
            dataset_dicts, cfg.DATALOADER.REPEAT_THRESHOLD
        )
        return lambda seed: RepeatFactorTrainingSampler(factors, seed=seed)
    raise ValueError(
        f"DATALOADER.SAMPLER_TRAIN {name!r} is not supported: choose TrainingSampler or RepeatFactorTrainingSampler"
    )


class TrainingBatches(Sampler):
    """``(k, indices)`` of this rank's batches ``k = start, start + 1, ...`` (endless).

    Args:
        index_sampler: this rank's endless stream of dataset indices.
        sizes: ``(width, height)`` of every dataset dict, for aspect-ratio grouping.
        batch_size: images per batch on this rank.
        aspect_ratio_grouping: batches of only landscape or only portrait images.
        start: the first batch.
    """

    def __init__(
        self,
        index_sampler: Sampler,
        sizes: Sequence[Tuple[int, int]],
        batch_size: int,
        aspect_ratio_grouping: bool,
        start: int = 0,
    ):
        self._index_sampler = index_sampler
        self._sizes = sizes
        self._batch_size = batch_size
        self._aspect_ratio_grouping = aspect_ratio_grouping
        self._start = start

    def __iter__(self) -> Iterator[Tuple[int, List[int]]]:
        indices = iter(self._index_sampler)
        if self._aspect_ratio_grouping:
            records = ({"index": i, "width": self._sizes[i][0], "height": self._sizes[i][1]} for i in indices)
            batches = (
                [record["index"] for record in batch] for batch in AspectRatioGroupedDataset(records, self._batch_size)
            )
        else:
            batches = iter(lambda: list(itertools.islice(indices, self._batch_size)), [])
        yield from itertools.islice(enumerate(batches), self._start, None)


class _MappedBatches(Dataset):
    """Batch ``(k, indices)`` -> its mapped dicts, sample ``j`` mapped under the global
    generators seeded by ``(seed, rank, k, j)``."""

    def __init__(self, dataset: DatasetFromList, mapper: Callable[[dict], dict], seed: int, rank: int):
        self._dataset, self._mapper, self._seed, self._rank = dataset, mapper, seed, rank

    def __getitem__(self, batch: Tuple[int, List[int]]) -> List[dict]:
        number, indices = batch
        return [self._map(number, slot, index) for slot, index in enumerate(indices)]

    def _map(self, number: int, slot: int, index: int) -> dict:
        dataset_dict = self._dataset[index]
        with seeded_global_rngs(_DATA_STREAM, self._seed, self._rank, number, slot):
            mapped = self._mapper(dataset_dict)
        if mapped is None:
            raise ValueError(f"the train mapper returned None for {dataset_dict.get('file_name', dataset_dict)}")
        return mapped


class ResumableTrainLoader:
    """An endless iterable of training batches (lists of mapped dataset dicts) whose
    position a checkpoint saves and restores (see the module docstring).

    ``state_dict()`` is ``{"seed", "batches"}`` (batches handed out so far);
    ``load_state_dict`` sets them for the next ``iter()``, which starts its workers lazily,
    at its first batch. Iterate it once at a time.

    Args:
        dataset_dicts: the target frames trained on.
        mapper: dataset dict -> model input.
        index_sampler: ``seed -> sampler`` (:func:`training_index_sampler`).
        seed: seed of the data order and the augmentations (the same in every process).
        batch_size: images per batch on this rank.
        aspect_ratio_grouping: as ``DATALOADER.ASPECT_RATIO_GROUPING``.
        num_workers: data-loading processes (0: map in the main process).
    """

    def __init__(
        self,
        dataset_dicts: List[dict],
        mapper: Callable[[dict], dict],
        index_sampler: Callable[[int], Sampler],
        *,
        seed: int,
        batch_size: int,
        aspect_ratio_grouping: bool,
        num_workers: int,
    ):
        # only grouping reads the sizes (video recognition clips have none)
        self._sizes = [(record["width"], record["height"]) for record in dataset_dicts] if aspect_ratio_grouping else []
        self._dataset = DatasetFromList(dataset_dicts, copy=False)
        self._mapper = mapper
        self._index_sampler = index_sampler
        self._batch_size = batch_size
        self._aspect_ratio_grouping = aspect_ratio_grouping
        self._num_workers = num_workers
        self.seed = seed
        self.batches = 0

    def __iter__(self) -> Iterator[List[dict]]:
        rank = comm.get_rank()
        batches = TrainingBatches(
            self._index_sampler(self.seed),
            self._sizes,
            self._batch_size,
            self._aspect_ratio_grouping,
            start=self.batches,
        )
        loader = DataLoader(
            _MappedBatches(self._dataset, self._mapper, self.seed, rank),
            sampler=batches,
            batch_size=None,
            num_workers=self._num_workers,
            collate_fn=trivial_batch_collator,
            generator=torch.Generator().manual_seed(self.seed),
        )  # not the global generator
        for batch in loader:
            self.batches += 1
            yield batch

    def state_dict(self) -> dict:
        return {"seed": self.seed, "batches": self.batches}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.batches = int(state["seed"]), int(state["batches"])


def resumable_train_loader(cfg, dataset_dicts: Sequence[dict], mapper, aspect_ratio_grouping: bool):
    """The :class:`ResumableTrainLoader` of ``cfg`` over ``dataset_dicts``: its index sampler
    (:func:`training_index_sampler`), ``cfg``'s training seed, ``SOLVER.IMS_PER_BATCH`` split
    over the training processes (a ValueError if it does not divide) and
    ``DATALOADER.NUM_WORKERS``."""
    world_size = comm.get_world_size()
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ValueError(
            f"SOLVER.IMS_PER_BATCH {cfg.SOLVER.IMS_PER_BATCH} is not a multiple of the {world_size} training processes"
        )
    return ResumableTrainLoader(
        dataset_dicts,
        mapper,
        training_index_sampler(cfg, dataset_dicts),
        seed=training_seed(cfg),
        batch_size=cfg.SOLVER.IMS_PER_BATCH // world_size,
        aspect_ratio_grouping=aspect_ratio_grouping,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )

"""Train and test data loaders of video recognition clips."""

from typing import Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_test_loader, get_detection_dataset_dicts

from .clip_mapper import ClipDatasetMapper
from .resumable_train_loader import ResumableTrainLoader, resumable_train_loader

__all__ = [
    "RECOGNITION_EVALUATOR_TYPE",
    "build_clip_train_loader",
    "build_clip_test_loader",
    "check_num_classes",
    "is_recognition_dataset",
]

RECOGNITION_EVALUATOR_TYPE = "recognition"


def is_recognition_dataset(dataset_names: Sequence[str]) -> bool:
    """Whether the datasets are video recognition ones (``evaluator_type`` "recognition" in
    their metadata): all of them or none, else ValueError."""
    kinds = {
        name: MetadataCatalog.get(name).get("evaluator_type") == RECOGNITION_EVALUATOR_TYPE for name in dataset_names
    }
    if len(set(kinds.values())) > 1:
        raise ValueError(
            f"datasets {list(dataset_names)} mix video recognition ({[n for n, r in kinds.items() if r]}) "
            "and detection datasets"
        )
    return any(kinds.values())


def check_num_classes(cfg, dataset_names: Sequence[str]) -> None:
    """ValueError unless every dataset's ``num_classes`` (when its metadata has one) is
    ``MODEL.RECOGNITION_HEAD.NUM_CLASSES``."""
    expected = cfg.MODEL.RECOGNITION_HEAD.NUM_CLASSES
    for name in dataset_names:
        num_classes = MetadataCatalog.get(name).get("num_classes")
        if num_classes is not None and num_classes != expected:
            raise ValueError(
                f"dataset {name!r} has {num_classes} classes but MODEL.RECOGNITION_HEAD.NUM_CLASSES is "
                f"{expected}: set MODEL.RECOGNITION_HEAD.NUM_CLASSES {num_classes}"
            )


def build_clip_train_loader(cfg, mapper=None) -> ResumableTrainLoader:
    """The train loader over the clips of ``cfg.DATASETS.TRAIN``, mapped by
    :class:`ClipDatasetMapper`, ``SOLVER.IMS_PER_BATCH`` clips per batch (all ranks). It is
    a :class:`ResumableTrainLoader`: batches depend on ``cfg.SEED`` alone, and a checkpoint
    restarts it where it stopped."""
    check_num_classes(cfg, cfg.DATASETS.TRAIN)
    dataset_dicts = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
    if mapper is None:
        mapper = ClipDatasetMapper(cfg, is_train=True, dataset_names=cfg.DATASETS.TRAIN)
    return resumable_train_loader(cfg, dataset_dicts, mapper, aspect_ratio_grouping=False)


def build_clip_test_loader(cfg, dataset_name: str, mapper=None):
    """detectron2's test loader over every clip of ``dataset_name`` (one per batch)."""
    check_num_classes(cfg, [dataset_name])
    dataset_dicts = DatasetCatalog.get(dataset_name)
    if not dataset_dicts:
        raise ValueError(f"dataset {dataset_name!r} has no clips")
    if mapper is None:
        mapper = ClipDatasetMapper(cfg, is_train=False)
    return build_detection_test_loader(dataset_dicts, mapper=mapper, num_workers=cfg.DATALOADER.NUM_WORKERS)

"""Train and test data loaders of frame groups."""
from detectron2.data import (
    DatasetCatalog,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)

from .frame_group_mapper import FrameGroupDatasetMapper
from .samplers import VideoInferenceSampler
from .video_index import VideoIndex
from .vis_frame_group_mapper import VISFrameGroupDatasetMapper

__all__ = ["build_frame_group_train_loader", "build_frame_group_test_loader", "training_targets"]


def training_targets(dataset_dicts, filter_empty: bool):
    """The frames trained on as targets: key frames (``is_key_frame``, default True), with at
    least one non-crowd annotation when ``filter_empty``."""
    targets = [d for d in dataset_dicts if d.get("is_key_frame", True)]
    if filter_empty:
        targets = [d for d in targets if any(not a.get("iscrowd", 0) for a in d.get("annotations", []))]
    return targets


def build_frame_group_train_loader(cfg, mapper=None):
    """detectron2's train loader over the key frames of ``cfg.DATASETS.TRAIN``, each mapped
    with its support frames (drawn from all frames of its video) and, with
    ``MODEL.TRACK_HEAD.ENABLED``, its reference frame (:class:`VISFrameGroupDatasetMapper`)."""
    dataset_dicts = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
    targets = training_targets(dataset_dicts, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    if not targets:
        raise ValueError(f"no training target frames in {cfg.DATASETS.TRAIN}: no key frame has annotations")
    if mapper is None:
        tracking = cfg.MODEL.TRACK_HEAD.ENABLED
        mapper_class = VISFrameGroupDatasetMapper if tracking else FrameGroupDatasetMapper
        mapper = mapper_class(cfg, is_train=True, videos=VideoIndex(dataset_dicts, keep_annotations=tracking))
    return build_detection_train_loader(cfg, mapper=mapper, dataset=targets)


def build_frame_group_test_loader(cfg, dataset_name: str, mapper=None):
    """detectron2's test loader over every frame of ``dataset_name``, with a
    :class:`VideoInferenceSampler` (whole videos per rank, frames in order)."""
    dataset_dicts = DatasetCatalog.get(dataset_name)
    if not dataset_dicts:
        raise ValueError(f"dataset {dataset_name!r} has no frames")
    if mapper is None:
        mapper = FrameGroupDatasetMapper(cfg, is_train=False, videos=VideoIndex(dataset_dicts))
    return build_detection_test_loader(dataset_dicts, mapper=mapper, sampler=VideoInferenceSampler(dataset_dicts),
                                       num_workers=cfg.DATALOADER.NUM_WORKERS)

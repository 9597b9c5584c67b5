"""Train and test data loaders of frame groups."""

from detectron2.data import DatasetCatalog, MetadataCatalog, build_detection_test_loader, get_detection_dataset_dicts
from detectron2.modeling import META_ARCH_REGISTRY

from ..modeling.video_inference_cache import INFERENCE_CACHE_KEY, VideoInferenceCache
from .frame_group_mapper import FrameGroupDatasetMapper
from .resumable_train_loader import ResumableTrainLoader, resumable_train_loader
from .samplers import VideoInferenceSampler
from .support_frame_positions import frames_kept_at_test
from .video_index import VideoIndex
from .vis_frame_group_mapper import VISFrameGroupDatasetMapper

__all__ = [
    "CachedInferenceLoader",
    "build_frame_group_train_loader",
    "build_frame_group_test_loader",
    "check_num_classes",
    "training_targets",
]


def training_targets(dataset_dicts, filter_empty: bool):
    """The frames trained on as targets: key frames (``is_key_frame``, default True), with at
    least one non-crowd annotation when ``filter_empty``."""
    targets = [d for d in dataset_dicts if d.get("is_key_frame", True)]
    if filter_empty:
        targets = [d for d in targets if any(not a.get("iscrowd", 0) for a in d.get("annotations", []))]
    return targets


def check_num_classes(cfg, dataset_names) -> None:
    """ValueError unless every (loaded) dataset of ``dataset_names`` has
    ``MODEL.ROI_HEADS.NUM_CLASSES`` classes."""
    expected = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    for name in dataset_names:
        metadata = MetadataCatalog.get(name)
        classes = metadata.get("thing_classes")
        if classes is not None and len(classes) != expected:
            source = f" ({metadata.json_file})" if metadata.get("json_file") else ""
            raise ValueError(
                f"dataset {name!r}{source} has {len(classes)} classes but MODEL.ROI_HEADS.NUM_CLASSES is "
                f"{expected}: set MODEL.ROI_HEADS.NUM_CLASSES {len(classes)}"
            )


def build_frame_group_train_loader(cfg, mapper=None) -> ResumableTrainLoader:
    """The train loader over the key frames of ``cfg.DATASETS.TRAIN``, each mapped with its
    support frames (drawn from all frames of its video) and, with
    a meta-architecture that ``trains_on_reference_frames`` (MaskTrackRCNN), its reference frame
    (:class:`VISFrameGroupDatasetMapper`).
    It is a :class:`ResumableTrainLoader`: its batches depend on ``cfg.SEED`` alone, whatever
    ``DATALOADER.NUM_WORKERS``, and a checkpoint restarts it where it stopped."""
    dataset_dicts = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
    check_num_classes(cfg, cfg.DATASETS.TRAIN)
    targets = training_targets(dataset_dicts, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
    if not targets:
        raise ValueError(f"no training target frames in {cfg.DATASETS.TRAIN}: no key frame has annotations")
    if mapper is None:
        tracking = getattr(META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE), "trains_on_reference_frames", False)
        mapper_class = VISFrameGroupDatasetMapper if tracking else FrameGroupDatasetMapper
        mapper = mapper_class(cfg, is_train=True, videos=VideoIndex(dataset_dicts, keep_annotations=tracking))
    return resumable_train_loader(cfg, targets, mapper, cfg.DATALOADER.ASPECT_RATIO_GROUPING)


class CachedInferenceLoader:
    """A test loader whose frame groups all carry one :class:`VideoInferenceCache` per pass
    (``"inference_cache"``), so the model computes each frame once while it is a support
    of the targets that follow. The loader owns the cache; a new pass starts a new one.

    Args:
        loader: yields lists of model inputs (a detectron2 test loader).
        max_frames: frames the cache holds.
    """

    def __init__(self, loader, max_frames: int):
        self.loader = loader
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        cache = VideoInferenceCache(self.max_frames)
        for batch in self.loader:
            for inputs in batch:
                inputs[INFERENCE_CACHE_KEY] = cache
            yield batch


def build_frame_group_test_loader(cfg, dataset_name: str, mapper=None):
    """detectron2's test loader over every frame of ``dataset_name``, with a
    :class:`VideoInferenceSampler` (whole videos per rank, frames in order) and a
    :class:`CachedInferenceLoader` cache of the frames of two support sets."""
    dataset_dicts = DatasetCatalog.get(dataset_name)
    if not dataset_dicts:
        raise ValueError(f"dataset {dataset_name!r} has no frames")
    check_num_classes(cfg, [dataset_name])
    if mapper is None:
        mapper = FrameGroupDatasetMapper(cfg, is_train=False, videos=VideoIndex(dataset_dicts))
    loader = build_detection_test_loader(
        dataset_dicts,
        mapper=mapper,
        sampler=VideoInferenceSampler(dataset_dicts),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
    support = cfg.INPUT.SUPPORT_FRAMES.TEST
    return CachedInferenceLoader(loader, max_frames=frames_kept_at_test(support.NUM, support.INCLUDE_TARGET))

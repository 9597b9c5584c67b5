"""The trainer of ``train_net.py``: detectron2's DefaultTrainer on this project's data."""

import os

from detectron2.data import MetadataCatalog

from ..data import (
    build_clip_test_loader,
    build_clip_train_loader,
    build_frame_group_test_loader,
    build_frame_group_train_loader,
    is_recognition_dataset,
)
from ..evaluation import RecognitionEvaluator, VIDEvaluator, YTVISEvaluator
from ..solver import build_optimizer
from .resumable_trainer import ResumableTrainer

__all__ = ["Trainer"]


class Trainer(ResumableTrainer):
    """DefaultTrainer whose loaders yield frame groups, whose evaluators score videos, and
    whose ``--resume`` continues a run exactly (:class:`ResumableTrainer`)."""

    @classmethod
    def build_train_loader(cls, cfg):
        if is_recognition_dataset(cfg.DATASETS.TRAIN):  # video recognition: clips of T frames
            return build_clip_train_loader(cfg)
        return build_frame_group_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        if is_recognition_dataset([dataset_name]):
            return build_clip_test_loader(cfg, dataset_name)
        return build_frame_group_test_loader(cfg, dataset_name)

    @classmethod
    def build_optimizer(cls, cfg, model):
        return build_optimizer(cfg, model)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        evaluator_type = MetadataCatalog.get(dataset_name).get("evaluator_type")
        if evaluator_type == "vid":
            return VIDEvaluator(dataset_name, output_dir=output_folder)
        if evaluator_type == "ytvis":
            return YTVISEvaluator(dataset_name, output_dir=output_folder)
        if evaluator_type == "recognition":
            return RecognitionEvaluator(dataset_name, output_dir=output_folder)
        raise ValueError(f"no evaluator for dataset {dataset_name!r} (evaluator_type={evaluator_type!r})")

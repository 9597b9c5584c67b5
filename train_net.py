#!/usr/bin/env python
"""Train and evaluate video detectors and video instance segmenters with Temporal RoI Align
and SELSA.

detectron2's ``train_net.py``, on frame groups (a target frame with its support frames):

    python train_net.py --config-file configs/synthetic/troi_tiny_dc5.yaml
    python train_net.py --config-file configs/synthetic/troi_tiny_dc5.yaml --eval-only MODEL.WEIGHTS out/model_final.pth
    python train_net.py --config-file configs/synthetic/masktrack_troi_tiny_fpn.yaml  # VIS: MaskTrack R-CNN
    python train_net.py --config-file configs/synthetic/tanet_tiny.yaml  # video recognition: TANet

Datasets whose metadata says ``evaluator_type: "recognition"`` are read as clips of
``INPUT.CLIP.NUM_SEGMENTS`` frames and scored by top-1 / top-5 / mean class accuracy.

``--num-gpus N`` starts N worker processes: on GPUs with NCCL, or without CUDA, on CPU with gloo.
"""
import os

import troi  # noqa: F401  (compat shims before detectron2 imports)
from detectron2.config import get_cfg
from detectron2.data import MetadataCatalog
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from troi import add_troi_config
from troi.checkpoint import AtomicCheckpointer
from troi.compat import launch
from troi.data import (
    build_clip_test_loader,
    build_clip_train_loader,
    build_frame_group_test_loader,
    build_frame_group_train_loader,
    is_recognition_dataset,
)
from troi.engine import ResumableTrainer
from troi.evaluation import RecognitionEvaluator, VIDEvaluator, YTVISEvaluator
from troi.solver import build_optimizer


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


def setup(args):
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    # default_setup logs "detectron2" and "fvcore"; the evaluators' tables log to "troi".
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="troi", abbrev_name="troi")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        AtomicCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))

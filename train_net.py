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

import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from troi import add_troi_config
from troi.checkpoint import AtomicCheckpointer
from troi.compat import launch
from troi.engine import Trainer

__all__ = ["Trainer", "main", "setup"]


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
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )

#!/usr/bin/env python
"""Convert an mmaction2 0.24 TANet checkpoint into a detectron2 checkpoint of this project.

    python tools/convert_mmaction2_checkpoint.py IN.pth OUT.pkl [--config-file CONFIG.yaml] [--opts KEY VALUE ...]

OUT.pkl loads as ``MODEL.WEIGHTS`` of CONFIG.yaml (default: the Kinetics-400 TANet-R50
8-segment config), e.g.

    python train_net.py --config-file configs/kinetics400/tanet_r50_1x1x8.yaml --eval-only MODEL.WEIGHTS OUT.pkl

Every parameter is mapped (``troi.converters.mmaction2_tanet``) and checked against the
model of CONFIG.yaml (names, shapes): anything unmapped, missing or of the wrong shape is
an error naming it, and nothing is written then. Converting the same file twice gives the
same bytes.
"""

import argparse
import sys
from pathlib import Path

import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from detectron2.config import get_cfg
from troi import add_troi_config
from troi.converters.mmaction2_tanet import convert_tanet_checkpoint, write_tanet_checkpoint

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "kinetics400" / "tanet_r50_1x1x8.yaml"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="mmaction2 TANet .pth checkpoint")
    parser.add_argument("output", help="detectron2 checkpoint to write (.pkl)")
    parser.add_argument(
        "--config-file",
        default=str(DEFAULT_CONFIG),
        help="the detectron2 config whose model the checkpoint must fill (default: %(default)s)",
    )
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="unpickle any Python object in the checkpoint (only for files you trust)",
    )
    parser.add_argument(
        "--opts",
        default=[],
        nargs=argparse.REMAINDER,
        help="config KEY VALUE pairs, last (e.g. --opts MODEL.RECOGNITION_HEAD.NUM_CLASSES 174)",
    )
    args = parser.parse_args(argv)
    if not args.output.endswith(".pkl"):
        parser.error(f"the output must be a .pkl file (detectron2's format for converted weights), got {args.output}")
    try:
        cfg = get_cfg()
        add_troi_config(cfg)
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(args.opts)
        model = convert_tanet_checkpoint(args.input, cfg, trust=args.trust_checkpoint)
        write_tanet_checkpoint(model, args.output)
    except (OSError, ValueError, KeyError) as error:
        print(f"convert_mmaction2_checkpoint: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({len(model)} tensors, checked against {args.config_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

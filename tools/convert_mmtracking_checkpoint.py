#!/usr/bin/env python
"""Convert an mmtracking 0.14 checkpoint (SELSA, SELSA + Temporal RoI Align, MaskTrack R-CNN)
or a torchvision ImageNet ResNet into a detectron2 checkpoint of this project.

    python tools/convert_mmtracking_checkpoint.py IN.pth OUT.pkl [--config-out OUT.yaml]

OUT.pkl loads as ``MODEL.WEIGHTS``. ``--config-out`` writes the detectron2 config of the
checkpoint's model, read from the mmtracking config it carries (``meta['config']``) or from
``--mmtracking-config``; evaluate with

    python train_net.py --config-file OUT.yaml --eval-only

Every parameter is mapped and checked against the model of that config (names, shapes);
anything left over or missing is an error naming it, and nothing is written then.
Converting the same file twice gives the same bytes.
"""

import argparse
import sys

import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
from troi.converters.mmtracking_checkpoint import convert_checkpoint, write_converted


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="mmtracking (or torchvision) .pth checkpoint")
    parser.add_argument("output", help="detectron2 checkpoint to write (.pkl)")
    parser.add_argument("--config-out", help="also write the detectron2 config of the model (.yaml)")
    parser.add_argument("--mmtracking-config", help="the mmtracking config file (instead of meta['config'])")
    parser.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="unpickle any Python object in the checkpoint (only for files you trust)",
    )
    args = parser.parse_args(argv)
    if not args.output.endswith(".pkl"):
        parser.error(f"the output must be a .pkl file (detectron2's format for converted weights), got {args.output}")
    try:
        converted = convert_checkpoint(
            args.input, mmtracking_config=args.mmtracking_config, weights_path=args.output, trust=args.trust_checkpoint
        )
        write_converted(converted, args.output, args.config_out)
    except (OSError, ValueError) as error:
        print(f"convert_mmtracking_checkpoint: error: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.output} ({converted.kind}, {len(converted.model)} tensors)"
        + (f" and {args.config_out}" if args.config_out else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

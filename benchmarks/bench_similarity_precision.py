#!/usr/bin/env python
"""Benchmark: the reduced-precision similarity search on a trained model: its points and AP.

Evaluates ``--config-file`` with ``--weights`` on its test set (``train_net.py --eval-only``'s
evaluation) twice, with ``MODEL.TROI.SIMILARITY_PRECISION`` "exact" and ``--precision``.
During the exact evaluation, the inputs of the first ``--calls`` Temporal RoI Align calls
are kept; on them, the fraction of (support frame, RoI cell) pairs whose K most similar
points are the same in both precisions is counted. ``--force-precision`` takes the
reduced-precision path even where the hardware has no fast product (then only the points
and the AP mean something, not the time). Prints one JSON line: each evaluation's metrics
and seconds, the AP50 difference, the agreement.

    python benchmarks/bench_similarity_precision.py --config-file configs/synthetic/troi_tiny_dc5.yaml \\
        --weights output/synthetic/troi_tiny_dc5/model_final.pth --precision bfloat16 --force-precision
"""

import argparse
import json
import tempfile
import time

import torch

import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
import troi.layers.low_precision_search as low_precision_search
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from troi import add_troi_config
from troi.engine import Trainer
from troi.layers import TemporalRoIAlign


def same_points(operators, recorded, precision):
    """Fraction of (support frame, cell) pairs of the ``recorded`` calls with the same points."""
    same = total = 0
    with torch.no_grad():
        for operator, roi_feats, support in recorded:
            points = {}
            for name in ("exact", precision):
                operator.similarity_precision = name
                points[name] = operator.similar_points(roi_feats, support).indices.sort(dim=2).values
            agree = (points["exact"] == points[precision]).all(dim=2)
            same, total = same + int(agree.sum()), total + agree.numel()
    for operator in operators:
        operator.similarity_precision = "exact"
    return same / max(total, 1), total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--precision", choices=["bfloat16", "float16"], default="bfloat16")
    parser.add_argument("--force-precision", action="store_true", help="reduced precision without a fast product")
    parser.add_argument("--calls", type=int, default=50, help="operator calls whose points are compared")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="config KEY VALUE pairs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.force_precision:
        low_precision_search.fast_low_precision_product = lambda device, dtype: True
    with tempfile.TemporaryDirectory(prefix="bench_similarity_precision_") as output_dir:
        cfg = get_cfg()
        add_troi_config(cfg)
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(["MODEL.WEIGHTS", args.weights, "OUTPUT_DIR", output_dir, *args.opts])
        if len(cfg.DATASETS.TEST) != 1:
            raise SystemExit(f"DATASETS.TEST must name one dataset, not {cfg.DATASETS.TEST}")
        cfg.freeze()
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
        operators = [module for module in model.modules() if isinstance(module, TemporalRoIAlign)]
        if not operators:
            raise SystemExit(f"{args.config_file} has no Temporal RoI Align (MODEL.TROI.ENABLED)")
        recorded = []

        def record(operator, inputs, output):
            if len(recorded) < args.calls:
                recorded.append((operator, inputs[0].detach(), inputs[1]))

        handles = [operator.register_forward_hook(record) for operator in operators]
        line = {"config_file": args.config_file, "precision": args.precision, "forced": args.force_precision}
        for precision in ("exact", args.precision):
            for operator in operators:
                operator.similarity_precision = precision
            start = time.perf_counter()
            results = Trainer.test(cfg, model)
            line[precision] = {"seconds": round(time.perf_counter() - start, 1)}
            metrics = results["bbox"]  # DefaultTrainer.test returns one dataset's results unnested
            line[precision].update({name: round(value, 3) for name, value in metrics.items() if "-" not in name})
            for handle in handles:
                handle.remove()
            handles = []
        line["AP50_difference"] = round(line[args.precision]["AP50"] - line["exact"]["AP50"], 3)
        line["same_points"], line["pairs_compared"] = same_points(operators, recorded, args.precision)
        line["same_points"] = round(line["same_points"], 5)
    print(json.dumps(line))


if __name__ == "__main__":
    main()

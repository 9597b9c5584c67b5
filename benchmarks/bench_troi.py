#!/usr/bin/env python
"""Benchmark: streamed ``TemporalRoIAlign`` vs a straightforward full-matrix implementation.

The default scale is R50-DC5 at test time: 300 RoIs, C=512, T=14 support frames of
38x63, K=2, N=4, 7x7 RoIs, CPU with 2 threads, inference (no grad). Each
implementation runs in its own process on the same inputs; its extra peak memory is
the peak resident set size during its first run minus the resident size before it.
Prints one JSON line.
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F


def full_matrix_temporal_roi_align(roi_feats, support_feats, embed, k, num_blocks):
    """The paper's equations written directly, with the whole similarity matrix.

    roi_feats ``[R, C, h, w]``, support_feats ``[T, C, H, W]`` -> ``[R, C, h, w]``.
    """
    num_rois, channels, height, width = roi_feats.shape
    num_support, _, support_h, support_w = support_feats.shape
    positions = support_h * support_w
    cells = roi_feats.permute(0, 2, 3, 1).reshape(-1, channels)  # (R*h*w, C)
    support_cells = support_feats.permute(0, 2, 3, 1).reshape(-1, channels)  # (T*H*W, C)
    # Eq. 2: cosine similarity of every cell to every support position of every frame.
    similarity = F.normalize(cells, dim=1) @ F.normalize(support_cells, dim=1).t()  # (R*h*w, T*H*W)
    scores, indices = similarity.view(-1, num_support, positions).topk(k, dim=2)  # (R*h*w, T, K)
    weights = scores.softmax(dim=2)  # eq. 3
    frame_offsets = torch.arange(num_support).view(1, num_support, 1) * positions
    gathered = support_cells[indices + frame_offsets]  # (R*h*w, T, K, C)
    most_similar = (weights.unsqueeze(3) * gathered).sum(dim=2)  # eq. 4: (R*h*w, T, C)
    most_similar = most_similar.view(num_rois, height, width, num_support, channels).permute(3, 0, 4, 1, 2)
    frames = torch.cat([roi_feats[None], most_similar])  # (T+1, R, C, h, w)
    if num_blocks == 0:
        return frames.mean(dim=0)
    block_channels = channels // num_blocks
    embeds = embed(frames.flatten(0, 1)).view(num_support + 1, num_rois, num_blocks, block_channels, height, width)
    logits = (embeds * embeds[:1]).sum(dim=3, keepdim=True) / math.sqrt(block_channels)  # eq. 6
    attention = logits.softmax(dim=0)  # eq. 7
    grouped = frames.view(num_support + 1, num_rois, num_blocks, block_channels, height, width)
    return (attention * grouped).sum(dim=0).view(num_rois, channels, height, width)  # eq. 8


def near_tie_cells(roi_feats, support_feats, k, margin):
    """``[R, h, w]`` bool: RoI cells whose output can change with float32 rounding.

    A cell is near-tied when, in some support frame, its K-th and (K+1)-th cosine
    similarities differ by less than ``margin``: two float32 summation orders may then
    pick different points. Through the 3x3 embedding, such a cell also changes the
    attention of its 3x3 neighbours, so the mask is dilated by one cell.
    """
    num_rois, channels, height, width = roi_feats.shape
    cells = F.normalize(roi_feats.permute(0, 2, 3, 1).reshape(-1, channels).double(), dim=1)
    tied = torch.zeros(cells.shape[0], dtype=torch.bool)
    for support_frame in support_feats:
        normalized = F.normalize(support_frame.flatten(1).double(), dim=0)  # (C, H*W)
        for start in range(0, cells.shape[0], 2048):
            top = (cells[start : start + 2048] @ normalized).topk(k + 1, dim=1).values
            tied[start : start + 2048] |= (top[:, k - 1] - top[:, k]) < margin
    tied = tied.view(num_rois, 1, height, width).float()
    return F.max_pool2d(tied, kernel_size=3, stride=1, padding=1)[:, 0].bool()


def current_rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_worker(implementation, inputs_path, output_path, repeats):
    from troi.layers import TemporalRoIAlign

    data = torch.load(inputs_path)
    args = data["args"]
    operator = TemporalRoIAlign(args["channels"], args["k"], args["blocks"])
    if args["blocks"] > 0:
        operator.embed.load_state_dict(data["embed"])
    if implementation == "troi":

        def run():
            return operator(data["roi_feats"], data["support_feats"])
    else:

        def run():
            return full_matrix_temporal_roi_align(
                data["roi_feats"], data["support_feats"], operator.embed, args["k"], args["blocks"]
            )

    with torch.no_grad():
        baseline = current_rss_mb()
        start = time.perf_counter()
        output = run()
        first_seconds = time.perf_counter() - start
        extra_peak = peak_rss_mb() - baseline
        times = [first_seconds]
        for _ in range(repeats - 1):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    torch.save(output, output_path)
    print(json.dumps({"seconds": min(times), "extra_peak_mb": extra_peak}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rois", type=int, default=300)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--support-frames", type=int, default=14)
    parser.add_argument("--height", type=int, default=38)
    parser.add_argument("--width", type=int, default=63)
    parser.add_argument("--roi-size", type=int, default=7)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per implementation (min is kept)")
    parser.add_argument(
        "--tie-margin",
        type=float,
        default=1e-6,
        help="K-th vs (K+1)-th similarity gap under which a cell counts as near-tied",
    )
    parser.add_argument("--worker", choices=["troi", "full_matrix"], help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        return run_worker(args.worker, args.inputs, args.output, args.repeats)

    from troi.layers import TemporalRoIAlign

    generator = torch.Generator().manual_seed(0)
    shape_args = {"channels": args.channels, "k": args.k, "blocks": args.blocks}
    data = {
        "args": shape_args,
        # post-ReLU features, as the DC5 neck (conv + ReLU) gives
        "roi_feats": torch.randn(args.rois, args.channels, args.roi_size, args.roi_size, generator=generator).relu(),
        "support_feats": torch.randn(
            args.support_frames, args.channels, args.height, args.width, generator=generator
        ).relu(),
    }
    torch.manual_seed(0)
    if args.blocks > 0:
        data["embed"] = TemporalRoIAlign(args.channels, args.k, args.blocks).embed.state_dict()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_troi_") as tmp:
        inputs_path = os.path.join(tmp, "inputs.pt")
        torch.save(data, inputs_path)
        outputs = {}
        for implementation in ("full_matrix", "troi"):
            outputs[implementation] = os.path.join(tmp, f"{implementation}.pt")
            print(f"running {implementation} ...", file=sys.stderr, flush=True)
            completed = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    implementation,
                    "--inputs",
                    inputs_path,
                    "--output",
                    outputs[implementation],
                    "--repeats",
                    str(args.repeats),
                    "--threads",
                    str(args.threads),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            results[implementation] = json.loads(completed.stdout.strip().splitlines()[-1])
        cell_diff = (torch.load(outputs["troi"]) - torch.load(outputs["full_matrix"])).abs().amax(dim=1)  # (R, h, w)
        tied = near_tie_cells(data["roi_feats"], data["support_feats"], args.k, args.tie_margin)
    full, troi = results["full_matrix"], results["troi"]
    print(
        json.dumps(
            {
                "rois": args.rois,
                "channels": args.channels,
                "support_frames": args.support_frames,
                "support_size": [args.height, args.width],
                "k": args.k,
                "blocks": args.blocks,
                "threads": args.threads,
                "full_matrix_seconds": round(full["seconds"], 3),
                "troi_seconds": round(troi["seconds"], 3),
                "time_ratio": round(troi["seconds"] / full["seconds"], 3),
                "full_matrix_extra_peak_mb": round(full["extra_peak_mb"], 1),
                "troi_extra_peak_mb": round(troi["extra_peak_mb"], 1),
                "memory_ratio": round(troi["extra_peak_mb"] / full["extra_peak_mb"], 4),
                "max_abs_diff": cell_diff.max().item(),
                "max_abs_diff_without_near_ties": cell_diff[~tied].max().item(),
                "near_tie_cells": int(tied.sum()),
                "cells": tied.numel(),
                "tie_margin": args.tie_margin,
            }
        )
    )


if __name__ == "__main__":
    main()

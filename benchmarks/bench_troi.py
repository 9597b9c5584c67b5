#!/usr/bin/env python
"""Benchmark: Temporal RoI Align against the bare similarity product, a full-matrix
implementation and float64; its reduced-precision search; its training step.

Mode ``operator`` (default), at R50-DC5 test scale by default (300 RoIs, C=512, T=14
support frames of 38x63, K=2, N=4, 7x7 RoIs, CPU, 2 threads, no grad, post-ReLU Gaussian
features). Each of these runs in its own process on the same inputs:

* ``bare_product``: the similarity product as one matrix product ``(R*h*w x C) @ (C x
  T*H*W)`` of unit vectors, nothing else (the irreducible work);
* ``chunked_product``: the same product the way the operator computes it (per frame,
  products of ``--chunk-size`` entries as 1x1 convolutions or matrix products, whichever
  this machine computes faster: ``troi.layers.similarity_product``; no top-K);
* ``full_matrix``: eq. 2-8 written directly, with the whole similarity matrix, float32;
  ``full_matrix_float64`` the same in float64 (the values to compare with);
* ``troi``: ``TemporalRoIAlign``, exact, as ``TemporalROIPooler`` calls it: given the RoI
  cells' RoI Align sampling (made in the timed run), it searches through it
  (``troi.layers.roi_cell_sampling``);
* ``troi_features_only``: the same operator given the RoI features alone;
  ``troi_<precision>`` with ``--precision``: that with its reduced-precision search
  (``--force-precision`` takes it even where the hardware has no fast product: the points
  can be compared there, its time means nothing; there, ``--low-precision-rois`` keeps
  the slow run to the first RoIs);
* with ``--precision``, the bounds on any reduced-precision search: ``given_points``, the
  operator given the RoI features with its search replaced by replaying the exact search's
  points (recorded in an untimed call): the work besides the search, which every search
  precision shares; and ``least_search_<precision>``, the least a search in that dtype
  does: its similarity product, in the reduced-precision search's chunks, and each cell's
  top K of it. No search in that precision can take less than their sum.

The RoI features are RoI Align's (7x7, 2x2 samples, aligned) of ``--rois`` random proposal
boxes (sides log-uniform in 30-540 pixels, clipped to the image) on a target map of the
support frames' size at stride 16.

Time: the fastest of ``--repeats`` runs. Extra peak memory: the peak resident set size
during the first run minus the resident size before it (with ``--device cuda``: the CUDA
allocator's peak minus what it held before). With ``--rounds N`` the processes of
``bare_product`` and the ``troi`` runs are started N times each, in alternating order, and
each keeps its fastest time and least peak; the line also gives each round's ratios.

A cell is *wrong* when its output differs from float64's by more than ``--wrong-above`` in
some channel; *near-tied* when in some frame its K-th and (K+1)-th similarities are within
``--tie-margin`` (dilated by one cell, as the 3x3 embedding spreads it).

Mode ``train_step``: one training iteration (forward + backward, no optimizer step) of
``--config-file`` (default SELSA + Temporal RoI Align R50-DC5, random weights) on one
frame group (a target and ``--support-frames`` supports of ``--image-size``, 5 boxes),
against the same config with ``MODEL.TROI.ENABLED False`` (RoI Align), each in its own
process; plus both poolers' operators alone (forward + backward) on the RoIs the model
samples. Peak memory: the most memory during the timed steps, the model and its gradients
included (resident memory on CPU, the CUDA allocator's on a GPU).

Both modes print one JSON line.

    python benchmarks/bench_troi.py
    python benchmarks/bench_troi.py --precision bfloat16 --force-precision
    python benchmarks/bench_troi.py --mode train_step
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from troi.utils.resident_memory import reset_peak_rss, resident_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 2**20


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
    frame_offsets = torch.arange(num_support, device=indices.device).view(1, num_support, 1) * positions
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


def unit_vectors(roi_feats, support_feats):
    """Eq. 2's unit vectors: ``[R*h*w, C]`` cells and ``[T, C, H, W]`` support frames."""
    cells = F.normalize(roi_feats.permute(0, 2, 3, 1).reshape(-1, roi_feats.shape[1]), dim=1)
    return cells, F.normalize(support_feats, dim=1)


def bare_product(roi_feats, support_feats):
    """``(R*h*w x C) @ (C x T*H*W)`` of unit vectors, as one matrix product."""
    cells, support = unit_vectors(roi_feats, support_feats)
    return cells @ support.permute(1, 0, 2, 3).flatten(1)  # (C, T*H*W)


def least_search(roi_feats, support_feats, dtype, chunk_size, k):
    """The least any search in ``dtype`` does: the similarity product in the reduced-precision
    search's chunks (its rows per chunk, the support side in ``dtype`` with the positions
    contiguous, ``troi.layers.similarity_product``) and each cell's top ``k`` of it; on the
    features as they are (their normalisation is ``given_points``' work, timed there)."""
    from troi.layers.low_precision_search import candidate_count
    from troi.layers.most_similar_roi_align import search_rows
    from troi.layers.similarity_product import similarity_product
    from troi.layers.top_k import top_k

    positions = support_feats.shape[2] * support_feats.shape[3]
    rows = search_rows(chunk_size, positions, candidate_count(k), roi_feats.shape[1])
    cells = roi_feats.permute(0, 2, 3, 1).flatten(0, 2).to(dtype)  # (R*h*w, C)
    for frame in support_feats:
        columns = frame.flatten(1).to(dtype).contiguous()  # (C, H*W)
        for start in range(0, cells.shape[0], rows):
            top_k(similarity_product(cells[start : start + rows], columns), k)


def replay_search(operator, roi_feats, support_feats):
    """Replace the search of ``operator``'s module (:func:`most_similar_unit_points`) with a
    replay of the points it finds for these inputs, in order, over and over."""
    import itertools

    import troi.layers.temporal_roi_align as module

    search, recorded = module.most_similar_unit_points, []

    def record(*args, **kwargs):
        recorded.append(search(*args, **kwargs))
        return recorded[-1]

    module.most_similar_unit_points = record
    operator(roi_feats, support_feats)  # one frame's points after the other
    replayed = itertools.cycle(recorded)
    module.most_similar_unit_points = lambda *args, **kwargs: next(replayed)


def chunked_product(roi_feats, support_feats, chunk_size):
    """The same product as the operator computes it: per frame, products of at most
    ``chunk_size`` entries the way this machine computes them faster
    (``troi.layers.similarity_product``), each chunk dropped once computed (no top-K)."""
    from troi.layers.similarity_product import similarity_product

    cells, support = unit_vectors(roi_feats, support_feats)
    rows = max(1, chunk_size // (support.shape[2] * support.shape[3]))
    for frame in support:
        columns = frame.flatten(1).t().contiguous().t()  # (C, H*W), as the search holds it
        for start in range(0, cells.shape[0], rows):
            similarity_product(cells[start : start + rows], columns)


def proposal_boxes(num, height, width, generator):
    """``[num, 4]`` random boxes in a ``height x width`` image: centres uniform, sides
    log-uniform in 30-540 pixels, clipped to the image."""
    centres = torch.rand(num, 2, generator=generator) * torch.tensor([width, height])
    sides = torch.exp(torch.empty(num, 2).uniform_(math.log(30), math.log(540), generator=generator))
    corners = torch.cat([centres - sides / 2, centres + sides / 2], dim=1)
    return torch.min(corners.clamp(min=0), torch.tensor([width, height, width, height], dtype=corners.dtype))


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


class PeakMemory:
    """Extra peak memory from :meth:`start` on: resident memory (Linux ``VmHWM``) on CPU, the
    CUDA caching allocator's allocated bytes on a GPU."""

    def __init__(self, device: torch.device):
        self.device = device

    def start(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
        else:
            self.baseline = resident_bytes()["VmRSS"]
            reset_peak_rss()

    def extra_peak_mb(self) -> float:
        if self.device.type == "cuda":
            return (torch.cuda.max_memory_allocated(self.device) - self.baseline) / MB
        return (resident_bytes()["VmHWM"] - self.baseline) / MB


def timed(device: torch.device, function):
    """``(seconds, function())``, waiting for the device to finish."""
    start = time.perf_counter()
    result = function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


def force_low_precision_product():
    """Take the reduced-precision search whatever the hardware (for comparing its points)."""
    import troi.layers.low_precision_search as low_precision_search

    low_precision_search.fast_low_precision_product = lambda device, dtype: True


def operator_worker(implementation, args):
    """Run one implementation on the saved inputs; save its output (and the operator's
    points); print its time and extra peak memory."""
    from troi.layers import TemporalRoIAlign
    from troi.layers.low_precision_search import SIMILARITY_PRECISIONS, search_dtype
    from troi.layers.roi_cell_sampling import roi_align_sampling

    device = torch.device(args.device)
    data = torch.load(args.inputs)
    shape = data["args"]
    roi_feats, support_feats = data["roi_feats"].to(device), data["support_feats"].to(device)
    target_map, boxes = data["target_map"].to(device), data["boxes"].to(device)
    # troi_features_only, troi_<precision>, given_points (features only, exact)
    features_only = implementation.startswith("troi_") or implementation == "given_points"
    precision = "exact" if implementation in ("troi", "troi_features_only", "given_points") else None
    precision = precision or (implementation[len("troi_") :] if features_only else "exact")
    if args.force_precision:
        force_low_precision_product()
    if precision != "exact" and args.low_precision_rois is not None:
        roi_feats = roi_feats[: args.low_precision_rois]
    operator = TemporalRoIAlign(
        shape["channels"],
        shape["k"],
        shape["blocks"],
        similarity_chunk_size=args.chunk_size,
        similarity_precision=precision,
    )
    if shape["blocks"] > 0:
        operator.embed.load_state_dict(data["embed"])
    operator.to(device)
    if implementation == "full_matrix_float64":
        operator.double()
        roi_feats, support_feats = roi_feats.double(), support_feats.double()

    def sampling():  # as TemporalROIPooler makes it
        return roi_align_sampling(target_map, boxes, roi_feats.shape[2:], 1 / 16, 2, True)

    def full_matrix():
        return full_matrix_temporal_roi_align(roi_feats, support_feats, operator.embed, shape["k"], shape["blocks"])

    if implementation == "given_points":
        with torch.no_grad():
            replay_search(operator, roi_feats, support_feats)
    run = {
        "bare_product": lambda: bare_product(roi_feats, support_feats),
        f"least_search_{args.precision}": lambda: least_search(
            roi_feats, support_feats, SIMILARITY_PRECISIONS[args.precision], args.chunk_size, shape["k"]
        ),
        "chunked_product": lambda: chunked_product(roi_feats, support_feats, args.chunk_size),
        "full_matrix": full_matrix,
        "full_matrix_float64": full_matrix,
    }.get(implementation, lambda: operator(roi_feats, support_feats, None if features_only else sampling()))
    with torch.no_grad():
        memory = PeakMemory(device)
        memory.start()
        seconds, output = timed(device, run)
        times = [seconds]
        extra_peak = memory.extra_peak_mb()
        repeats = 1 if implementation == "full_matrix_float64" else args.repeats
        for _ in range(repeats - 1):
            del output
            seconds, output = timed(device, run)
            times.append(seconds)
        result = {"seconds": min(times), "extra_peak_mb": extra_peak}
        if implementation.startswith("troi"):
            used = search_dtype(precision, roi_feats.device) or roi_feats.dtype
            result["search_dtype"] = str(used).replace("torch.", "")
            points = operator.similar_points(roi_feats, support_feats, None if features_only else sampling())
            torch.save({"output": output.cpu(), "indices": points.indices.cpu()}, args.output)
        elif implementation.startswith("full_matrix") or implementation == "given_points":
            torch.save({"output": output.cpu()}, args.output)
    print(json.dumps(result))


def run_in_process(implementation, args, inputs_path, output_path):
    """One worker in its own process; its JSON result."""
    print(f"running {implementation} ...", file=sys.stderr, flush=True)
    command = [sys.executable, os.path.abspath(__file__), "--worker", implementation, "--inputs", inputs_path]
    command += ["--output", output_path, "--repeats", str(args.repeats), "--threads", str(args.threads)]
    command += ["--chunk-size", str(args.chunk_size)] + (["--force-precision"] if args.force_precision else [])
    command += ["--config-file", args.config_file, "--image-size", *map(str, args.image_size)]
    command += ["--support-frames", str(args.support_frames), "--device", args.device]
    command += ["--flush-denormal"] if args.flush_denormal else []
    if args.low_precision_rois is not None:
        command += ["--low-precision-rois", str(args.low_precision_rois)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode:
        raise RuntimeError(f"{implementation} failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def alternating_runs(names, rounds, run):
    """``rounds`` rounds of ``run(name)`` for each of ``names``, in reversed order every other
    round (so that a drift of the machine's speed reaches all of them); per name its results."""
    runs = {name: [] for name in names}
    for round_index in range(rounds):
        for name in reversed(names) if round_index % 2 else names:
            runs[name].append(run(name))
    return runs


def fastest(runs):
    """Per key the least of the runs' values: the fastest time, the least peak memory."""
    return {key: min(run[key] for run in runs) for key in runs[0]}


def operator_benchmark(args):
    from troi.layers import TemporalRoIAlign

    from torchvision.ops import roi_align

    generator = torch.Generator().manual_seed(0)
    shape = {"channels": args.channels, "k": args.k, "blocks": args.blocks}
    # post-ReLU features, as the DC5 neck (conv + ReLU) gives
    target_map = torch.randn(args.channels, args.height, args.width, generator=generator).relu()
    boxes = proposal_boxes(args.rois, args.height * 16, args.width * 16, generator)
    data = {
        "args": shape,
        "target_map": target_map,
        "boxes": boxes,
        "roi_feats": roi_align(target_map[None], [boxes], args.roi_size, 1 / 16, 2, True),
        "support_feats": torch.randn(
            args.support_frames, args.channels, args.height, args.width, generator=generator
        ).relu(),
    }
    torch.manual_seed(0)
    if args.blocks > 0:
        data["embed"] = TemporalRoIAlign(args.channels, args.k, args.blocks).embed.state_dict()
    # the goals' ratios: --rounds processes each, alternating; the references once
    timed = ["bare_product", "troi", "troi_features_only"]
    if args.precision != "exact":
        timed += [f"troi_{args.precision}", "given_points", f"least_search_{args.precision}"]
    once = ["chunked_product", "full_matrix", "full_matrix_float64"]
    outputs = {}
    with tempfile.TemporaryDirectory(prefix="bench_troi_") as tmp:
        inputs_path = os.path.join(tmp, "inputs.pt")
        torch.save(data, inputs_path)

        def run(implementation):
            output_path = os.path.join(tmp, f"{implementation}.pt")
            result = run_in_process(implementation, args, inputs_path, output_path)
            if os.path.exists(output_path):
                outputs[implementation] = torch.load(output_path)
            return result

        runs = alternating_runs(timed, args.rounds, run)
        runs.update(alternating_runs(once, 1, run))
    results = {name: fastest(name_runs) for name, name_runs in runs.items()}

    def round_ratios(name, baseline):
        return [round(a["seconds"] / b["seconds"], 3) for a, b in zip(runs[name], runs[baseline])]

    tied = near_tie_cells(data["roi_feats"], data["support_feats"], args.k, args.tie_margin).flatten()
    reference = outputs["full_matrix_float64"]["output"]

    def cell_error(name):  # (r*h*w,) max over channels of |output - float64|, for its r RoIs
        output = outputs[name]["output"].double()
        return (output - reference[: len(output)]).abs().amax(dim=1).flatten()

    names = ("troi", "troi_features_only", "bare_product", "chunked_product", "full_matrix")
    troi, features_only, bare, chunked, full = (results[name] for name in names)
    troi_error, features_only_error, full_error = (cell_error(n) for n in ("troi", "troi_features_only", "full_matrix"))
    line = {
        "mode": "operator",
        "rois": args.rois,
        "channels": args.channels,
        "support_frames": args.support_frames,
        "support_size": [args.height, args.width],
        "k": args.k,
        "blocks": args.blocks,
        "threads": args.threads,
        "device": args.device,
        "chunk_size": args.chunk_size,
        "bare_product_seconds": round(bare["seconds"], 3),
        "chunked_product_seconds": round(chunked["seconds"], 3),
        "full_matrix_seconds": round(full["seconds"], 3),
        "troi_seconds": round(troi["seconds"], 3),
        "troi_vs_bare_product": round(troi["seconds"] / bare["seconds"], 3),
        "rounds": args.rounds,
        "round_troi_vs_bare_product": round_ratios("troi", "bare_product"),
        "troi_vs_chunked_product": round(troi["seconds"] / chunked["seconds"], 3),
        "troi_vs_full_matrix": round(troi["seconds"] / full["seconds"], 3),
        "troi_features_only_seconds": round(features_only["seconds"], 3),
        "troi_features_only_vs_bare_product": round(features_only["seconds"] / bare["seconds"], 3),
        "troi_features_only_vs_chunked_product": round(features_only["seconds"] / chunked["seconds"], 3),
        "full_matrix_extra_peak_mb": round(full["extra_peak_mb"], 1),
        "troi_extra_peak_mb": round(troi["extra_peak_mb"], 1),
        "memory_vs_full_matrix": round(troi["extra_peak_mb"] / full["extra_peak_mb"], 4),
        "troi_features_only_extra_peak_mb": round(features_only["extra_peak_mb"], 1),
        "cells": int(tied.numel()),
        "near_tie_cells": int(tied.sum()),
        "tie_margin": args.tie_margin,
        "wrong_above": args.wrong_above,
        "troi_wrong_cells": int((troi_error > args.wrong_above).sum()),
        "troi_features_only_wrong_cells": int((features_only_error > args.wrong_above).sum()),
        "full_matrix_wrong_cells": int((full_error > args.wrong_above).sum()),
        "troi_wrong_cells_without_near_ties": int((troi_error[~tied] > args.wrong_above).sum()),
        "troi_max_error_without_near_ties": troi_error[~tied].max().item(),
        "full_matrix_max_error_without_near_ties": full_error[~tied].max().item(),
    }
    if args.precision != "exact":
        name = f"troi_{args.precision}"
        low, given, low_product = results[name], results["given_points"], results[f"least_search_{args.precision}"]
        low_points = outputs[name]["indices"].sort(dim=2).values  # (T, r*h*w, K), r RoIs
        exact_points = outputs["troi_features_only"]["indices"].sort(dim=2).values[:, : low_points.shape[1]]
        same = (low_points == exact_points).all(dim=2)  # (T, r*h*w): the same K points
        line.update(
            {
                "precision": args.precision,
                "forced": args.force_precision,
                "search_dtype": low["search_dtype"],
                "low_precision_rois": len(outputs[name]["output"]),
                "low_precision_seconds": round(low["seconds"], 3),
                "low_precision_vs_exact": round(low["seconds"] / features_only["seconds"], 3),
                "round_low_precision_vs_exact": round_ratios(name, "troi_features_only"),
                "low_precision_extra_peak_mb": round(low["extra_peak_mb"], 1),
                "same_points": round(same.float().mean().item(), 5),
                "low_precision_wrong_cells": int((cell_error(name) > args.wrong_above).sum()),
                # the bound: no search in this precision takes less than the rest plus its least
                "given_points_seconds": round(given["seconds"], 3),
                "given_points_vs_exact": round(given["seconds"] / features_only["seconds"], 3),
                "round_given_points_vs_exact": round_ratios("given_points", "troi_features_only"),
                "given_points_wrong_cells": int((cell_error("given_points") > args.wrong_above).sum()),
                "least_low_precision_search_seconds": round(low_product["seconds"], 3),
                "low_precision_floor_vs_exact": round(
                    (given["seconds"] + low_product["seconds"]) / features_only["seconds"], 3
                ),
            }
        )
    print(json.dumps(line))


def train_step_worker(troi_enabled, args):
    """Time and memory of training steps of the model, and of its pooler's operator alone."""
    import troi.compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from detectron2.structures import Boxes, Instances
    from detectron2.utils.events import EventStorage

    from troi import add_troi_config

    device = torch.device(args.device)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(["MODEL.WEIGHTS", "", "MODEL.DEVICE", args.device, "MODEL.TROI.ENABLED", troi_enabled])
    torch.manual_seed(0)
    model = build_model(cfg).train()
    height, width = args.image_size
    generator = torch.Generator().manual_seed(0)

    def image():
        return torch.randint(0, 256, (3, height, width), generator=generator).float()

    corners = torch.rand(5, 2, generator=generator) * torch.tensor([width * 0.6, height * 0.6])
    sizes = 32 + torch.rand(5, 2, generator=generator) * torch.tensor([width * 0.3, height * 0.3])
    instances = Instances((height, width))
    instances.gt_boxes = Boxes(torch.cat([corners, corners + sizes], dim=1))
    instances.gt_classes = torch.randint(0, cfg.MODEL.ROI_HEADS.NUM_CLASSES, (5,), generator=generator)
    inputs = [
        {
            "image": image(),
            "instances": instances,
            "support_images": [image() for _ in range(args.support_frames)],
            "height": height,
            "width": width,
        }
    ]
    # the box pooler's (features, boxes) and its operator's support frames, at each call
    pooled, supports = [], []
    pooler = model.roi_heads.box_pooler
    pooler.register_forward_hook(lambda module, inputs_, output: pooled.append(inputs_[:2]))
    operator = getattr(pooler, "temporal_roi_align", None)
    if operator is not None:
        operator.register_forward_hook(lambda module, inputs_, output: supports.append(inputs_[1]))

    def step():
        with EventStorage():
            losses = model(inputs)
        sum(losses.values()).backward()
        model.zero_grad(set_to_none=False)

    step()  # allocates the gradients
    memory = PeakMemory(device)
    memory.start()
    times = []
    for _ in range(args.repeats):
        pooled.clear()
        times.append(timed(device, step)[0])
    extra = memory.extra_peak_mb()
    result = {"step_seconds": min(times), "peak_memory_mb": memory.baseline / MB + extra, "step_extra_peak_mb": extra}
    # the box pooler alone, forward + backward, on the last step's target RoIs (and supports)
    features, boxes = pooled[-1]
    features = [feature.detach().requires_grad_() for feature in features]
    # one target frame, one level (DC5): its support frames' [T, C, H, W] features
    support_features = [[supports[-1].detach().requires_grad_()]] if supports else None

    def pooler_step():
        out = pooler(features, boxes, support_features) if support_features else pooler(features, boxes)
        out.square().sum().backward()
        return len(out)

    operator_times = [timed(device, pooler_step) for _ in range(args.repeats)]
    result.update({"pooler_seconds": min(seconds for seconds, _ in operator_times), "rois": operator_times[0][1]})
    print(json.dumps(result))


def train_step_benchmark(args):
    """``--rounds`` rounds of one process per model, in alternating order (so that a drift of
    the machine's speed reaches both); per model the fastest step and pooler, the least peak."""
    with tempfile.TemporaryDirectory(prefix="bench_troi_") as tmp:
        runs = alternating_runs(
            ["roi_align", "troi"],
            args.rounds,
            lambda name: run_in_process(f"train_step_{name}", args, "", os.path.join(tmp, name)),
        )
    troi, plain = fastest(runs["troi"]), fastest(runs["roi_align"])
    round_ratios = [round(t["step_seconds"] / p["step_seconds"], 3) for t, p in zip(runs["troi"], runs["roi_align"])]
    print(
        json.dumps(
            {
                "mode": "train_step",
                "config_file": os.path.relpath(args.config_file, ROOT),
                "image_size": args.image_size,
                "support_frames": args.support_frames,
                "threads": args.threads,
                "rois": troi["rois"],
                "roi_align_step_seconds": round(plain["step_seconds"], 3),
                "troi_step_seconds": round(troi["step_seconds"], 3),
                "step_time_ratio": round(troi["step_seconds"] / plain["step_seconds"], 3),
                "rounds": args.rounds,
                "flush_denormal": args.flush_denormal,
                "round_step_time_ratios": round_ratios,
                "device": args.device,
                "roi_align_peak_memory_mb": round(plain["peak_memory_mb"], 1),
                "troi_peak_memory_mb": round(troi["peak_memory_mb"], 1),
                "peak_memory_ratio": round(troi["peak_memory_mb"] / plain["peak_memory_mb"], 3),
                "roi_align_step_extra_peak_mb": round(plain["step_extra_peak_mb"], 1),
                "troi_step_extra_peak_mb": round(troi["step_extra_peak_mb"], 1),
                "roi_align_pooler_seconds": round(plain["pooler_seconds"], 3),
                "troi_pooler_seconds": round(troi["pooler_seconds"], 3),
                "pooler_share_of_troi_step": round(troi["pooler_seconds"] / troi["step_seconds"], 3),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["operator", "train_step"], default="operator")
    parser.add_argument("--rois", type=int, default=300)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--support-frames", type=int, default=None, help="T (operator: 14, train_step: 2)")
    parser.add_argument("--height", type=int, default=38)
    parser.add_argument("--width", type=int, default=63)
    parser.add_argument("--roi-size", type=int, default=7)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=None, help="similarity entries at once (the default's)")
    parser.add_argument("--precision", choices=["exact", "bfloat16", "float16"], default="exact")
    parser.add_argument("--force-precision", action="store_true", help="reduced precision without a fast product")
    parser.add_argument(
        "--low-precision-rois", type=int, help="the reduced-precision run takes only the first N RoIs (emulated: slow)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per implementation (min is kept)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="processes per model (operator: the timed ones), alternating"
    )
    parser.add_argument(
        "--flush-denormal",
        action="store_true",
        help="train_step: denormal floats computed as 0 (torch.set_flush_denormal)",
    )
    parser.add_argument("--tie-margin", type=float, default=1e-6, help="near-tie: K-th vs (K+1)-th gap below this")
    parser.add_argument("--wrong-above", type=float, default=1e-4, help="wrong cell: error vs float64 above this")
    parser.add_argument(
        "--config-file", default=os.path.join(ROOT, "configs", "imagenet_vid", "selsa_troi_r50_dc5.yaml")
    )
    parser.add_argument("--image-size", type=int, nargs=2, default=[600, 1000], metavar=("H", "W"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.chunk_size is None:
        from troi.layers.most_similar_roi_align import DEFAULT_SIMILARITY_CHUNK_SIZE

        args.chunk_size = DEFAULT_SIMILARITY_CHUNK_SIZE
    if args.support_frames is None:
        args.support_frames = 14 if args.mode == "operator" else 2
    if args.worker and args.worker.startswith("train_step_"):
        return train_step_worker(args.worker == "train_step_troi", args)
    if args.worker:
        return operator_worker(args.worker, args)
    return operator_benchmark(args) if args.mode == "operator" else train_step_benchmark(args)


if __name__ == "__main__":
    main()

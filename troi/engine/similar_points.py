"""What Temporal RoI Align finds for chosen target-frame boxes: the paper's Fig. 6."""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch

from detectron2.structures import Boxes

from ..layers.temporal_roi_align import SimilarPoints

__all__ = ["ProposalSimilarPoints", "similar_points"]


@dataclass
class ProposalSimilarPoints:
    """Temporal RoI Align of one target-frame box, in the model's input coordinates.

    Attributes:
        box: ``[4]`` XYXY box in the target frame.
        frame_ids: the target frame's id, then its ``T`` support frames' ids.
        cells: ``[P, 2]`` ``(x, y)`` centres of the chosen RoI cells in the target frame.
        points: ``[T, P, k, 2]`` ``(x, y)`` of each chosen cell's ``k`` most similar points
            in each support frame.
        point_weights: ``[T, P, k]`` their softmaxed similarities (eq. 3).
        attention: ``[T+1]`` TAFA weight of the target and each support frame, averaged
            over the chosen cells and attention blocks (sums to 1).
    """

    box: torch.Tensor
    frame_ids: list
    cells: torch.Tensor
    points: torch.Tensor
    point_weights: torch.Tensor
    attention: torch.Tensor


def similar_points(
    model,
    inputs: dict,
    boxes: torch.Tensor,
    cells: Optional[Sequence[Tuple[int, int]]] = None,
    points_per_cell: int = 1,
) -> List[ProposalSimilarPoints]:
    """The most similar points and frame weights of the box pooler's Temporal RoI Align for
    ``boxes`` in the target frame of ``inputs``, as if they were its proposals.

    Args:
        model: a ``VideoRCNN`` in eval mode whose box pooler is a ``TemporalROIPooler``;
            the frames of ``inputs`` come from its cache when they are there.
        inputs: one model input (a target frame and its support frames).
        boxes: ``[P, 4]`` XYXY boxes in the model's input coordinates.
        cells: ``(row, column)`` RoI cells of the pooler's grid to report; default all.
        points_per_cell: ``k <= K`` most similar points per cell and support frame.

    Returns:
        one :class:`ProposalSimilarPoints` per box.
    """
    if model.training:
        raise ValueError("similar points need the model in eval mode")
    if points_per_cell < 1:
        raise ValueError(f"points_per_cell={points_per_cell} must be >= 1")
    if not inputs.get("support_images"):
        raise ValueError(f"target frame {inputs.get('frame_id')} has no support frames")
    box_list = Boxes(torch.as_tensor(boxes, dtype=torch.float32, device=model.device).reshape(-1, 4))
    strides = model.backbone.output_shape()
    with torch.no_grad():
        _, features, support = model.frame_group_features([inputs])
        found = model.roi_heads.similar_points(features, support, box_list)
    frame_ids = [inputs.get("frame_id")] + list(inputs.get("support_frame_ids", []))
    results = []
    for box, (points, level, width, grid) in zip(box_list.tensor, found):
        if points_per_cell > points.indices.shape[-1]:
            raise ValueError(f"points_per_cell={points_per_cell} must be in [1, K={points.indices.shape[-1]}]")
        results.append(
            _proposal_points(box, points, grid, cells, points_per_cell, strides[level].stride, width, frame_ids)
        )
    return results


def _proposal_points(
    box,
    found: SimilarPoints,
    grid: Tuple[int, int],
    cells,
    points_per_cell: int,
    stride: int,
    feature_width: int,
    frame_ids: list,
) -> ProposalSimilarPoints:
    """Select the chosen cells of one box's :class:`SimilarPoints` and map them to pixels."""
    rows, columns = grid
    if cells is None:
        cells = [(row, column) for row in range(rows) for column in range(columns)]
    for row, column in cells:
        if not (0 <= row < rows and 0 <= column < columns):
            raise ValueError(f"RoI cell ({row}, {column}) is outside the pooler's {rows}x{columns} grid")
    cell_rows = torch.tensor([row for row, _ in cells], dtype=torch.float32)
    cell_columns = torch.tensor([column for _, column in cells], dtype=torch.float32)
    chosen = (cell_rows * columns + cell_columns).long()
    box = box.float().cpu()
    x0, y0, x1, y1 = box.tolist()
    centres = torch.stack(
        [x0 + (cell_columns + 0.5) * (x1 - x0) / columns, y0 + (cell_rows + 0.5) * (y1 - y0) / rows], dim=1
    )  # (P, 2)
    indices = found.indices.cpu()[:, chosen, :points_per_cell]  # (T, P, k)
    # A feature position's centre in the input image (aligned RoI Align convention).
    points = torch.stack([indices % feature_width, indices // feature_width], dim=-1).float().add(0.5).mul(stride)
    return ProposalSimilarPoints(
        box=box,
        frame_ids=frame_ids,
        cells=centres,
        points=points,
        point_weights=found.weights.float().cpu()[:, chosen, :points_per_cell],
        attention=found.attention.float().cpu()[:, chosen].mean(dim=(1, 2)),
    )

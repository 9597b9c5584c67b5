"""The paper's Fig. 6 as an image: a target-frame box, then its most similar points in
each support frame, with every frame's temporal attention weight written under it."""

from typing import List, Optional, Sequence

import cv2
import numpy as np
import torch

from .similar_points import ProposalSimilarPoints

__all__ = ["draw_similar_points", "input_frames"]

PANEL_GAP = 4  # white pixels between panels
CAPTION_LINE = 14  # pixels per caption line (two lines under each panel)
FONT, FONT_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.4
BOX_COLOR = (0, 200, 0)  # BGR


def input_frames(inputs: dict, input_format: str) -> List[np.ndarray]:
    """The target then the support frames of a model input, as BGR ``[h, w, 3]`` uint8."""
    frames = []
    for image in [inputs["image"], *inputs.get("support_images", [])]:
        array = torch.as_tensor(image).permute(1, 2, 0).cpu().numpy()
        if input_format == "RGB":
            array = array[:, :, ::-1]
        frames.append(np.ascontiguousarray(np.clip(array, 0, 255).astype(np.uint8)))
    return frames


def _cell_colors(count: int) -> List[tuple]:
    """``count`` BGR colours of evenly spaced hues."""
    hues = np.array([[[int(180 * index / max(count, 1)), 255, 255] for index in range(count)]], dtype=np.uint8)
    return [tuple(int(c) for c in color) for color in cv2.cvtColor(hues, cv2.COLOR_HSV2BGR)[0]]


def _dot(panel: np.ndarray, xy, radius: int, color: tuple, scale: float):
    center = (int(round(xy[0] * scale)), int(round(xy[1] * scale)))
    cv2.circle(panel, center, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
    cv2.circle(panel, center, radius, color, -1, cv2.LINE_AA)


def _panel(frame: np.ndarray, height: int, caption: Sequence[str]) -> tuple:
    """``frame`` resized to ``height`` over a white caption strip, and the resize factor."""
    scale = height / frame.shape[0]
    width = int(round(frame.shape[1] * scale))
    panel = np.full((height + CAPTION_LINE * len(caption) + 4, width, 3), 255, dtype=np.uint8)
    panel[:height] = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    for line, text in enumerate(caption):
        cv2.putText(panel, text, (3, height + CAPTION_LINE * (line + 1)), FONT, FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
    return panel, scale


def draw_similar_points(
    frames: Sequence[np.ndarray], found: ProposalSimilarPoints, panel_height: Optional[int] = None
) -> np.ndarray:
    """One row of ``T+1`` panels: the target frame with the box and its chosen RoI cells,
    then each support frame with those cells' most similar points (same colour per cell,
    larger for higher similarity weight); under each, its frame id and attention weight.

    Args:
        frames: the target then the ``T`` support frames (BGR, the model's input size;
            see :func:`input_frames`).
        found: what Temporal RoI Align found for the box.
        panel_height: height of each panel in pixels; default the frames' own.

    Returns:
        a BGR ``[panel_height + caption, (T+1) * panel width + T * PANEL_GAP, 3]`` image.
    """
    if len(frames) != len(found.attention):
        raise ValueError(f"{len(frames)} frames for {len(found.attention)} attention weights (target + supports)")
    height = panel_height or frames[0].shape[0]
    colors = _cell_colors(len(found.cells))
    panels = []
    for frame_index, frame in enumerate(frames):
        name = "target" if frame_index == 0 else "support"
        caption = [f"{name} {found.frame_ids[frame_index]}", f"attention {found.attention[frame_index]:.3f}"]
        panel, scale = _panel(frame, height, caption)
        if frame_index == 0:
            x0, y0, x1, y1 = (int(round(v * scale)) for v in found.box.tolist())
            cv2.rectangle(panel, (x0, y0), (x1, y1), BOX_COLOR, 2)
            for cell, color in zip(found.cells.tolist(), colors):
                _dot(panel, cell, 1, color, scale)
        else:
            points, weights = found.points[frame_index - 1], found.point_weights[frame_index - 1]  # (P, k, 2), (P, k)
            for cell_points, cell_weights, color in zip(points.tolist(), weights.tolist(), colors):
                for xy, weight in zip(cell_points, cell_weights):
                    _dot(panel, xy, max(1, int(round(4 * weight))), color, scale)
        panels.append(panel)
    gap = np.full((panels[0].shape[0], PANEL_GAP, 3), 255, dtype=np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return np.concatenate(row, axis=1)

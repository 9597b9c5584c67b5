import numpy as np
import pytest
import torch

from tests.engine.test_video_predictor import build_predictor, video
from troi.engine import draw_similar_points, input_frames
from troi.engine.similar_points_figure import PANEL_GAP


@pytest.fixture(scope="module")
def predicted():
    """A TRoI predictor (T=3) and its prediction of frame 4 of a 6-frame video, the video
    still running (the model's cache holds its frames)."""
    predictor = build_predictor(num_supports=3)
    stream = predictor(video(6), progress=False)
    prediction = next(p for p in stream if p.index == 4)
    yield predictor, prediction
    stream.close()


def test_similar_points_of_top_detections(predicted):
    predictor, prediction = predicted
    calls = predictor.stats.backbone_calls
    found = predictor.similar_points(prediction, num_boxes=2)
    assert predictor.stats.backbone_calls == calls  # the frames come from the model's cache
    assert len(found) == min(2, len(prediction.instances)) > 0
    for points, box in zip(found, prediction.instances.pred_boxes.tensor):
        assert torch.allclose(points.box, box)  # input size == frame size here
        assert points.frame_ids == [4, 0, 2, 5]
        assert points.cells.shape == (49, 2) and points.points.shape == (3, 49, 1, 2)
        x0, y0, x1, y1 = box.tolist()
        assert ((points.cells[:, 0] > x0) & (points.cells[:, 0] < x1)).all()
        assert ((points.cells[:, 1] > y0) & (points.cells[:, 1] < y1)).all()
        assert (points.points >= 0).all() and (points.points[..., 0] < 96).all() and (points.points[..., 1] < 64).all()
        assert torch.allclose(points.attention.sum(), torch.tensor(1.0))
        assert ((points.point_weights > 0.5) & (points.point_weights <= 1)).all()  # the top of K=2


def test_given_boxes_and_cells(predicted):
    predictor, prediction = predicted
    boxes = torch.tensor([[10.0, 8.0, 50.0, 40.0]])
    (found,) = predictor.similar_points(prediction, boxes=boxes, cells=[(0, 0), (6, 6)], points_per_cell=2)
    assert found.points.shape == (3, 2, 2, 2) and found.point_weights.shape == (3, 2, 2)
    assert torch.allclose(found.cells, torch.tensor([[10 + 40 / 14, 8 + 32 / 14], [50 - 40 / 14, 40 - 32 / 14]]))
    assert (found.point_weights[:, :, 0] >= found.point_weights[:, :, 1]).all()
    with pytest.raises(ValueError, match=r"RoI cell \(7, 0\) is outside the pooler's 7x7 grid"):
        predictor.similar_points(prediction, boxes=boxes, cells=[(7, 0)])
    with pytest.raises(ValueError, match=r"points_per_cell=3 must be in \[1, K=2\]"):
        predictor.similar_points(prediction, boxes=boxes, points_per_cell=3)


def test_figure_has_one_panel_per_frame(predicted):
    predictor, prediction = predicted
    frames = input_frames(prediction.inputs, predictor.input_format)
    (found,) = predictor.similar_points(prediction, boxes=torch.tensor([[10.0, 8.0, 50.0, 40.0]]), cells=[(3, 3)])
    figure = draw_similar_points(frames, found, panel_height=128)
    panel_width = 192  # 96 px frames at twice their height of 64
    assert figure.dtype == np.uint8 and figure.shape[0] > 128
    assert figure.shape[1] == 4 * panel_width + 3 * PANEL_GAP
    gaps = [panel_width * (i + 1) + PANEL_GAP * i for i in range(3)]
    for start in gaps:  # white separators between the four panels
        assert (figure[:, start : start + PANEL_GAP] == 255).all()
    for support in range(3):  # each support panel shows the cell's point in the cell's colour (red: one cell)
        x, y = (found.points[support, 0, 0] * 2).round().long().tolist()
        left = (panel_width + PANEL_GAP) * (support + 1)
        assert figure[y, left + x].tolist() == [0, 0, 255]
    with pytest.raises(ValueError, match="3 frames for 4 attention weights"):
        draw_similar_points(frames[:3], found)


def test_needs_temporal_roi_align():
    predictor = build_predictor(num_supports=2, troi_on=False, selsa_on=True)
    prediction = list(predictor(video(3), progress=False))[1]
    with pytest.raises(ValueError, match="need a box pooler with Temporal RoI Align"):
        predictor.similar_points(prediction, boxes=torch.tensor([[0.0, 0.0, 10.0, 10.0]]))

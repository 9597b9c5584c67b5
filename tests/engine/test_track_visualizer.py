import numpy as np
import torch

from detectron2.data import MetadataCatalog
from detectron2.structures import Boxes, Instances
from detectron2.utils.visualizer import Visualizer

from troi.engine import TrackVisualizer


def predictions(boxes, track_ids=None):
    instances = Instances((40, 60))
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
    instances.scores = torch.full((len(boxes),), 0.9)
    instances.pred_classes = torch.zeros(len(boxes), dtype=torch.long)
    instances.pred_masks = torch.zeros(len(boxes), 40, 60, dtype=torch.bool)
    if track_ids is not None:
        instances.track_ids = torch.tensor(track_ids)
    return instances


def drawn_colors(monkeypatch, frames):
    """The colours VideoVisualizer passes to Visualizer.overlay_instances, per frame."""
    colors = []
    overlay = Visualizer.overlay_instances
    monkeypatch.setattr(
        Visualizer,
        "overlay_instances",
        lambda self, **kwargs: colors.append(kwargs["assigned_colors"]) or overlay(self, **kwargs),
    )
    visualizer = TrackVisualizer(MetadataCatalog.get("__track_visualizer_test"))
    for instances in frames:
        image = visualizer.draw_instance_predictions(np.zeros((40, 60, 3), np.uint8), instances).get_image()
        assert image.shape == (40, 60, 3)
    return colors


def test_a_track_keeps_its_colour_wherever_it_moves(monkeypatch):
    first = predictions([[0, 0, 10, 10], [30, 20, 50, 35]], track_ids=[3, 8])
    second = predictions([[40, 25, 59, 39], [2, 2, 12, 12]], track_ids=[8, 5])  # track 3 gone, 5 new
    colors = drawn_colors(monkeypatch, [first, second])
    assert colors[1][0] == colors[0][1]  # track 8, although its box moved far
    assert len({colors[0][0], colors[0][1], colors[1][1]}) == 3
    assert not second.has("COLOR")  # the caller's predictions are left as they were


def test_without_track_ids_colours_follow_box_overlap(monkeypatch):
    colors = drawn_colors(monkeypatch, [predictions([[0, 0, 10, 10]]), predictions([[1, 0, 11, 10]])])
    assert np.allclose(colors[0][0], colors[1][0])

"""detectron2's VideoVisualizer, with one colour per track when predictions have track ids."""

import numpy as np

from detectron2.structures import Instances
from detectron2.utils.colormap import colormap
from detectron2.utils.video_visualizer import VideoVisualizer

__all__ = ["TrackVisualizer"]


class TrackVisualizer(VideoVisualizer):
    """:class:`VideoVisualizer` that colours instances by their ``track_ids`` (video instance
    segmentation: the same object keeps its colour in every frame); predictions without
    them get VideoVisualizer's colours, carried between frames by box overlap."""

    _palette = colormap(rgb=True, maximum=1)

    def draw_instance_predictions(self, frame: np.ndarray, predictions: Instances):
        """As :meth:`VideoVisualizer.draw_instance_predictions` (``frame`` RGB)."""
        if predictions.has("track_ids") and not predictions.has("COLOR"):
            colored = Instances(predictions.image_size, **predictions.get_fields())
            colored.COLOR = [tuple(self._palette[int(track) % len(self._palette)]) for track in predictions.track_ids]
            predictions = colored
        return super().draw_instance_predictions(frame, predictions)

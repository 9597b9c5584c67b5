"""MaskTrack R-CNN's tracker, with a one-to-one assignment: links each frame's detections to
the tracks of its video.

For ``N`` detections and ``K`` live tracks, frame by frame:

1. match log-probabilities ``[N, 1 + K]``: log-softmax over "new object" and the tracks of
   the track-head logits (:func:`~troi.modeling.roi_heads.track_head.match_logits` of the
   detections' embeddings with each track's last embedding);
2. scores (:func:`match_scores`): ``+ SCORE_WEIGHT * log(det score)`` on every column,
   ``+ IOU_WEIGHT * IoU(det box, track's last box) + CLASS_WEIGHT * [same class]`` on the
   track columns (weights 1, 2, 10 in the reference);
3. the assignment maximizing the total score in which every detection either continues one
   track or starts a new one, and no track takes two detections (:func:`assign_tracks`,
   Hungarian). The reference's greedy per-detection argmax can give two detections one
   track. The det-score term is the same on every column of a row, so it never changes
   the assignment; it is kept so the scores are the reference's;
4. matched tracks take the detection's embedding, box and class; tracks unseen for more
   than ``max_unseen_frames`` frames are dropped.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from detectron2.structures import Boxes, pairwise_iou

from .roi_heads.track_head import match_logits

__all__ = ["MatchWeights", "Tracker", "assign_tracks", "match_scores"]

# Detection scores are clamped to this before the log: a zero score stays finite.
MIN_DETECTION_SCORE = 1e-6


@dataclass(frozen=True)
class MatchWeights:
    """Weights of the terms of :func:`match_scores` (``MODEL.TRACKER.*_WEIGHT``)."""

    score: float = 1.0
    iou: float = 2.0
    same_class: float = 10.0


def match_scores(
    match_log_probs: torch.Tensor,
    detection_scores: torch.Tensor,
    ious: torch.Tensor,
    same_class: torch.Tensor,
    weights: MatchWeights,
) -> torch.Tensor:
    """Scores of continuing each track (or starting a new one) with each detection.

    Args:
        match_log_probs: ``[N, 1 + K]``, column 0 "new object".
        detection_scores: ``[N]`` in ``[0, 1]``.
        ious: ``[N, K]`` box IoU of each detection with each track's last box.
        same_class: ``[N, K]`` bool, detection and track have the same class.

    Returns:
        ``[N, 1 + K]``.
    """
    row_term = weights.score * torch.log(detection_scores.clamp(min=MIN_DETECTION_SCORE))[:, None]  # (N, 1)
    track_terms = weights.iou * ious + weights.same_class * same_class.to(ious.dtype)  # (N, K)
    return match_log_probs + row_term + F.pad(track_terms, (1, 0))


def assign_tracks(scores: torch.Tensor) -> torch.Tensor:
    """The one-to-one assignment of maximal total score.

    Args:
        scores: ``[N, 1 + K]`` from :func:`match_scores`.

    Returns:
        ``[N]`` long: the track index in ``[0, K)`` each detection continues, or -1 for a new
        track. No two detections share a track.
    """
    num_detections, num_tracks = scores.shape[0], scores.shape[1] - 1
    if num_detections == 0:
        return torch.zeros(0, dtype=torch.long)
    scores = scores.detach().cpu().double().numpy()
    # Columns: the K tracks, then one "new track" column per detection, open to it only.
    new_track = np.full((num_detections, num_detections), -np.inf)
    np.fill_diagonal(new_track, scores[:, 0])
    rows, columns = linear_sum_assignment(np.concatenate([scores[:, 1:], new_track], axis=1), maximize=True)
    assignment = np.where(columns < num_tracks, columns, -1)[np.argsort(rows)]
    return torch.as_tensor(assignment, dtype=torch.long)


class Tracker:
    """The tracks of one video; :meth:`update` it with every frame's detections, in order.

    Args:
        weights: of :func:`match_scores`.
        max_unseen_frames: a track not matched in this many consecutive frames can still be
            matched in the next one; one frame more and it is dropped.
    """

    def __init__(self, weights: MatchWeights = MatchWeights(), max_unseen_frames: int = 20):
        if max_unseen_frames < 0:
            raise ValueError(f"max_unseen_frames must be >= 0, got {max_unseen_frames}")
        self.weights = weights
        self.max_unseen_frames = max_unseen_frames
        self.frame_index = -1
        self.next_id = 0
        self.ids = torch.zeros(0, dtype=torch.long)
        self.embeddings = self.boxes = self.classes = self.last_seen = None

    def __len__(self) -> int:
        """Number of live tracks."""
        return len(self.ids)

    def update(
        self, boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, embeddings: torch.Tensor
    ) -> torch.Tensor:
        """Track the next frame's ``N`` detections.

        Args:
            boxes: ``[N, 4]`` XYXY; scores: ``[N]``; classes: ``[N]``; embeddings: ``[N, D]``.

        Returns:
            ``[N]`` long track ids (on ``boxes``' device), distinct within the frame; a
            detection that starts a track gets a new id, never used before in this video.
        """
        self.frame_index += 1
        device = boxes.device
        if self.embeddings is None:
            self.embeddings = embeddings.new_zeros((0, embeddings.shape[1]))
            self.boxes, self.classes = boxes.new_zeros((0, 4)), classes.new_zeros(0)
            self.last_seen = torch.zeros(0, dtype=torch.long, device=device)
            self.ids = self.ids.to(device)
        if len(boxes) == 0:
            self._drop_stale_tracks()
            return torch.zeros(0, dtype=torch.long, device=device)
        assignment = assign_tracks(self._scores(boxes, scores, classes, embeddings)).to(device)
        matched = assignment >= 0
        track_indices = assignment[matched]
        self.embeddings[track_indices] = embeddings[matched]
        self.boxes[track_indices] = boxes[matched]
        self.classes[track_indices] = classes[matched]
        self.last_seen[track_indices] = self.frame_index
        new_ids = torch.arange(self.next_id, self.next_id + int((~matched).sum()), device=device)
        self.next_id += len(new_ids)
        ids = torch.empty(len(boxes), dtype=torch.long, device=device)
        ids[matched] = self.ids[track_indices]
        ids[~matched] = new_ids
        self.ids = torch.cat([self.ids, new_ids])
        self.embeddings = torch.cat([self.embeddings, embeddings[~matched]])
        self.boxes = torch.cat([self.boxes, boxes[~matched]])
        self.classes = torch.cat([self.classes, classes[~matched]])
        self.last_seen = torch.cat([self.last_seen, self.last_seen.new_full((len(new_ids),), self.frame_index)])
        self._drop_stale_tracks()
        return ids

    def _scores(self, boxes, scores, classes, embeddings) -> torch.Tensor:
        """``[N, 1 + K]`` :func:`match_scores` of the detections with the live tracks."""
        log_probs = F.log_softmax(match_logits(embeddings, self.embeddings), dim=1)
        ious = pairwise_iou(Boxes(boxes), Boxes(self.boxes))
        same_class = classes[:, None] == self.classes[None, :]
        return match_scores(log_probs, scores, ious, same_class, self.weights)

    def _drop_stale_tracks(self):
        """Drop the tracks unseen for more than ``max_unseen_frames`` frames (last seen at
        frame ``f``: unseen in the ``frame_index - f`` frames since)."""
        keep = self.frame_index - self.last_seen <= self.max_unseen_frames
        self.ids, self.embeddings, self.boxes = self.ids[keep], self.embeddings[keep], self.boxes[keep]
        self.classes, self.last_seen = self.classes[keep], self.last_seen[keep]

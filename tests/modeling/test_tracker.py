import math

import torch

from troi.modeling.tracker import MatchWeights, Tracker, assign_tracks, match_scores

# Three objects: embeddings with a negative dot product between objects (what the track
# loss teaches: below the "new object" logit 0), boxes far apart, classes 0, 1, 2.
EMBEDDINGS = 4 * (torch.eye(3, 8) - torch.eye(3, 8).mean(dim=0))
BOXES = torch.tensor([[0.0, 0.0, 10.0, 10.0], [40.0, 0.0, 50.0, 10.0], [0.0, 40.0, 10.0, 50.0]])
CLASSES = torch.tensor([0, 1, 2])


def frame(*objects, score=0.9):
    """The detections of ``objects`` (indices into the tables above)."""
    index = torch.tensor(objects, dtype=torch.long)
    return BOXES[index], torch.full((len(objects),), score), CLASSES[index], EMBEDDINGS[index]


def no_detections():
    return torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), torch.zeros(0, 8)


def test_match_scores_are_the_reference_combination():
    log_probs = torch.log_softmax(torch.randn(2, 3), dim=1)
    ious = torch.tensor([[0.5, 0.0], [0.2, 0.9]])
    same_class = torch.tensor([[True, False], [False, True]])
    scores = match_scores(log_probs, torch.tensor([0.5, 1.0]), ious, same_class, MatchWeights())
    assert torch.allclose(scores[0, 0], log_probs[0, 0] + math.log(0.5))
    assert torch.allclose(scores[0, 1], log_probs[0, 1] + math.log(0.5) + 2 * 0.5 + 10)
    assert torch.allclose(scores[1, 2], log_probs[1, 2] + 2 * 0.9 + 10)
    assert torch.isfinite(match_scores(log_probs, torch.zeros(2), ious, same_class, MatchWeights())).all()


def test_assignment_is_one_to_one_where_greedy_argmax_is_not():
    # Both detections prefer track 0; greedy argmax would give both of them track 0.
    scores = torch.tensor([[0.0, 5.0, 1.0], [0.0, 4.0, 3.5]])
    assert assign_tracks(scores).tolist() == [0, 1]
    # Starting a track is better than continuing a poor match.
    assert assign_tracks(torch.tensor([[0.0, -3.0]])).tolist() == [-1]
    assert assign_tracks(torch.zeros(0, 4)).tolist() == []


def test_first_frame_starts_one_track_per_detection():
    tracker = Tracker()
    assert tracker.update(*frame(0, 1, 2)).tolist() == [0, 1, 2]
    assert len(tracker) == 3


def test_objects_keep_their_ids_in_any_order():
    tracker = Tracker()
    tracker.update(*frame(0, 1, 2))
    assert tracker.update(*frame(2, 0, 1)).tolist() == [2, 0, 1]


def test_ids_are_unique_within_a_frame_when_two_detections_fit_one_track():
    tracker = Tracker()
    tracker.update(*frame(0))
    boxes, scores, classes, embeddings = frame(0, 0)  # a duplicate detection of object 0
    boxes[1] += 1.0
    ids = tracker.update(boxes, scores, classes, embeddings)
    assert ids[0] == 0 and ids[1] == 1  # the better match continues the track, the other starts one


def test_a_track_survives_frames_without_detections():
    tracker = Tracker(max_unseen_frames=3)
    tracker.update(*frame(0, 1))
    for _ in range(3):
        assert tracker.update(*no_detections()).tolist() == []
    assert tracker.update(*frame(1, 0)).tolist() == [1, 0]


def test_a_track_unseen_too_long_is_dropped_and_ids_are_never_reused():
    tracker = Tracker(max_unseen_frames=2)
    tracker.update(*frame(0, 1))
    tracker.update(*frame(1))
    tracker.update(*frame(1))
    tracker.update(*frame(1))  # object 0 unseen for 3 frames: dropped
    assert len(tracker) == 1
    assert tracker.update(*frame(0, 1)).tolist() == [2, 1]


def test_a_new_object_gets_a_new_id():
    tracker = Tracker()
    tracker.update(*frame(0))
    assert tracker.update(*frame(0, 1)).tolist() == [0, 1]
    assert tracker.update(*frame(2, 1)).tolist() == [2, 1]

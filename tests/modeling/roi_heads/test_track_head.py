import pytest
import torch
import torch.nn.functional as F

from detectron2.layers import ShapeSpec

from troi.modeling.roi_heads.track_head import TrackEmbeddingHead, match_labels, match_logits, track_match_loss


def test_match_logits_are_a_zero_column_then_dot_products():
    embeddings = torch.randn(5, 8)
    references = torch.randn(3, 8)
    logits = match_logits(embeddings, references)
    assert logits.shape == (5, 4)
    assert torch.equal(logits[:, 0], torch.zeros(5))
    assert torch.allclose(logits[2, 1 + 1], embeddings[2] @ references[1])


def test_match_logits_without_reference_instances():
    assert torch.equal(match_logits(torch.randn(2, 4), torch.zeros(0, 4)), torch.zeros(2, 1))


def test_match_labels_point_at_the_same_instance_or_new():
    labels = match_labels(torch.tensor([7, 3, 9, -1, 3]), torch.tensor([3, 7, -1]))
    # 7 -> reference 1, 3 -> reference 0, 9 absent, unknown ids (-1) never match.
    assert labels.tolist() == [2, 1, 0, 0, 1]
    assert match_labels(torch.tensor([4, 3]), torch.zeros(0, dtype=torch.long)).tolist() == [0, 0]


def test_loss_is_the_mean_cross_entropy_over_all_proposals():
    logits = [torch.randn(3, 4), torch.randn(2, 2)]
    labels = [torch.tensor([0, 3, 1]), torch.tensor([1, 1])]
    expected = F.cross_entropy(torch.cat([logits[0], F.pad(logits[1], (0, 2), value=-1e9)]), torch.cat(labels))
    assert torch.allclose(track_match_loss(logits, labels), expected)


def test_loss_is_low_when_embeddings_match_their_reference_instance():
    references = torch.eye(3) * 10  # three well separated instances
    embeddings = references[[2, 0]] + 0.01
    logits = [match_logits(embeddings, references)]
    right = track_match_loss(logits, [torch.tensor([3, 1])])
    wrong = track_match_loss(logits, [torch.tensor([1, 3])])
    assert right < 1e-3 < 10 < wrong


def test_loss_without_foreground_proposals_is_zero_and_keeps_the_graph():
    head = TrackEmbeddingHead(ShapeSpec(channels=2, height=3, width=3), fc_dims=[8, 4])
    embeddings = head(torch.zeros(0, 2, 3, 3))
    logits = match_logits(embeddings, head(torch.randn(2, 2, 3, 3)))
    loss = track_match_loss([logits], [torch.zeros(0, dtype=torch.long)])
    assert loss.item() == 0.0
    loss.backward()
    assert head.fcs[0].weight.grad is not None


def test_embedding_head_has_no_relu_after_its_last_fc():
    head = TrackEmbeddingHead(ShapeSpec(channels=4, height=7, width=7), fc_dims=[16, 8])
    embeddings = head(torch.randn(6, 4, 7, 7) * 100)
    assert embeddings.shape == (6, 8) and head.output_size == 8
    assert (embeddings < 0).any()  # the first FC is ReLU'd, the last one is not
    with pytest.raises(ValueError, match="NUM_FC >= 1"):
        TrackEmbeddingHead(ShapeSpec(channels=4, height=7, width=7), fc_dims=[])


def test_embedding_head_with_the_reference_relu_after_its_last_fc():
    head = TrackEmbeddingHead(ShapeSpec(channels=4, height=7, width=7), fc_dims=[16, 8], relu_after_last_fc=True)
    assert (head(torch.randn(6, 4, 7, 7) * 100) >= 0).all()

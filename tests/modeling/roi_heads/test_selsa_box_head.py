import pytest
import torch

from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads.box_head import FastRCNNConvFCHead

from troi.modeling import SelsaBoxHead

SHAPE = ShapeSpec(channels=4, height=3, width=3)


def head(**kwargs):
    torch.manual_seed(0)
    return SelsaBoxHead(SHAPE, conv_dims=[], fc_dims=[16, 16], num_attention_blocks=4, **kwargs).double()


def test_without_references_it_is_a_fast_rcnn_head():
    selsa = head()
    plain = FastRCNNConvFCHead(SHAPE, conv_dims=[], fc_dims=[16, 16]).double()
    plain.load_state_dict({k: v for k, v in selsa.state_dict().items() if not k.startswith("aggregators")})
    x = torch.randn(5, 4, 3, 3, dtype=torch.float64)
    assert torch.equal(selsa(x), plain(x))


@pytest.mark.parametrize("aggregate_references", [False, True])
def test_aggregation_written_out(aggregate_references):
    """The reference's path (mmtracking): references pass the FCs plainly; the original
    SELSA's: they are aggregated over themselves too."""
    selsa = head(aggregate_references=aggregate_references)
    x, ref = torch.randn(3, 4, 3, 3, dtype=torch.float64), torch.randn(6, 4, 3, 3, dtype=torch.float64)
    agg1, agg2 = selsa.aggregators["fc1"], selsa.aggregators["fc2"]
    x1, r1 = selsa.fc1(x.flatten(1)), selsa.fc1(ref.flatten(1))
    x1, r1 = torch.relu(x1 + agg1(x1, r1)), torch.relu(r1 + agg1(r1, r1) if aggregate_references else r1)
    x2, r2 = selsa.fc2(x1), selsa.fc2(r1)
    expected = torch.relu(x2 + agg2(x2, r2))
    references = selsa.reference_features(ref, [6])
    assert len(references) == 2 and torch.allclose(references[1], r2)
    assert torch.allclose(selsa(x, references, [3], [6]), expected, atol=1e-12)


def test_images_attend_only_to_their_own_references():
    selsa = head()
    x, ref = torch.randn(4, 4, 3, 3, dtype=torch.float64), torch.randn(5, 4, 3, 3, dtype=torch.float64)
    out = selsa(x, selsa.reference_features(ref, [2, 3]), [1, 3], [2, 3])
    changed = ref.clone()
    changed[2:] += 1.0  # image 1's references only
    out_changed = selsa(x, selsa.reference_features(changed, [2, 3]), [1, 3], [2, 3])
    assert torch.equal(out[:1], out_changed[:1]) and not torch.allclose(out[1:], out_changed[1:])


def test_chosen_fc_layers_and_errors():
    assert list(head(aggregate_after_fc=[2]).aggregators) == ["fc2"]
    with pytest.raises(ValueError, match=r"aggregate_after_fc=\[3\] must index the 2 FC layers"):
        head(aggregate_after_fc=[3])


def test_projected_references_give_the_same_features():
    selsa = head()
    x, ref = torch.randn(4, 4, 3, 3, dtype=torch.float64), torch.randn(5, 4, 3, 3, dtype=torch.float64)
    frames = [selsa.frame_references(ref[:2]), selsa.frame_references(ref[2:])]
    projected = selsa.set_references([selsa.project_references(frame) for frame in frames], [2, 3])
    expected = selsa(x, selsa.set_references(frames, [2, 3]), [1, 3], [2, 3])
    assert torch.allclose(selsa(x, projected, [1, 3], [2, 3]), expected, atol=1e-12)
    with pytest.raises(ValueError, match="aggregate_references"):
        head(aggregate_references=True).project_references(frames[0])

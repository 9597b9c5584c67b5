import pytest
import torch

from troi.layers.top_k import top_k


@pytest.mark.parametrize("columns", [2394, 2200, 203, 17])
@pytest.mark.parametrize("k", [1, 3, 4, 8])
def test_equals_torch_topk_on_distinct_scores(columns, k):
    scores = torch.randn(57, columns, generator=torch.Generator().manual_seed(columns + k))
    values, indices = top_k(scores, k)
    expected_values, expected_indices = scores.topk(k, dim=1)
    assert torch.equal(values, expected_values)
    assert torch.equal(indices, expected_indices)


def test_best_scores_in_one_group_and_in_the_tail():
    scores = torch.zeros(2, 42)
    # row 0: the 4 best all in one group (columns j + i * 10), row 1: in the 2 tail columns
    scores[0, [3, 13, 23, 33]] = torch.tensor([4.0, 3.0, 2.0, 1.0])
    scores[1, [40, 41]] = torch.tensor([5.0, 6.0])
    values, indices = top_k(scores, 4)
    assert indices[0].tolist() == [3, 13, 23, 33]
    assert indices[1, :2].tolist() == [41, 40]
    assert values[1].tolist() == [6.0, 5.0, 0.0, 0.0]


def test_tied_scores_give_torch_topks_values_and_valid_columns():
    scores = torch.randint(0, 5, (40, 300), generator=torch.Generator().manual_seed(0)).float()
    values, indices = top_k(scores, 6)
    assert torch.equal(values, scores.topk(6, dim=1).values)
    assert torch.equal(scores.gather(1, indices), values)
    assert all(len(set(row)) == 6 for row in indices.tolist())  # no column taken twice


def test_bfloat16_scores():
    scores = torch.randn(30, 2394, generator=torch.Generator().manual_seed(1)).to(torch.bfloat16)
    values, indices = top_k(scores, 8)
    assert values.dtype == torch.bfloat16
    assert torch.equal(values, scores.topk(8, dim=1).values)
    assert torch.equal(scores.gather(1, indices), values)

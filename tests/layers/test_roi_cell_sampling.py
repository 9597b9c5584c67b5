import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from troi.layers.roi_cell_sampling import roi_align_sampling, sampled_candidates
from troi.layers.shapes import rois_to_cells


def proposal_boxes(num, generator, width=480.0, height=320.0):
    """``[num, 4]`` float64 boxes, some reaching past the image, plus edge cases: a point, a
    reversed box, one outside the image, one past its far corner."""
    corners = torch.rand(num, 2, generator=generator, dtype=torch.float64) * torch.tensor([width, height]) - 40
    sizes = torch.rand(num, 2, generator=generator, dtype=torch.float64) * 300
    boxes = torch.cat([corners, corners + sizes], dim=1)
    edge_cases = [[10, 10, 10, 10], [100, 100, 90, 95], [-100, -100, -50, -50], [400, 300, 700, 600]]
    return torch.cat([boxes, torch.tensor(edge_cases, dtype=torch.float64)])


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [0, 2, 3])
def test_the_bags_sample_the_cells_roi_align_computes(aligned, sampling_ratio):
    generator = torch.Generator().manual_seed(0)
    feature_map = torch.randn(8, 20, 30, generator=generator, dtype=torch.float64)
    boxes = proposal_boxes(40, generator)
    expected = rois_to_cells(roi_align(feature_map[None], [boxes], (7, 5), 1 / 16, sampling_ratio, aligned))
    sampling = roi_align_sampling(feature_map, boxes, (7, 5), 1 / 16, sampling_ratio, aligned)
    assert len(sampling) == len(boxes) * 35
    assert torch.allclose(sampling.cells(), expected, rtol=0, atol=1e-12)
    assert torch.allclose(sampling.cells(35, 70), expected[35:70], rtol=0, atol=1e-12)
    assert len(sampling.position_feats) <= 20 * 30


def test_no_boxes_sample_no_cells():
    sampling = roi_align_sampling(torch.randn(4, 6, 8), torch.zeros(0, 4), (7, 7), 1 / 16, 2, True)
    assert len(sampling) == 0 and sampling.cells().shape == (0, 4)
    assert sampled_candidates(sampling, F.normalize(torch.randn(4, 6, 8), dim=0), 3, 2**10).shape == (0, 3)


@pytest.mark.parametrize("chunk_size", [2**20, 64])  # one block of support positions; many
def test_the_candidates_are_the_exact_top_positions(chunk_size):
    generator = torch.Generator().manual_seed(1)
    feature_map = torch.randn(16, 12, 15, generator=generator, dtype=torch.float64).relu()
    boxes = proposal_boxes(30, generator, width=240, height=192)
    support = F.normalize(torch.randn(16, 10, 13, generator=generator, dtype=torch.float64).relu(), dim=0)
    sampling = roi_align_sampling(feature_map, boxes, (7, 7), 1 / 16, 2, True)
    cells = F.normalize(sampling.cells(), dim=1)
    expected = (cells @ support.flatten(1)).topk(4, dim=1).indices
    found = sampled_candidates(sampling, support, 4, chunk_size)
    zero = sampling.cells().abs().amax(dim=1) == 0  # cells outside the map: every position ties
    assert torch.equal(found[~zero].sort(dim=1).values, expected[~zero].sort(dim=1).values)


def test_the_search_pays_for_many_cells_on_a_small_map_only():
    feature_map = torch.randn(64, 38, 63)
    many = torch.tensor([[0.0, 0.0, 320.0, 240.0]]).repeat(300, 1)
    assert roi_align_sampling(feature_map, many, (7, 7), 1 / 16, 2, True).search_pays()
    assert not roi_align_sampling(feature_map, many[:5], (7, 7), 1 / 16, 2, True).search_pays()
    outside = torch.tensor([[-900.0, -900.0, -500.0, -500.0]]).repeat(300, 1)  # samples nothing
    assert not roi_align_sampling(feature_map, outside, (7, 7), 1 / 16, 2, True).search_pays()

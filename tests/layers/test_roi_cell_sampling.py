import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from troi.layers.low_precision_search import rescore_candidates
from troi.layers.most_similar_roi_align import normalize_cells, normalize_support
from troi.layers.roi_cell_sampling import roi_align_sampling, sampled_candidates, sampled_points
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
    scores, found = sampled_candidates(sampling, F.normalize(torch.randn(4, 6, 8), dim=0), 3, 2**10)
    assert scores.shape == found.shape == (0, 3)


@pytest.mark.parametrize("chunk_size", [2**20, 64])  # one block of support positions; many
def test_the_candidates_are_the_exact_top_positions(chunk_size):
    generator = torch.Generator().manual_seed(1)
    feature_map = torch.randn(16, 12, 15, generator=generator, dtype=torch.float64).relu()
    boxes = proposal_boxes(30, generator, width=240, height=192)
    support = F.normalize(torch.randn(16, 10, 13, generator=generator, dtype=torch.float64).relu(), dim=0)
    sampling = roi_align_sampling(feature_map, boxes, (7, 7), 1 / 16, 2, True)
    cells = F.normalize(sampling.cells(), dim=1)
    expected_scores, expected = (cells @ support.flatten(1)).topk(4, dim=1)
    scores, found = sampled_candidates(sampling, support, 4, chunk_size)
    zero = sampling.cells().abs().amax(dim=1) == 0  # cells outside the map: every position ties
    assert torch.equal(found[~zero].sort(dim=1).values, expected[~zero].sort(dim=1).values)
    # the scores are the cells' similarities times their norms, best first
    assert torch.allclose(scores / sampling.cell_norms[:, None], expected_scores, rtol=0, atol=1e-12)


def test_the_search_pays_for_many_cells_on_a_small_map_only():
    feature_map = torch.randn(64, 38, 63)
    many = torch.tensor([[0.0, 0.0, 320.0, 240.0]]).repeat(300, 1)
    assert roi_align_sampling(feature_map, many, (7, 7), 1 / 16, 2, True).search_pays()
    assert not roi_align_sampling(feature_map, many[:5], (7, 7), 1 / 16, 2, True).search_pays()
    outside = torch.tensor([[-900.0, -900.0, -500.0, -500.0]]).repeat(300, 1)  # samples nothing
    assert not roi_align_sampling(feature_map, outside, (7, 7), 1 / 16, 2, True).search_pays()


def near_tied_map(generator, channels, support, size):
    """A ``[C, size, size]`` map whose every position lies symmetric between two of the
    unit-length ``support [C, P]`` columns a and b (noise orthogonal to a - b), tilted
    towards a by 1e-7 (its two best similarities differ by ~2e-8), and their cosine
    similarities in float64."""
    positions, count = support.shape[1], size * size
    a = torch.randint(0, positions, (count,), generator=generator)
    b = (a + 1 + torch.randint(0, positions - 1, (count,), generator=generator)) % positions
    difference = (support[:, a] - support[:, b]).t()  # (U, C)
    noise = 0.3 * torch.randn(count, channels, generator=generator, dtype=torch.float64).relu()
    noise -= (noise * difference).sum(1, keepdim=True) / difference.square().sum(1, keepdim=True) * difference
    vectors = (support[:, a] + support[:, b]).t() + noise + 1e-7 * difference
    return vectors.t().reshape(channels, size, size).float(), F.normalize(vectors, dim=1) @ support


def test_the_sampled_points_decide_near_ties_as_float64_decides_them():
    # Boxes on whole cells, aligned, one sample a bin: every cell is one map position, whose
    # two best support positions float32 cannot tell apart. 9 RoIs of 7x7 share a 9x9 map.
    generator = torch.Generator().manual_seed(0)
    channels = 512
    support = torch.randn(channels, 4, 10, generator=generator).relu()
    units = F.normalize(support.double().flatten(1), dim=0)
    feature_map, similarities = near_tied_map(generator, channels, units, 9)
    offsets = torch.tensor([[x, y] for y in range(3) for x in range(3)], dtype=torch.float32) * 16
    boxes = torch.cat([offsets, offsets + 16 * 7], dim=1)
    sampling = roi_align_sampling(feature_map, boxes, (7, 7), 1 / 16, 1, True)
    assert sampling.search_pays() and len(sampling.indices) == len(sampling)  # one position a cell
    cells = sampling.cells()
    exact = similarities[sampling.positions[sampling.indices]].topk(1, dim=1)
    plain_float32 = F.normalize(cells, dim=1) @ F.normalize(support, dim=0).flatten(1)
    assert (plain_float32.topk(1, dim=1).indices != exact.indices).sum() > 50  # float32 cannot tell
    normalized = normalize_support(support)
    scores, candidates = sampled_candidates(sampling, normalized, 3, 2**20)
    unit_cells, support_rows = normalize_cells(cells), normalized.flatten(1).t()
    _, indices = sampled_points(sampling, scores, candidates, unit_cells, support_rows, 1)
    assert torch.equal(indices, exact.indices)


def test_the_sampled_points_are_the_rescored_candidates_points():
    # float32, R50-DC5's channels: the search's own scores give the re-score's points and
    # its weights to float32 rounding
    generator = torch.Generator().manual_seed(2)
    feature_map = torch.randn(512, 12, 15, generator=generator).relu()
    boxes = proposal_boxes(30, generator, width=240, height=192).float()
    sampling = roi_align_sampling(feature_map, boxes, (7, 7), 1 / 16, 2, True)
    normalized = normalize_support(torch.randn(512, 10, 13, generator=generator).relu())
    unit_cells, support_rows = normalize_cells(sampling.cells()), normalized.flatten(1).t()
    scores, candidates = sampled_candidates(sampling, normalized, 4, 2**20)
    weights, indices = sampled_points(sampling, scores, candidates, unit_cells, support_rows, 2)
    expected_weights, expected = rescore_candidates(unit_cells, support_rows, candidates, 2)
    inside = sampling.cells().abs().amax(dim=1) > 0  # cells outside the map: every position ties
    assert torch.equal(indices[inside], expected[inside])
    assert torch.allclose(weights[inside], expected_weights[inside], rtol=0, atol=1e-6)

import pytest
import torch
import torch.nn.functional as F

from troi.layers import most_similar_roi_align
from troi.layers.most_similar_roi_align import float32_convolutions, most_similar_points, normalize_support


@pytest.mark.parametrize("name", ["troi_k2_n4", "troi_k4_avg"])
def test_matches_reference_implementation(fixture_npz, name):
    data = fixture_npz(name)
    out = most_similar_roi_align(
        torch.from_numpy(data["roi_feats"]), torch.from_numpy(data["ref_feats"]), int(data["K"])
    )
    assert out.dtype == torch.float64
    assert (out - torch.from_numpy(data["most_similar"])).abs().max() < 1e-8


def test_brute_force_definition():
    """Eq. 2-4 written cell by cell, against the chunked implementation."""
    roi, support, k = torch.randn(2, 6, 3, 3, dtype=torch.float64), torch.randn(2, 6, 4, 5, dtype=torch.float64), 3
    out = most_similar_roi_align(roi, support, k, chunk_size=7)
    for t in range(2):
        positions = support[t].flatten(1)  # (C, H*W)
        for r in range(2):
            for y in range(3):
                for x in range(3):
                    cell = roi[r, :, y, x]
                    similarity = F.cosine_similarity(cell[:, None], positions, dim=0)
                    scores, top = similarity.topk(k)
                    expected = (scores.softmax(0)[None] * positions[:, top]).sum(1)
                    assert torch.allclose(out[t, r, :, y, x], expected, atol=1e-12)


def test_chunk_size_does_not_change_result():
    roi, support = torch.randn(5, 8, 7, 7, dtype=torch.float64), torch.randn(3, 8, 6, 9, dtype=torch.float64)
    reference = most_similar_roi_align(roi, support, 2)
    for chunk_size in (1, 54, 1000):
        assert torch.allclose(most_similar_roi_align(roi, support, 2, chunk_size=chunk_size), reference, atol=1e-12)


def test_gradcheck():
    roi = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    support = torch.randn(2, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r, s: most_similar_roi_align(r, s, 2), (roi, support))


def test_empty_inputs():
    roi, support = torch.randn(3, 8, 7, 7), torch.randn(2, 8, 5, 6)
    assert most_similar_roi_align(roi[:0], support, 2).shape == (2, 0, 8, 7, 7)
    assert most_similar_roi_align(roi, support[:0], 2).shape == (0, 3, 8, 7, 7)


def test_similarity_runs_in_float32_under_autocast():
    cells, support = torch.randn(10, 8), torch.randn(8, 5, 6)
    expected_weights, expected_indices = most_similar_points(cells, support, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weights, indices = most_similar_points(cells.bfloat16(), support.bfloat16(), 3)
        float_weights, float_indices = most_similar_points(cells, support, 3)
    assert weights.dtype == torch.float32
    assert torch.equal(float_indices, expected_indices)
    assert torch.allclose(float_weights, expected_weights)


@pytest.mark.parametrize(
    "roi_shape, support_shape, k, message",
    [
        ((2, 8, 7), (1, 8, 5, 5), 2, r"roi_feats must be a 4-d tensor \[R, C, h, w\], got shape \(2, 8, 7\)"),
        ((2, 8, 7, 7), (8, 5, 5), 2, r"support_feats must be a 4-d tensor \[T, C, H, W\]"),
        ((2, 8, 7, 7), (1, 4, 5, 5), 2, r"support_feats has 4 channels .* expected 8"),
        ((2, 8, 7, 7), (1, 8, 2, 2), 5, r"K=5 must be in \[1, H\*W=4\]"),
    ],
)
def test_clear_errors(roi_shape, support_shape, k, message):
    with pytest.raises(ValueError, match=message):
        most_similar_roi_align(torch.randn(roi_shape), torch.randn(support_shape), k)


def test_the_exact_search_turns_tf32_off_on_cuda_only():
    assert torch.backends.cudnn.allow_tf32  # PyTorch's default: cuDNN convolutions in TF32
    with float32_convolutions(torch.device("cuda")):
        assert not torch.backends.cudnn.allow_tf32
    assert torch.backends.cudnn.allow_tf32
    with float32_convolutions(torch.device("cpu")):
        assert torch.backends.cudnn.allow_tf32


def test_support_vectors_are_float32_roundings_of_the_exact_unit_vectors():
    frame = torch.randn(512, 6, 9).relu()
    frame[:, 0, 0] = 0  # a zero position stays zero (F.normalize's eps)
    exact = frame.double() / frame.double().norm(dim=0, keepdim=True).clamp(min=1e-12)
    normalized = normalize_support(frame)
    assert normalized.dtype == torch.float32
    assert torch.equal(normalized, exact.float())


def test_near_ties_are_decided_as_float64_decides_them():
    # Each cell lies symmetric between two support positions a and b (noise orthogonal to
    # a - b), tilted towards a by 1e-7: its two best similarities differ by ~2e-8, which a
    # float32 product cannot resolve; the re-scored search orders them as float64 does.
    generator = torch.Generator().manual_seed(0)
    channels, positions, num_cells = 512, 40, 400
    support = torch.randn(channels, positions, generator=generator).relu()
    units = F.normalize(support.double(), dim=0)
    a = torch.randint(0, positions, (num_cells,), generator=generator)
    b = (a + 1 + torch.randint(0, positions - 1, (num_cells,), generator=generator)) % positions
    difference = (units[:, a] - units[:, b]).t()  # (M, C)
    noise = 0.3 * torch.randn(num_cells, channels, generator=generator, dtype=torch.float64).relu()
    noise -= (noise * difference).sum(1, keepdim=True) / difference.square().sum(1, keepdim=True) * difference
    cells = ((units[:, a] + units[:, b]).t() + noise + 1e-7 * difference).float()
    frame = support.view(channels, 4, 10)
    exact = (F.normalize(cells.double(), dim=1) @ units).topk(1, dim=1)
    plain_float32 = F.normalize(cells, dim=1) @ F.normalize(support, dim=0)
    assert (plain_float32.topk(1, dim=1).indices != exact.indices).sum() > 100  # float32 cannot tell
    _, indices = most_similar_points(cells, frame, 1)
    assert torch.equal(indices, exact.indices)

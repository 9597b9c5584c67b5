import importlib
import logging

import pytest
import torch
import torch.nn.functional as F

from troi.layers import TemporalRoIAlign
from troi.layers.low_precision_search import candidate_count, fast_low_precision_product, search_dtype

# troi.layers re-exports the function most_similar_roi_align under the module's name
msra = importlib.import_module("troi.layers.most_similar_roi_align")
lps = importlib.import_module("troi.layers.low_precision_search")

LOW_PRECISIONS = [torch.bfloat16, torch.float16]


def post_relu_features(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).relu()


@pytest.fixture
def fast_product(monkeypatch):
    """Pretend this CPU multiplies bfloat16 and float16 fast (the path is then taken, slowly)."""
    monkeypatch.setattr(lps, "fast_low_precision_product", lambda device, dtype: True)


@pytest.fixture
def fresh_fallback_log(monkeypatch):
    monkeypatch.setattr(lps, "_logged_fallbacks", set())


@pytest.mark.parametrize("dtype", LOW_PRECISIONS)
def test_low_precision_search_finds_the_exact_points(dtype):
    # R50-DC5's channels; post-ReLU features as the DC5 neck gives
    cells = F.normalize(post_relu_features(0, 1500, 512), dim=1)
    support = F.normalize(post_relu_features(1, 512, 19, 31), dim=0)
    exact_weights, exact_points = msra.most_similar_unit_points(cells, support, 2)
    weights, points = msra.most_similar_unit_points(cells, support, 2, search_dtype=dtype)
    assert points.dtype == torch.long and weights.dtype == torch.float32
    same = (points.sort(dim=1).values == exact_points.sort(dim=1).values).all(dim=1)
    assert same.float().mean() >= 0.995
    # the chosen points' weights are float32's, not the low precision's
    order, exact_order = points.argsort(dim=1), exact_points.argsort(dim=1)
    assert torch.allclose(weights.gather(1, order)[same], exact_weights.gather(1, exact_order)[same], atol=1e-6)


def test_candidates_never_exceed_the_positions():
    cells = F.normalize(torch.randn(5, 8), dim=1)
    support = F.normalize(torch.randn(8, 2, 2), dim=0)  # 4 positions < candidate_count(2)
    assert candidate_count(2) > 4
    weights, points = msra.most_similar_unit_points(cells, support, 2, search_dtype=torch.bfloat16)
    exact_weights, exact_points = msra.most_similar_unit_points(cells, support, 2)
    assert torch.equal(points.sort(dim=1).values, exact_points.sort(dim=1).values)
    assert torch.allclose(weights.sort(dim=1).values, exact_weights.sort(dim=1).values, atol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 5000, 2**22])
def test_operator_with_a_fast_low_precision_product(fast_product, chunk_size):
    roi, support = post_relu_features(2, 30, 64, 7, 7), post_relu_features(3, 3, 64, 12, 20)
    exact = TemporalRoIAlign(64, 2, 4)
    low = TemporalRoIAlign(64, 2, 4, similarity_chunk_size=chunk_size, similarity_precision="bfloat16")
    low.load_state_dict(exact.state_dict())
    with torch.no_grad():
        exact_points, points = exact.similar_points(roi, support), low.similar_points(roi, support)
        same = (points.indices.sort(dim=2).values == exact_points.indices.sort(dim=2).values).all(dim=2)  # (T, M)
        assert same.float().mean() >= 0.995
        cell_diff = (low(roi, support) - exact(roi, support)).abs().amax(dim=1).flatten()  # (R*h*w)
    # a cell whose points (and its 3x3 neighbours', through the embedding) all agree is float32-equal
    agreeing = F.max_pool2d((~same).any(dim=0).float().view(30, 1, 7, 7), 3, 1, 1).flatten() == 0
    assert agreeing.float().mean() > 0.9
    assert cell_diff[agreeing].max() < 1e-5


def test_gradients_of_the_low_precision_path_are_the_exact_paths(fast_product):
    roi, support = post_relu_features(4, 6, 32, 5, 5), post_relu_features(5, 2, 32, 8, 9)
    grads = {}
    for precision in ("exact", "float16"):
        torch.manual_seed(0)
        operator = TemporalRoIAlign(32, 2, 4, similarity_precision=precision)
        roi_p, support_p = roi.clone().requires_grad_(), support.clone().requires_grad_()
        operator(roi_p, support_p).square().sum().backward()
        grads[precision] = (roi_p.grad, support_p.grad, operator.embed.weight.grad)
    with torch.no_grad():
        exact_points = TemporalRoIAlign(32, 2, 4).similar_points(roi, support).indices.sort(dim=2).values
        low_points = (
            (TemporalRoIAlign(32, 2, 4, similarity_precision="float16").similar_points(roi, support).indices)
            .sort(dim=2)
            .values
        )
    assert torch.equal(exact_points, low_points)  # same points here, so the same gradients
    for exact_grad, low_grad in zip(grads["exact"], grads["float16"]):
        assert torch.allclose(exact_grad, low_grad, rtol=1e-4, atol=1e-5)


def test_falls_back_to_exact_without_a_fast_product_and_says_so_once(monkeypatch, fresh_fallback_log, caplog):
    monkeypatch.setattr(lps, "fast_low_precision_product", lambda device, dtype: False)
    roi, support = post_relu_features(6, 5, 16, 7, 7), post_relu_features(7, 2, 16, 9, 9)
    exact = TemporalRoIAlign(16, 2, 4)
    low = TemporalRoIAlign(16, 2, 4, similarity_precision="bfloat16")
    low.load_state_dict(exact.state_dict())
    with caplog.at_level(logging.WARNING, logger=lps.__name__), torch.no_grad():
        assert torch.equal(low(roi, support), exact(roi, support))
        low(roi, support)
    fallbacks = [record for record in caplog.records if "exact float32 instead" in record.getMessage()]
    assert len(fallbacks) == 1
    assert "'bfloat16'" in fallbacks[0].getMessage() and "cpu" in fallbacks[0].getMessage()


def test_search_dtype_choices(monkeypatch, fresh_fallback_log):
    assert search_dtype("exact", torch.device("cpu")) is None
    monkeypatch.setattr(lps, "fast_low_precision_product", lambda device, dtype: True)
    assert search_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    assert search_dtype("float16", torch.device("cpu")) == torch.float16
    with pytest.raises(ValueError, match=r"'fp8' must be one of \['bfloat16', 'exact', 'float16'\]"):
        search_dtype("fp8", torch.device("cpu"))
    with pytest.raises(ValueError, match="similarity_precision 'half' must be one of"):
        TemporalRoIAlign(8, similarity_precision="half")


def test_which_hardware_counts_as_fast(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True, "amx_fp16": False})
    assert fast_low_precision_product(torch.device("cpu"), torch.bfloat16)
    assert not fast_low_precision_product(torch.device("cpu"), torch.float16)
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_fp16": True})
    assert fast_low_precision_product(torch.device("cpu"), torch.float16)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (7, 0))  # V100: fp16 tensor cores only
    assert fast_low_precision_product(torch.device("cuda"), torch.float16)
    assert not fast_low_precision_product(torch.device("cuda"), torch.bfloat16)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (9, 0))
    assert fast_low_precision_product(torch.device("cuda"), torch.bfloat16)
    assert not fast_low_precision_product(torch.device("meta"), torch.bfloat16)

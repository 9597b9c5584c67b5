import importlib
import logging
import time

import pytest
import torch
import torch.nn.functional as F

from troi.layers.most_similar_roi_align import most_similar_unit_points, normalize_cells, normalize_support

product_module = importlib.import_module("troi.layers.similarity_product")


@pytest.fixture
def no_choice(monkeypatch):
    """A process that has not chosen a way yet."""
    monkeypatch.setattr(product_module, "_chosen_ways", {})


def large_operands():
    """Operands just over the timing threshold."""
    generator = torch.Generator().manual_seed(0)
    channels = 64
    columns = product_module.TIMED_MULTIPLY_ADDS // (64 * channels) + 1
    return torch.randn(64, channels, generator=generator), torch.randn(channels, columns, generator=generator)


def test_both_ways_give_the_product():
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(37, 24, generator=generator)
    support = torch.randn(24, 5, 11, generator=generator)
    # contiguous columns, a block of them, and the transpose of positions' rows
    for columns in (support.flatten(1), support.flatten(1)[:, 3:40], support.flatten(1).t().contiguous().t()):
        for name, product in product_module.PRODUCT_WAYS.items():
            result = product(rows, columns)
            assert result.shape == (37, columns.shape[1]), name
            torch.testing.assert_close(result, (rows.double() @ columns.double()).float(), rtol=0, atol=1e-5)


def test_the_faster_way_is_chosen_once_and_logged(no_choice, monkeypatch, caplog):
    calls = {"matrix_product": 0, "convolution": 0}

    def way(name, delay):
        def product(rows, columns):
            calls[name] += 1
            time.sleep(delay)
            return rows @ columns

        return product

    monkeypatch.setattr(
        product_module,
        "PRODUCT_WAYS",
        {"matrix_product": way("matrix_product", 0.03), "convolution": way("convolution", 0)},
    )
    rows, columns = large_operands()
    with caplog.at_level(logging.INFO, logger=product_module.__name__):
        product_module.similarity_product(rows, columns)
        product_module.similarity_product(rows, columns)
    assert product_module.similarity_product_way(rows, columns) == "convolution"
    assert calls == {"matrix_product": 2, "convolution": 4}  # timed twice each, then the chosen one twice
    assert [record.getMessage().split(":")[0] for record in caplog.records] == ["similarity product in float32 on CPU"]
    assert product_module._chosen_ways == {("cpu", torch.float32): "convolution"}  # per device type and dtype


def test_small_products_are_not_timed(no_choice):
    rows, columns = torch.randn(8, 16), torch.randn(16, 30)
    assert product_module.similarity_product_way(rows, columns) == "matrix_product"
    assert product_module._chosen_ways == {}
    torch.testing.assert_close(product_module.similarity_product(rows, columns), rows @ columns)


def test_products_need_no_gradient():
    rows = torch.randn(4, 8, requires_grad=True)
    assert not product_module.similarity_product(rows, torch.randn(8, 9)).requires_grad


@pytest.mark.parametrize("with_sampling", [False, True])
def test_the_search_finds_the_same_points_either_way(monkeypatch, with_sampling):
    from troi.layers.roi_cell_sampling import roi_align_sampling
    from torchvision.ops import roi_align

    generator = torch.Generator().manual_seed(3)
    channels = 64
    target_map = torch.randn(channels, 12, 14, generator=generator).relu()
    corners = torch.rand(20, 2, generator=generator) * torch.tensor([150.0, 130.0])
    boxes = torch.cat([corners, corners + 30 + torch.rand(20, 2, generator=generator) * 60], dim=1)
    cells = roi_align(target_map[None], [boxes], 7, 1 / 16, 2, True).permute(0, 2, 3, 1).reshape(-1, channels)
    sampling = roi_align_sampling(target_map, boxes, (7, 7), 1 / 16, 2, True) if with_sampling else None
    assert sampling is None or sampling.search_pays()
    support = normalize_support(torch.randn(channels, 12, 14, generator=generator).relu())
    found = {}
    for name in product_module.PRODUCT_WAYS:
        monkeypatch.setattr(product_module, "_chosen_ways", {("cpu", torch.float32): name})
        found[name] = most_similar_unit_points(normalize_cells(cells), support, 2, 2**10, cell_sampling=sampling)
    (weights, indices), (other_weights, other_indices) = found.values()
    assert torch.equal(indices, other_indices)
    torch.testing.assert_close(weights, other_weights, rtol=0, atol=1e-6)
    expected = (F.normalize(cells.double(), dim=1) @ support.flatten(1).double()).topk(2, dim=1).indices
    assert torch.equal(indices, expected)

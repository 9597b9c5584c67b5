import pytest
import torch

from troi.layers import SelsaAggregator, SelsaReferenceProjections


def test_matches_reference_implementation_and_its_state_dict(fixture_npz):
    data = fixture_npz("selsa_c64_b16")
    module = SelsaAggregator(64, int(data["num_attention_blocks"])).double()
    state = {key: torch.from_numpy(value) for key, value in data.items() if "." in key}
    assert set(module.state_dict()) == set(state)  # checkpoints of the reference load as is
    module.load_state_dict(state)
    out = module(torch.from_numpy(data["x"]), torch.from_numpy(data["ref_x"]))
    assert (out - torch.from_numpy(data["out"])).abs().max() < 1e-8


def test_multi_head_attention_written_out():
    module = SelsaAggregator(8, 2).double()
    x, ref_x = torch.randn(3, 8, dtype=torch.float64), torch.randn(5, 8, dtype=torch.float64)
    keys, refs, values = module.fc_embed(x), module.ref_fc_embed(ref_x), module.ref_fc(ref_x)
    heads = []
    for head in range(2):
        channels = slice(4 * head, 4 * head + 4)
        weights = (keys[:, channels] @ refs[:, channels].t() / 2.0).softmax(dim=1)
        heads.append(weights @ values[:, channels])
    assert torch.allclose(module(x, ref_x), module.fc(torch.cat(heads, dim=1)), atol=1e-12)


def test_empty_references_and_empty_keys():
    module = SelsaAggregator(16, 4)
    x = torch.randn(5, 16, requires_grad=True)
    no_refs = module(x, x[:0])
    assert torch.equal(no_refs, module.fc.bias.expand(5, 16))
    assert module(x[:0], x).shape == (0, 16)
    (no_refs.sum() + module(x[:0], x).sum()).backward()


def test_gradcheck():
    module = SelsaAggregator(8, 4).double()
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    ref_x = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (x, ref_x))


def test_attention_in_float32_under_autocast():
    module = SelsaAggregator(16, 4)
    x, ref_x = torch.randn(5, 16), torch.randn(7, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x, ref_x)
    assert torch.allclose(out.float(), module(x, ref_x), atol=0.05)


def test_clear_errors():
    with pytest.raises(ValueError, match="in_channels C=10 must be divisible by num_attention_blocks=4"):
        SelsaAggregator(10, 4)
    module = SelsaAggregator(8, 2)
    with pytest.raises(ValueError, match=r"ref_x must be a 2-d tensor \[M, C\]"):
        module(torch.randn(3, 8), torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="x has 6 channels"):
        module(torch.randn(3, 6), torch.randn(3, 8))


def test_a_non_finite_reference_is_an_error():
    module = SelsaAggregator(8, 2)
    ref_x = torch.randn(5, 8)
    ref_x[3, 1] = float("nan")  # before: every key's output NaN
    with pytest.raises(FloatingPointError, match="reference proposal features ref_x holds 1 non-finite"):
        module(torch.randn(3, 8), ref_x)
    with pytest.raises(FloatingPointError, match="key proposal features x"):
        module(torch.full((2, 8), float("inf")), torch.randn(5, 8))


def test_half_precision_inputs_into_a_float32_module():
    module = SelsaAggregator(16, 4)
    x, ref_x = torch.randn(5, 16).half(), torch.randn(7, 16).half()
    out = module(x, ref_x)
    assert out.dtype == torch.float16 and torch.allclose(out.float(), module(x.float(), ref_x.float()), atol=1e-2)


def test_projected_references_serve_any_keys_and_concatenate_by_rows():
    torch.manual_seed(0)
    aggregator = SelsaAggregator(16, 4).double()
    x, first, second = (torch.randn(n, 16, dtype=torch.float64) for n in (3, 5, 2))
    projected = SelsaReferenceProjections.cat([aggregator.project(first), aggregator.project(second)])
    assert len(projected) == 7
    assert torch.allclose(aggregator.attend(x, projected), aggregator(x, torch.cat([first, second])), atol=1e-12)
    _, tail = projected.split([5, 2])
    assert torch.allclose(aggregator.attend(x, tail), aggregator(x, second), atol=1e-12)
    with pytest.raises(FloatingPointError, match="reference proposal features ref_x"):
        aggregator.project(torch.full((2, 16), float("nan"), dtype=torch.float64))

import pytest
import torch
from torch import nn

from troi.layers import TemporalAttentionalFeatureAggregation
from troi.layers.temporal_attention import frame_weights


def fixture_module(data):
    channels = data["roi_feats"].shape[1]
    module = TemporalAttentionalFeatureAggregation(channels, int(data["N"])).double()
    if int(data["N"]) > 0:
        module.embed.weight.data = torch.from_numpy(data["embed_weight"])
        module.embed.bias.data = torch.from_numpy(data["embed_bias"])
    return module


@pytest.mark.parametrize("name", ["troi_k2_n4", "troi_k4_avg"])
def test_matches_reference_implementation(fixture_npz, name):
    data = fixture_npz(name)
    out = fixture_module(data)(torch.from_numpy(data["roi_feats"]), torch.from_numpy(data["most_similar"]))
    assert (out - torch.from_numpy(data["aggregated"])).abs().max() < 1e-8


def test_equations_5_to_8_written_out():
    module = TemporalAttentionalFeatureAggregation(8, 2).double()
    target, supports = torch.randn(3, 8, 2, 2, dtype=torch.float64), torch.randn(2, 3, 8, 2, 2, dtype=torch.float64)
    out = module(target, supports)
    frames = [target] + list(supports)
    embeds = [module.embed(frame) for frame in frames]
    for block in range(2):
        channels = slice(4 * block, 4 * block + 4)
        logits = torch.stack([(e[:, channels] * embeds[0][:, channels]).sum(1) / 2.0 for e in embeds])
        weights = logits.softmax(0)
        expected = sum(w[:, None] * f[:, channels] for w, f in zip(weights, frames))
        assert torch.allclose(out[:, channels], expected, atol=1e-12)


def test_owns_exactly_one_conv_or_none():
    with_attention = TemporalAttentionalFeatureAggregation(16, 4)
    convs = [m for m in with_attention.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 and convs[0].kernel_size == (3, 3) and convs[0].padding == (1, 1)
    assert convs[0].bias is not None
    averaging = TemporalAttentionalFeatureAggregation(16, 0)
    assert not list(averaging.parameters())
    target, supports = torch.randn(2, 16, 7, 7), torch.randn(3, 2, 16, 7, 7)
    assert torch.allclose(averaging(target, supports), torch.cat([target[None], supports]).mean(0))


def test_gradcheck():
    module = TemporalAttentionalFeatureAggregation(4, 2).double()
    target = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    supports = torch.randn(2, 2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(module, (target, supports))


def test_clear_errors():
    with pytest.raises(ValueError, match="channels C=10 must be divisible by num_attention_blocks N=4"):
        TemporalAttentionalFeatureAggregation(10, 4)
    module = TemporalAttentionalFeatureAggregation(8, 2)
    with pytest.raises(ValueError, match=r"support_roi_feats must be a 5-d tensor \[T, R, C, h, w\]"):
        module(torch.randn(2, 8, 7, 7), torch.randn(2, 8, 7, 7))
    with pytest.raises(ValueError, match=r"must be \[T, \*target_roi_feats.shape\]"):
        module(torch.randn(2, 8, 7, 7), torch.randn(1, 3, 8, 7, 7))
    with pytest.raises(ValueError, match="target_roi_feats has 6 channels"):
        module(torch.randn(2, 6, 7, 7), torch.randn(1, 2, 6, 7, 7))


def test_half_precision_inputs_into_a_float32_module():
    module = TemporalAttentionalFeatureAggregation(8, 4)
    target, support = torch.randn(2, 8, 3, 3).bfloat16(), torch.randn(3, 2, 8, 3, 3).bfloat16()
    out = module(target, support)
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), module(target.float(), support.float()), atol=0.05, rtol=0.02)


def is_denormal(tensor):
    return (tensor != 0) & (tensor.abs() < torch.finfo(tensor.dtype).tiny)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_frame_weights_are_the_softmax_where_no_weight_is_negligible(dtype):
    logits = torch.randn(15, 40, 4, dtype=dtype) * 3
    assert torch.equal(frame_weights(logits), logits.softmax(0))


def test_frame_weights_of_a_saturated_softmax_hold_no_denormals_nor_their_gradients():
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(15, 300, 4, generator=generator) * 60).requires_grad_()
    plain = logits.softmax(0)
    assert is_denormal(plain).any()  # what the plain softmax holds
    weights = frame_weights(logits)
    assert not is_denormal(weights).any()
    dropped = weights == 0
    assert dropped.any()
    # what is dropped is below eps**2 of the largest weight, and the rest is the softmax's
    largest = plain.amax(0, keepdim=True).detach()
    assert (plain[dropped] <= (largest * torch.finfo(torch.float32).eps ** 2).expand_as(plain)[dropped]).all()
    assert torch.allclose(weights[~dropped], plain[~dropped], rtol=1e-6, atol=0)
    assert torch.allclose(weights.sum(0), torch.ones(300, 4))
    (gradient,) = torch.autograd.grad(weights, logits, torch.randn(15, 300, 4, generator=generator))
    assert not is_denormal(gradient).any() and (gradient[dropped] == 0).all()

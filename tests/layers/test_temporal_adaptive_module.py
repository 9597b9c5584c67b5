"""TemporalAdaptiveModule against mmaction2 0.24.1's TAM (tests/fixtures/tam/README.md)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from troi.layers import TemporalAdaptiveModule

FIXTURE = "tam/tam_c32_t8"


def reference_module(data):
    """Our module with the fixture's (perturbed) state dict, in float64."""
    module = TemporalAdaptiveModule(int(data["C"]), int(data["T"])).double()
    state = {key: torch.from_numpy(value) for key, value in data.items() if key.startswith(("G.", "L."))}
    module.load_state_dict(state)
    return module


def test_state_dict_has_the_reference_names_and_shapes(fixture_npz):
    data = fixture_npz(FIXTURE)
    ours = TemporalAdaptiveModule(32, 8).state_dict()
    reference = {key: value.shape for key, value in data.items() if key.startswith(("G.", "L."))}
    assert {key: tuple(value.shape) for key, value in ours.items()} == reference
    assert [key for key in ours if key.endswith("weight") and "1." not in key] == [
        "G.0.weight",
        "G.3.weight",
        "L.0.weight",
        "L.3.weight",
    ]  # no biases


def test_eval_forward_matches_reference(fixture_npz):
    data = fixture_npz(FIXTURE)
    module = reference_module(data).eval()
    with torch.no_grad():
        out = module(torch.from_numpy(data["x"]))
    assert out.shape == data["x"].shape
    assert (out - torch.from_numpy(data["out_eval"])).abs().max() < 1e-6


def test_train_forward_backward_and_statistics_match_reference(fixture_npz):
    data = fixture_npz(FIXTURE)
    module = reference_module(data).train()
    x = torch.from_numpy(data["x"]).requires_grad_(True)
    out = module(x)
    loss = (out * torch.from_numpy(data["grad_out_weight"])).sum()
    loss.backward()
    assert (out - torch.from_numpy(data["out_train"])).abs().max() < 1e-6
    assert abs(loss.item() - float(data["loss"])) < 1e-6 * abs(float(data["loss"]))
    assert (x.grad - torch.from_numpy(data["grad_x"])).abs().max() < 1e-6
    for name, parameter in module.named_parameters():
        assert (parameter.grad - torch.from_numpy(data[f"grad.{name}"])).abs().max() < 1e-6, name
    for name, buffer in module.state_dict().items():
        if "running" in name:
            assert (buffer - torch.from_numpy(data[f"after_train.{name}"])).abs().max() < 1e-12, name


def test_gradcheck():
    torch.manual_seed(0)
    module = TemporalAdaptiveModule(4, 4, beta=2).double().eval()  # eval: BN uses running stats
    x = torch.randn(8, 4, 2, 2, dtype=torch.float64, requires_grad=True)  # 2 clips of 4 frames
    assert torch.autograd.gradcheck(module, (x,))


def test_the_three_steps_written_out():
    """Importance map x features, then each (video, channel)'s K-tap kernel over time."""
    torch.manual_seed(1)
    num_clips, segments, channels, taps = 2, 5, 8, 3
    module = TemporalAdaptiveModule(channels, segments, alpha=2, beta=2, adaptive_kernel_size=taps).double().eval()
    x = torch.randn(num_clips * segments, channels, 4, 3, dtype=torch.float64)
    clips = x.view(num_clips, segments, channels, 4, 3)
    signal = clips.mean(dim=(3, 4)).transpose(1, 2)  # (N, C, T)
    importance = module.L(signal)  # (N, C, T)
    kernels = module.G(signal.reshape(-1, segments)).view(num_clips, channels, taps)
    assert torch.allclose(kernels.sum(-1), torch.ones(num_clips, channels, dtype=torch.float64))
    expected = torch.zeros_like(clips)
    for n in range(num_clips):
        for c in range(channels):
            for t in range(segments):
                for k in range(taps):
                    source = t + k - taps // 2
                    if 0 <= source < segments:
                        expected[n, t, c] += kernels[n, c, k] * importance[n, c, source] * clips[n, source, c]
    with torch.no_grad():
        assert torch.allclose(module(x), expected.view_as(x), atol=1e-12)


def test_a_centred_one_hot_kernel_only_reweights():
    module = TemporalAdaptiveModule(4, 3, beta=1).double().eval()
    with torch.no_grad():
        module.G[3].weight.zero_()
        module.G[3].weight[1] = 1e4  # the softmax puts all its weight on the centre tap
        module.G[3].weight[1, 0] = 0.0
    x = torch.rand(6, 4, 2, 2, dtype=torch.float64) + 1.0  # positive: ReLU(BN(...)) of it is non-zero
    with torch.no_grad():
        out = module(x)
        importance = module.L(x.view(2, 3, 4, 2, 2).mean(dim=(3, 4)).transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(out, x * importance.reshape(6, 4, 1, 1), atol=1e-9)


def test_layers_are_the_papers():
    module = TemporalAdaptiveModule(64, 8)
    linear_in, bn_g, _, linear_out, softmax = module.G
    assert (linear_in.in_features, linear_in.out_features, linear_out.out_features) == (8, 16, 3)
    assert isinstance(bn_g, nn.BatchNorm1d) and isinstance(softmax, nn.Softmax)
    conv_in, bn_l, _, conv_out, sigmoid = module.L
    assert (conv_in.in_channels, conv_in.out_channels, conv_in.kernel_size, conv_in.padding) == (64, 16, (3,), (1,))
    assert (conv_out.out_channels, conv_out.kernel_size) == (64, (1,))
    assert isinstance(bn_l, nn.BatchNorm1d) and isinstance(sigmoid, nn.Sigmoid)
    assert all(layer.bias is None for layer in (linear_in, linear_out, conv_in, conv_out))


def test_clear_errors():
    with pytest.raises(ValueError, match="adaptive_kernel_size K=4 must be odd"):
        TemporalAdaptiveModule(8, 4, adaptive_kernel_size=4)
    with pytest.raises(ValueError, match=r"beta=16 must be in \[1, channels C=8\]"):
        TemporalAdaptiveModule(8, 4, beta=16)
    with pytest.raises(ValueError, match="num_segments T=0"):
        TemporalAdaptiveModule(8, 0)
    module = TemporalAdaptiveModule(8, 4)
    with pytest.raises(ValueError, match=r"N\*T=6 frames, not a multiple of num_segments T=4"):
        module(torch.randn(6, 8, 3, 3))
    with pytest.raises(ValueError, match="x has 6 channels"):
        module(torch.randn(4, 6, 3, 3))
    with pytest.raises(ValueError, match=r"x must be a 4-d tensor \[N\*T, C, H, W\]"):
        module(torch.randn(4, 8, 3))


def test_float32_and_batches_of_several_clips_are_independent():
    module = TemporalAdaptiveModule(16, 4).eval()
    x = torch.randn(12, 16, 5, 5)
    with torch.no_grad():
        together = module(x)
        alone = torch.cat([module(x[4 * i : 4 * i + 4]) for i in range(3)])
    assert together.dtype == torch.float32
    assert torch.allclose(together, alone, atol=1e-6)
    assert F.mse_loss(together, x) > 0  # it does change the features

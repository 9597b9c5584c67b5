import importlib

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from troi.layers import TemporalAttentionalFeatureAggregation, TemporalRoIAlign, most_similar_roi_align


def fixture_operator(data, **kwargs):
    channels = data["roi_feats"].shape[1]
    operator = TemporalRoIAlign(channels, int(data["K"]), int(data["N"]), **kwargs).double()
    if int(data["N"]) > 0:
        operator.embed.weight.data = torch.from_numpy(data["embed_weight"])
        operator.embed.bias.data = torch.from_numpy(data["embed_bias"])
    return operator


@pytest.mark.parametrize("name", ["troi_k2_n4", "troi_k4_avg"])
@pytest.mark.parametrize("chunk_size", [1, 300, 2**22])
def test_matches_reference_implementation(fixture_npz, name, chunk_size):
    data = fixture_npz(name)
    out = fixture_operator(data, similarity_chunk_size=chunk_size)(
        torch.from_numpy(data["roi_feats"]), torch.from_numpy(data["ref_feats"])
    )
    assert out.shape == data["aggregated"].shape
    assert (out - torch.from_numpy(data["aggregated"])).abs().max() < 1e-8


@pytest.mark.parametrize("blocks", [0, 1, 4])
def test_equals_tafa_of_most_similar_roi_align(blocks):
    operator = TemporalRoIAlign(
        8, num_most_similar_points=3, num_attention_blocks=blocks, similarity_chunk_size=100
    ).double()
    roi, support = torch.randn(4, 8, 5, 6, dtype=torch.float64), torch.randn(3, 8, 9, 7, dtype=torch.float64)
    tafa = TemporalAttentionalFeatureAggregation(8, blocks).double()
    if blocks:
        tafa.embed.load_state_dict(operator.embed.state_dict())
    expected = tafa(roi, most_similar_roi_align(roi, support, 3))
    assert torch.allclose(operator(roi, support), expected, atol=1e-12)


class LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an op returns."""

    largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(tensor, torch.Tensor):
                self.largest = max(self.largest, tensor.numel())
        return out


def test_never_materialises_all_frames_nor_the_full_similarity():
    rois, channels, size, frames, height, width = 20, 8, 7, 6, 12, 12
    operator = TemporalRoIAlign(channels, 2, 4, similarity_chunk_size=4000)
    roi, support = torch.randn(rois, channels, size, size), torch.randn(frames, channels, height, width)
    with torch.no_grad(), LargestTensor() as recorder:
        operator(roi, support)
    all_frames = frames * rois * channels * size * size  # [T, R, C, h, w]
    full_similarity = rois * size * size * frames * height * width
    assert recorder.largest < all_frames < full_similarity


class OpCounter(TorchDispatchMode):
    """Counts the ops run, by name, and the shapes of their tensor arguments."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
        self.calls.append((str(func.overloadpacket.__name__), shapes))
        return func(*args, **(kwargs or {}))


def test_training_never_runs_the_similarity_products_backward():
    # the chosen points' similarities are re-scored differentiably; the dense backward of the
    # (cells x H*W) product would cost two more products of the forward's size
    operator = TemporalRoIAlign(8, 2, 4, similarity_chunk_size=500)
    roi = torch.randn(6, 8, 7, 7, requires_grad=True)
    support = torch.randn(3, 8, 9, 11, requires_grad=True)
    out = operator(roi, support)
    with OpCounter() as counter:
        out.square().sum().backward()
    conv_backwards = [shapes for name, shapes in counter.calls if name == "convolution_backward"]
    assert conv_backwards  # the embedding's
    assert all(shapes[2][2:] == (3, 3) for shapes in conv_backwards)  # never a 1x1 (similarity) one
    assert roi.grad.abs().sum() > 0 and support.grad.abs().sum() > 0


def test_owns_exactly_one_conv():
    assert sum(isinstance(m, nn.Conv2d) for m in TemporalRoIAlign(16, 2, 4).modules()) == 1
    assert not list(TemporalRoIAlign(16, 2, 0).parameters())


@pytest.mark.parametrize("blocks", [0, 2])
def test_gradcheck(blocks):
    operator = TemporalRoIAlign(4, 2, blocks, similarity_chunk_size=20).double()
    roi = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    support = torch.randn(2, 4, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(operator, (roi, support))
    if blocks:  # the embedding's parameters get the gradient of an explicit 3x3 conv
        weight = operator.embed.weight
        assert torch.autograd.gradcheck(
            lambda w: torch.func.functional_call(operator, {"embed.weight": w}, (roi, support)),
            (weight.detach().clone().requires_grad_(),),
        )


def test_zero_rois_and_zero_support_frames():
    operator = TemporalRoIAlign(8, 2, 4)
    roi, support = torch.randn(3, 8, 7, 7, requires_grad=True), torch.randn(2, 8, 5, 6)
    empty = operator(roi[:0], support)
    assert empty.shape == (0, 8, 7, 7)
    empty.sum().backward()
    assert operator(roi, support[:0]) is roi


def test_similarity_and_softmax_in_float32_under_autocast(monkeypatch):
    similarity_dtypes = []
    search = importlib.import_module("troi.layers.most_similar_roi_align")
    product = search.similarity_product

    def recording_product(rows, columns):
        similarity_dtypes.append((rows.dtype, columns.dtype))
        return product(rows, columns)

    monkeypatch.setattr(search, "similarity_product", recording_product)
    operator = TemporalRoIAlign(8, 2, 4)
    roi, support = torch.randn(3, 8, 7, 7), torch.randn(2, 8, 5, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = operator(roi.bfloat16(), support.bfloat16())
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    assert similarity_dtypes and set(similarity_dtypes) == {(torch.float32, torch.float32)}


def test_clear_errors():
    operator = TemporalRoIAlign(8, 2, 4)
    with pytest.raises(ValueError, match=r"roi_feats must be a 4-d tensor \[R, C, h, w\]"):
        operator(torch.randn(8, 7, 7), torch.randn(1, 8, 5, 5))
    with pytest.raises(ValueError, match="roi_feats has 6 channels"):
        operator(torch.randn(2, 6, 7, 7), torch.randn(1, 6, 5, 5))
    with pytest.raises(ValueError, match="support_feats has 4 channels"):
        operator(torch.randn(2, 8, 7, 7), torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"K=2 must be in \[1, H\*W=1\]"):
        operator(torch.randn(2, 8, 7, 7), torch.randn(1, 8, 1, 1))
    with pytest.raises(ValueError, match="channels C=10 must be divisible by num_attention_blocks N=4"):
        TemporalRoIAlign(10, 2, 4)
    with pytest.raises(ValueError, match="num_most_similar_points K=0 must be >= 1"):
        TemporalRoIAlign(8, 0, 4)


@pytest.mark.parametrize("blocks", [0, 4])
def test_encoded_support_frames_give_the_same_output(blocks):
    operator = TemporalRoIAlign(8, 2, blocks, similarity_chunk_size=50).double()
    roi, support = torch.randn(3, 8, 5, 5, dtype=torch.float64), torch.randn(4, 8, 6, 7, dtype=torch.float64)
    encodings = [operator.encode_support(frame) for frame in support]
    assert (encodings[0].projections is None) == (blocks == 0)
    # the normalised map positions last in memory: its [H*W, C] rows are a view
    normalized = encodings[0].normalized
    assert normalized.shape == (8, 6, 7) and normalized.flatten(1).t().is_contiguous()
    assert torch.allclose(normalized, torch.nn.functional.normalize(support[0], dim=0), atol=1e-15)
    assert torch.allclose(operator(roi, encodings), operator(roi, support), atol=1e-12)
    assert operator(roi, []) is roi


def test_encodings_of_another_operator_are_rejected():
    frame = torch.randn(8, 5, 5)
    with pytest.raises(ValueError, match="projections missing"):
        TemporalRoIAlign(8, 2, 4)(torch.randn(1, 8, 3, 3), [TemporalRoIAlign(8, 2, 0).encode_support(frame)])


@pytest.mark.parametrize("blocks", [0, 2])
def test_similar_points_are_the_points_and_weights_forward_uses(blocks):
    operator = TemporalRoIAlign(6, 3, blocks, similarity_chunk_size=40).double()
    roi, support = torch.randn(2, 6, 3, 4, dtype=torch.float64), torch.randn(3, 6, 5, 4, dtype=torch.float64)
    found = operator.similar_points(roi, support)
    cells, frames = 2 * 3 * 4, 3
    assert found.weights.shape == found.indices.shape == (frames, cells, 3)
    assert found.attention.shape == (frames + 1, cells, max(blocks, 1))
    assert torch.allclose(found.attention.sum(dim=0), torch.ones(cells, max(blocks, 1), dtype=torch.float64))
    assert torch.allclose(found.weights.sum(dim=2), torch.ones(frames, cells, dtype=torch.float64))
    # Rebuild eq. 8 from what similar_points reports: it must be forward's output.
    target = roi.permute(0, 2, 3, 1).reshape(cells, 6)
    support_cells = support.flatten(2).transpose(1, 2)  # (T, H*W, C)
    most_similar = torch.stack(
        [(found.weights[t, :, :, None] * support_cells[t][found.indices[t]]).sum(dim=1) for t in range(frames)]
    )  # (T, M, C)
    frames_cells = torch.cat([target[None], most_similar]).unflatten(2, (max(blocks, 1), -1))  # (T+1, M, N', C/N')
    rebuilt = (found.attention[..., None] * frames_cells).sum(dim=0).flatten(1)
    assert torch.allclose(rebuilt.view(2, 3, 4, 6).permute(0, 3, 1, 2), operator(roi, support), atol=1e-12)


def test_similar_points_without_support_frames():
    found = TemporalRoIAlign(8, 2, 4).similar_points(torch.randn(1, 8, 2, 2), torch.randn(0, 8, 4, 4))
    assert found.weights.shape == found.indices.shape == (0, 4, 2)
    assert torch.equal(found.attention, torch.ones(1, 4, 4))


def test_a_non_finite_support_position_is_an_error_naming_the_frame():
    operator = TemporalRoIAlign(8, 2, 4)
    roi, support = torch.randn(3, 8, 7, 7), torch.randn(3, 8, 5, 6)
    support[1, 2, 3, 4] = float("nan")  # before: every output cell NaN
    with pytest.raises(FloatingPointError, match=r"support frame 1 of 3 holds 1 non-finite value\(s\)"):
        operator(roi, support)
    with pytest.raises(FloatingPointError, match="a support frame holds 1 non-finite"):
        operator.encode_support(support[1])
    support[1, 2, 3, 4] = float("inf")
    with pytest.raises(FloatingPointError):
        operator(roi, support)
    roi[0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="roi_feats holds 1 non-finite"):
        operator(roi, support[:1])


def test_an_encoding_from_other_weights_is_rejected():
    operator = TemporalRoIAlign(8, 2, 4)
    frame, roi = torch.randn(8, 5, 5), torch.randn(1, 8, 3, 3)
    twin = TemporalRoIAlign(8, 2, 4)
    twin.load_state_dict(operator.state_dict())  # the same values, another module: before, accepted silently
    with pytest.raises(ValueError, match="with its current weights"):
        operator(roi, [twin.encode_support(frame)])
    encoding = operator.encode_support(frame)
    operator(roi, [encoding])  # its own, unchanged: fine
    with torch.no_grad():
        operator.embed.weight.add_(0.1)  # e.g. an optimizer step
    with pytest.raises(ValueError, match="before these weights changed"):
        operator(roi, [encoding])
    averaging = TemporalRoIAlign(8, 2, 0)  # nothing depends on weights: any N = 0 encoding serves
    averaging(roi, [TemporalRoIAlign(8, 2, 0).encode_support(frame)])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_into_a_float32_operator(dtype):
    operator = TemporalRoIAlign(8, 2, 4)
    roi, support = torch.randn(3, 8, 7, 7), torch.randn(2, 8, 5, 6)
    out = operator(roi.to(dtype), support.to(dtype))  # before: a raw dtype mismatch error
    expected = operator(roi.to(dtype).float(), support.to(dtype).float())
    assert out.dtype == dtype and torch.allclose(out.float(), expected, atol=0.05, rtol=0.02)
    assert operator.encode_support(support[0].to(dtype)).features.dtype == torch.float32


def test_target_side_logits_equal_the_projected_support_frames(monkeypatch):
    # without autograd, with fewer cells than support positions, the embedding's weights move
    # to the target side; the points, attention and output stay those of the projected frames
    operator = TemporalRoIAlign(16, 2, 4, similarity_chunk_size=3000).double()
    roi = torch.randn(3, 16, 7, 7, dtype=torch.float64).relu()
    support = torch.randn(6, 16, 9, 11, dtype=torch.float64).relu()
    with torch.no_grad():
        assert operator._embeds_target_side(roi, support)
        target_side, target_side_points = operator(roi, support), operator.similar_points(roi, support)
        monkeypatch.setattr(operator, "_embeds_target_side", lambda roi_feats, frames: False)
        projected, projected_points = operator(roi, support), operator.similar_points(roi, support)
    assert torch.allclose(target_side, projected, atol=1e-12)
    assert torch.allclose(target_side_points.attention, projected_points.attention, atol=1e-12)
    assert torch.equal(target_side_points.indices, projected_points.indices)
    assert not operator._embeds_target_side(roi.requires_grad_(), support)  # autograd: projected


def sampled_rois(generator, num_rois=40, channels=16):
    """RoI Align'd ``[R, C, 7, 7]`` float64 features of random boxes inside a 6x8 map (stride
    16), and their cells' sampling: enough cells for the search through it to pay."""
    from torchvision.ops import roi_align

    from troi.layers.roi_cell_sampling import roi_align_sampling

    feature_map = torch.randn(channels, 6, 8, generator=generator, dtype=torch.float64).relu()
    corners = torch.rand(num_rois, 2, generator=generator, dtype=torch.float64) * torch.tensor([60.0, 30.0])
    boxes = torch.cat([corners, corners + 16 + torch.rand(num_rois, 2, generator=generator) * 40], dim=1)
    roi_feats = roi_align(feature_map[None], [boxes], (7, 7), 1 / 16, 2, True)
    sampling = roi_align_sampling(feature_map, boxes, (7, 7), 1 / 16, 2, True)
    assert sampling.search_pays()
    return roi_feats, sampling


@pytest.mark.parametrize("blocks", [0, 4])
def test_searching_through_roi_align_sampling_finds_the_same_points(blocks):
    generator = torch.Generator().manual_seed(3)
    operator = TemporalRoIAlign(16, 2, blocks).double()
    roi_feats, sampling = sampled_rois(generator)
    support = torch.randn(3, 16, 7, 9, generator=generator, dtype=torch.float64).relu()
    with torch.no_grad():
        direct, direct_points = operator(roi_feats, support), operator.similar_points(roi_feats, support)
        sampled = operator(roi_feats, support, sampling)
        sampled_points = operator.similar_points(roi_feats, support, sampling)
    assert torch.allclose(sampled, direct, rtol=0, atol=1e-12)
    assert torch.equal(sampled_points.indices.sort(dim=2).values, direct_points.indices.sort(dim=2).values)
    assert torch.allclose(sampled_points.attention, direct_points.attention, rtol=0, atol=1e-12)


def test_searching_through_roi_align_sampling_keeps_the_gradients():
    generator = torch.Generator().manual_seed(4)
    operator = TemporalRoIAlign(16, 2, 4).double()
    roi_feats, sampling = sampled_rois(generator)
    support = torch.randn(2, 16, 7, 9, generator=generator, dtype=torch.float64).relu()
    grads = []
    for cell_sampling in (None, sampling):
        inputs = [roi_feats.clone().requires_grad_(), support.clone().requires_grad_()]
        operator.zero_grad()
        operator(*inputs, cell_sampling).square().sum().backward()
        grads.append([inputs[0].grad, inputs[1].grad, operator.embed.weight.grad.clone()])
    for direct, sampled in zip(*grads):
        assert torch.allclose(sampled, direct, rtol=0, atol=1e-10)


def test_a_sampling_of_other_cells_is_rejected():
    generator = torch.Generator().manual_seed(5)
    roi_feats, sampling = sampled_rois(generator)
    with pytest.raises(ValueError, match=r"cell_sampling describes 1960 cells, the search got 1911"):
        TemporalRoIAlign(16, 2, 4).double()(roi_feats[1:], torch.randn(2, 16, 7, 9, dtype=torch.float64), sampling)


class DenormalOutputs(TorchDispatchMode):
    """Records the ops whose floating-point outputs hold denormal numbers (but for
    uninitialised memory, ``empty``)."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if "empty" in str(func):
            return out
        for tensor in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                if ((tensor != 0) & (tensor.abs() < torch.finfo(tensor.dtype).tiny)).any():
                    self.ops.add(str(func))
        return out


def test_saturated_attention_computes_no_denormals():
    """Large features (as at random initialisation) saturate TAFA's softmax; the operator
    still equals the float64 reference, and neither its forward nor its backward computes
    denormal numbers (slow on CPUs)."""
    generator = torch.Generator().manual_seed(0)
    operator = TemporalRoIAlign(16, 2, 4, similarity_chunk_size=500)
    roi = (torch.randn(6, 16, 7, 7, generator=generator) * 50).requires_grad_()
    support = (torch.randn(3, 16, 9, 11, generator=generator) * 50).requires_grad_()
    reference = TemporalAttentionalFeatureAggregation(16, 4).double()
    reference.embed.load_state_dict(operator.embed.state_dict())
    expected = reference(roi.double(), most_similar_roi_align(roi.double(), support.double(), 2))
    with DenormalOutputs() as denormals:
        out = operator(roi, support)
        out.square().sum().backward()
    assert torch.allclose(out.double(), expected, rtol=1e-5, atol=1e-3)
    assert not denormals.ops

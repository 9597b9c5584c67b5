"""VideoRecognizer (TSN / TANet) and its segment-consensus head."""

import pytest
import torch

from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from tests.modeling.backbone.test_tanet import recognition_cfg
from troi.modeling import SegmentConsensusHead, VideoRecognizer

SEGMENTS = 8


def clips(count, size=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        {
            "clip": torch.randint(0, 256, (SEGMENTS, 3, size, size), generator=generator, dtype=torch.uint8),
            "label": index % 8,
            "video_id": f"clip_{index}",
        }
        for index in range(count)
    ]


def model(backbone="build_tiny_tanet_backbone"):
    return build_model(recognition_cfg("synthetic/tanet_tiny.yaml", "MODEL.BACKBONE.NAME", backbone))


def test_training_returns_the_cross_entropy_and_it_trains():
    recognizer = model()
    assert isinstance(recognizer, VideoRecognizer)
    batch = clips(4)
    optimizer = torch.optim.SGD(recognizer.parameters(), lr=0.05, momentum=0.9)
    with EventStorage():
        losses = []
        for _ in range(8):
            loss = recognizer(batch)
            assert set(loss) == {"loss_cls"}
            optimizer.zero_grad()
            loss["loss_cls"].backward()
            optimizer.step()
            losses.append(loss["loss_cls"].item())
    assert abs(losses[0] - torch.log(torch.tensor(8.0)).item()) < 0.05  # the FC starts near zero
    assert losses[-1] < losses[0]


def test_inference_gives_one_probability_vector_per_clip():
    recognizer = model().eval()
    with torch.no_grad():
        outputs = recognizer(clips(3))
    assert len(outputs) == 3
    for output in outputs:
        assert output["scores"].shape == (8,) and torch.isclose(output["scores"].sum(), torch.tensor(1.0))
        assert (output["scores"] >= 0).all()


def test_tsn_ignores_the_frame_order_and_tanet_does_not():
    batch = clips(2, seed=3)
    reversed_batch = [dict(x, clip=x["clip"].flip(0)) for x in batch]
    for backbone, order_matters in (("build_tiny_resnet_backbone", False), ("build_tiny_tanet_backbone", True)):
        recognizer = model(backbone).eval()
        torch.nn.init.normal_(recognizer.cls_head.fc_cls.weight, std=1.0)  # scores that differ visibly
        with torch.no_grad():
            forward = torch.stack([out["scores"] for out in recognizer(batch)])
            backward = torch.stack([out["scores"] for out in recognizer(reversed_batch)])
        assert torch.allclose(forward, backward, atol=1e-6) != order_matters, backbone


def test_head_averages_the_segment_scores():
    head = SegmentConsensusHead(16, 5, dropout=0.0, init_std=0.5).eval()
    features = torch.randn(2 * 4, 16, 3, 3)
    per_segment = head.fc_cls(features.mean(dim=(2, 3)))  # (N*T, K)
    assert torch.allclose(head(features, 4), per_segment.view(2, 4, 5).mean(dim=1), atol=1e-6)
    assert torch.equal(head.fc_cls.bias, torch.zeros(5))


def test_clear_errors():
    recognizer = model()
    with pytest.raises(ValueError, match=r"expected \[T=8, 3, H, W\]"):
        recognizer([{"clip": torch.zeros(4, 3, 64, 64, dtype=torch.uint8), "label": 0}])
    with pytest.raises(ValueError, match="the clips of a batch must have one size"):
        recognizer([{"clip": torch.zeros(8, 3, 64, 64), "label": 0}, {"clip": torch.zeros(8, 3, 56, 64), "label": 0}])
    with pytest.raises(ValueError, match="MODEL.RECOGNITION_HEAD.IN_FEATURE 'res4' is not an output"):
        build_model(recognition_cfg("synthetic/tanet_tiny.yaml", "MODEL.RECOGNITION_HEAD.IN_FEATURE", "res4"))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        SegmentConsensusHead(16, 5, dropout=1.0)

"""TANet: detectron2's bottleneck with a TAM, against mmaction2 0.24.1's TABlock."""

from pathlib import Path

import pytest
import torch

from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone
from detectron2.modeling.backbone.resnet import BottleneckBlock

from troi import add_troi_config
from troi.converters.mmaction2_tanet import convert_tanet_state_dict
from troi.layers import TemporalAdaptiveModule
from troi.modeling import TemporalAdaptiveBottleneckBlock

CONFIGS = Path(__file__).parents[3] / "configs"


def recognition_cfg(config="synthetic/tanet_tiny.yaml", *opts):
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(str(CONFIGS / config))
    cfg.merge_from_list(list(opts))
    return cfg


def fixture_block(data):
    """Our block in the reference TABlock's configuration, with its weights (through the
    checkpoint converter: mmaction2 names as in a TANet's layer2.0)."""
    block = TemporalAdaptiveBottleneckBlock(
        int(data["inplanes"]),
        4 * int(data["planes"]),
        bottleneck_channels=int(data["planes"]),
        stride=int(data["stride"]),
        num_segments=int(data["T"]),
        norm="BN",
        stride_in_1x1=False,
    )
    state = {
        f"backbone.layer2.0.{key}": torch.from_numpy(value)
        for key, value in data.items()
        if key.startswith(("block.", "tam."))
    }
    converted = convert_tanet_state_dict(state)
    prefix = "backbone.res3.0."
    assert all(name.startswith(prefix) for name in converted)
    block = block.double().eval()
    missing, unexpected = block.load_state_dict(
        {name[len(prefix) :]: torch.from_numpy(value) for name, value in converted.items()}, strict=False
    )
    assert not unexpected and all(name.endswith("num_batches_tracked") for name in missing)
    return block


def test_block_matches_the_reference_tablock(fixture_npz):
    data = fixture_npz("tam/tablock_c64_t8")
    block = fixture_block(data)
    seen = {}
    block.tam.register_forward_hook(lambda module, inputs, output: seen.update(conv1=inputs[0], tam=output))
    with torch.no_grad():
        out = block(torch.from_numpy(data["x"]))
    assert out.shape == data["out"].shape == (16, 128, 7, 7)
    assert (seen["conv1"] - torch.from_numpy(data["inter.conv1_out"])).abs().max() < 1e-6  # after BN + ReLU
    assert (seen["tam"] - torch.from_numpy(data["inter.tam_out"])).abs().max() < 1e-6
    assert (out - torch.from_numpy(data["out"])).abs().max() < 1e-6


def test_a_strided_block_of_equal_channels_gets_a_projection_shortcut():
    assert BottleneckBlock(32, 32, bottleneck_channels=8, stride=2).shortcut is None  # detectron2's
    block = TemporalAdaptiveBottleneckBlock(32, 32, bottleneck_channels=8, stride=2, num_segments=4)
    assert block.shortcut.stride == (2, 2) and block.shortcut.norm is not None
    assert TemporalAdaptiveBottleneckBlock(32, 32, bottleneck_channels=8, num_segments=4).shortcut is None


def test_tanet_r50_has_a_tam_on_every_bottleneck():
    cfg = recognition_cfg("kinetics400/tanet_r50_1x1x8.yaml")
    backbone = build_backbone(cfg, ShapeSpec(channels=3))
    blocks = [block for stage in backbone.stages for block in stage]
    assert len(blocks) == 16 and all(isinstance(block, TemporalAdaptiveBottleneckBlock) for block in blocks)
    assert [block.tam.channels for block in blocks] == [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
    assert all(block.tam.num_segments == 8 for block in blocks)
    assert blocks[3].conv2.stride == (2, 2) and blocks[3].conv1.stride == (1, 1)  # pytorch style
    assert backbone.output_shape()["res5"] == ShapeSpec(channels=2048, stride=32)


def test_tiny_tanet_is_the_tsn_backbone_plus_tams():
    cfg = recognition_cfg()
    tanet = build_backbone(cfg, ShapeSpec(channels=3))
    cfg.MODEL.BACKBONE.NAME = "build_tiny_resnet_backbone"
    tsn = build_backbone(cfg, ShapeSpec(channels=3))
    tsn_names = set(tsn.state_dict())
    tam_names = {name for name in tanet.state_dict() if ".tam." in name}
    assert set(tanet.state_dict()) - tam_names == tsn_names
    assert len({name.split(".tam.")[0] for name in tam_names}) == sum(cfg.MODEL.TINY_RESNET.BLOCKS_PER_STAGE)
    frames = torch.randn(2 * 8, 3, 64, 64)
    assert tanet(frames)["res5"].shape == tsn(frames)["res5"].shape == (16, 256, 2, 2)


def test_tam_settings_come_from_the_config():
    cfg = recognition_cfg(
        "synthetic/tanet_tiny.yaml",
        "INPUT.CLIP.NUM_SEGMENTS",
        4,
        "MODEL.TAM.ALPHA",
        3,
        "MODEL.TAM.BETA",
        2,
        "MODEL.TAM.ADAPTIVE_KERNEL_SIZE",
        5,
    )
    tam = build_backbone(cfg, ShapeSpec(channels=3)).res2[0].tam
    assert isinstance(tam, TemporalAdaptiveModule)
    assert tam.G[0].out_features == 12 and tam.G[3].out_features == 5 and tam.L[0].out_channels == 4
    with pytest.raises(ValueError, match=r"N\*T=6 frames, not a multiple of num_segments T=4"):
        build_backbone(cfg, ShapeSpec(channels=3))(torch.randn(6, 3, 64, 64))


def test_unsupported_resnets_are_refused():
    with pytest.raises(ValueError, match="MODEL.RESNETS.DEPTH 50, 101 or 152, got 18"):
        build_backbone(recognition_cfg("kinetics400/tanet_r50_1x1x8.yaml", "MODEL.RESNETS.DEPTH", 18))
    with pytest.raises(ValueError, match="MODEL.RESNETS.NUM_GROUPS must be 1, got 32"):
        build_backbone(recognition_cfg("kinetics400/tanet_r50_1x1x8.yaml", "MODEL.RESNETS.NUM_GROUPS", 32))

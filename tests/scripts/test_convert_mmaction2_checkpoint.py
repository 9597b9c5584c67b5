"""tools/convert_mmaction2_checkpoint.py: a TANet in mmaction2's names converts into the
same model, twice into the same bytes; errors name what is wrong and write nothing."""

import importlib.util
import re
from pathlib import Path

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from tests.modeling.backbone.test_tanet import recognition_cfg
from tests.modeling.test_video_recognizer import clips

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "tools" / "convert_mmaction2_checkpoint.py"
TINY = str(ROOT / "configs" / "synthetic" / "tanet_tiny.yaml")
_spec = importlib.util.spec_from_file_location("convert_mmaction2_checkpoint", SCRIPT)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def mmaction2_name(name: str) -> str:
    """A VideoRecognizer parameter's name in an mmaction2 TANet recognizer."""
    name = re.sub(r"^backbone\.stem\.conv1\.norm\.", "backbone.conv1.bn.", name)
    name = re.sub(r"^backbone\.stem\.conv1\.weight$", "backbone.conv1.conv.weight", name)
    stage = lambda match: f"backbone.layer{int(match.group(1)) - 1}.{match.group(2)}."  # noqa: E731
    name = re.sub(r"^backbone\.res(\d)\.(\d+)\.tam\.", lambda m: stage(m) + "tam.", name)
    name = re.sub(r"^backbone\.res(\d)\.(\d+)\.shortcut\.norm\.", lambda m: stage(m) + "block.downsample.bn.", name)
    name = re.sub(
        r"^backbone\.res(\d)\.(\d+)\.shortcut\.weight$", lambda m: stage(m) + "block.downsample.conv.weight", name
    )
    name = re.sub(
        r"^backbone\.res(\d)\.(\d+)\.conv(\d)\.norm\.", lambda m: stage(m) + f"block.conv{m.group(3)}.bn.", name
    )
    return re.sub(
        r"^backbone\.res(\d)\.(\d+)\.conv(\d)\.weight$",
        lambda m: stage(m) + f"block.conv{m.group(3)}.conv.weight",
        name,
    )


def trained_looking_model(seed=0):
    torch.manual_seed(seed)
    model = build_model(recognition_cfg())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
        for name, buffer in model.named_buffers():
            if name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                buffer.uniform_(-0.1, 0.1)
    return model.eval()


def test_round_trip_gives_the_same_model_and_bytes(tmp_path):
    source = trained_looking_model()
    checkpoint = {
        "meta": {"mmaction2_version": "0.24.1"},
        "state_dict": {mmaction2_name(name): value for name, value in source.state_dict().items()},
    }
    assert any(key.startswith("backbone.layer1.0.block.conv1.conv") for key in checkpoint["state_dict"])
    torch.save(checkpoint, tmp_path / "tanet.pth")
    for name in ("a.pkl", "b.pkl"):
        assert tool.main([str(tmp_path / "tanet.pth"), str(tmp_path / name), "--config-file", TINY]) == 0
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()
    target = build_model(recognition_cfg()).eval()
    DetectionCheckpointer(target).load(str(tmp_path / "a.pkl"))
    batch = clips(2)
    with torch.no_grad():
        expected = torch.stack([out["scores"] for out in source(batch)])
        converted = torch.stack([out["scores"] for out in target(batch)])
    assert torch.allclose(expected, converted, atol=1e-6)


def test_errors_are_reported_and_nothing_is_written(tmp_path, capsys):
    state = {mmaction2_name(name): value for name, value in build_model(recognition_cfg()).state_dict().items()}
    state["backbone.layer9.0.block.extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": state}, tmp_path / "bad.pth")
    assert tool.main([str(tmp_path / "bad.pth"), str(tmp_path / "out.pkl"), "--config-file", TINY]) == 1
    assert "backbone.layer9.0.block.extra.weight" in capsys.readouterr().err
    del state["backbone.layer9.0.block.extra.weight"]
    torch.save({"state_dict": state}, tmp_path / "eight_classes.pth")
    assert (
        tool.main(
            [
                str(tmp_path / "eight_classes.pth"),
                str(tmp_path / "out.pkl"),
                "--config-file",
                TINY,
                "--opts",
                "MODEL.RECOGNITION_HEAD.NUM_CLASSES",
                "5",
            ]
        )
        == 1
    )
    assert "wrong shape: cls_head.fc_cls.bias (8,) (model: (5,))" in capsys.readouterr().err
    assert tool.main([str(tmp_path / "missing.pth"), str(tmp_path / "out.pkl"), "--config-file", TINY]) == 1
    assert "missing.pth does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pth", "eight_classes.pth"]

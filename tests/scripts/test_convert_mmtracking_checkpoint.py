"""tools/convert_mmtracking_checkpoint.py: same bytes twice, clear errors, nothing half written."""

import importlib.util
import pickle
from pathlib import Path

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.modeling import build_backbone

from troi import add_troi_config

SCRIPT = Path(__file__).parents[2] / "tools" / "convert_mmtracking_checkpoint.py"
CASE = Path(__file__).parents[1] / "fixtures" / "mmtracking" / "selsa_w8_a"
_spec = importlib.util.spec_from_file_location("convert_mmtracking_checkpoint", SCRIPT)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def test_converting_twice_gives_the_same_bytes_and_a_loadable_config(tmp_path):
    for name in ("a", "b"):
        assert (
            tool.main(
                [
                    str(CASE / "checkpoint.pth"),
                    str(tmp_path / f"{name}.pkl"),
                    "--config-out",
                    str(tmp_path / f"{name}.yaml"),
                ]
            )
            == 0
        )
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()
    with open(tmp_path / "a.pkl", "rb") as f:
        data = pickle.load(f)
    assert data["__author__"] == "mmtracking (selsa)" and data["matching_heuristics"] is False
    assert len(data["model"]) == 297
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(str(tmp_path / "a.yaml"))
    assert cfg.MODEL.WEIGHTS == str(tmp_path / "a.pkl") and cfg.MODEL.SELSA.ENABLED and not cfg.MODEL.TROI.ENABLED


def test_a_checkpoint_without_its_config_needs_one_given(tmp_path, capsys):
    checkpoint = torch.load(CASE / "checkpoint.pth", map_location="cpu", weights_only=True)
    del checkpoint["meta"]["config"]
    torch.save(checkpoint, tmp_path / "no_config.pth")
    assert tool.main([str(tmp_path / "no_config.pth"), str(tmp_path / "out.pkl")]) == 1
    assert "carries no mmtracking config" in capsys.readouterr().err
    assert not (tmp_path / "out.pkl").exists()
    assert (
        tool.main(
            [str(tmp_path / "no_config.pth"), str(tmp_path / "out.pkl"), "--mmtracking-config", str(CASE / "config.py")]
        )
        == 0
    )


def test_an_extra_key_is_named_and_nothing_is_written(tmp_path, capsys):
    checkpoint = torch.load(CASE / "checkpoint.pth", map_location="cpu", weights_only=True)
    checkpoint["state_dict"]["detector.roi_head.bbox_head.aggregator.2.fc.weight"] = torch.zeros(128, 128)
    torch.save(checkpoint, tmp_path / "extra.pth")
    assert (
        tool.main([str(tmp_path / "extra.pth"), str(tmp_path / "out.pkl"), "--config-out", str(tmp_path / "out.yaml")])
        == 1
    )
    assert "not in the model: roi_heads.box_head.aggregators.fc3.fc.weight" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "extra.pth"]


def test_an_unreadable_checkpoint_is_named(tmp_path, capsys):
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    assert tool.main([str(tmp_path / "broken.pth"), str(tmp_path / "out.pkl")]) == 1
    assert f"could not read checkpoint {tmp_path / 'broken.pth'}" in capsys.readouterr().err
    assert tool.main([str(tmp_path / "missing.pth"), str(tmp_path / "out.pkl")]) == 1
    assert "missing.pth does not exist" in capsys.readouterr().err


def test_a_torchvision_resnet_loads_into_the_dc5_backbone(tmp_path):
    import torchvision

    resnet = torchvision.models.resnet50()
    torch.save(resnet.state_dict(), tmp_path / "resnet50.pth")
    assert tool.main([str(tmp_path / "resnet50.pth"), str(tmp_path / "resnet50.pkl")]) == 0
    cfg = get_cfg()
    add_troi_config(cfg)
    cfg.merge_from_file(str(Path(__file__).parents[2] / "configs" / "Base-VID-DC5.yaml"))
    cfg.MODEL.DEVICE = "cpu"
    backbone = build_backbone(cfg)
    # detectron2's name matching (as for its own converted torchvision weights)
    DetectionCheckpointer(backbone).load(str(tmp_path / "resnet50.pkl"))
    assert torch.equal(backbone.resnet.res4[5].conv2.weight, resnet.layer3[5].conv2.weight)
    assert torch.equal(backbone.resnet.stem.conv1.norm.running_var, resnet.bn1.running_var)

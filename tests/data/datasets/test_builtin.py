import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from troi.data.datasets import builtin

IMAGENET = ["imagenet_vid_train", "imagenet_vid_val", "imagenet_det_30cls_train"]
YTVIS = [
    "ytvis_2019_train",
    "ytvis_2019_val",
    "ytvis_2021_train",
    "ytvis_2021_val",
    "ytvis_2019_split_train",
    "ytvis_2019_split_holdout",
    "ytvis_2021_split_train",
    "ytvis_2021_split_holdout",
]
SYNTHETIC = ["synthetic_vid_train", "synthetic_vid_val", "synthetic_ytvis_train", "synthetic_ytvis_val"]


@pytest.fixture
def builtins_under(tmp_path):
    """Re-register every builtin dataset under ``tmp_path``; restore the originals after."""
    names = IMAGENET + YTVIS + SYNTHETIC
    saved = {name: (DatasetCatalog.pop(name), MetadataCatalog.pop(name)) for name in names}
    try:
        builtin.register_all_imagenet_vid(str(tmp_path))
        builtin.register_all_ytvis(str(tmp_path))
        builtin.register_all_synthetic(str(tmp_path))
        yield tmp_path
    finally:
        for name, (loader, metadata) in saved.items():
            DatasetCatalog.pop(name, None)
            MetadataCatalog.pop(name, None)
            DatasetCatalog.register(name, loader)
            MetadataCatalog[name] = metadata


def test_importing_registers_every_builtin_dataset():
    root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    assert set(IMAGENET + YTVIS + SYNTHETIC) <= set(DatasetCatalog.list())
    assert MetadataCatalog.get("imagenet_vid_val").json_file == os.path.join(
        root, "ILSVRC/annotations/imagenet_vid_val.json"
    )
    assert MetadataCatalog.get("synthetic_vid_train").image_root == os.path.join(root, "synthetic_videos/train/frames")


def test_registration_is_lazy_and_laid_out_as_documented(builtins_under):
    assert os.listdir(builtins_under) == []
    vid = MetadataCatalog.get("imagenet_vid_train")
    assert vid.evaluator_type == "vid" and len(vid.thing_classes) == 30 and vid.thing_classes[-1] == "zebra"
    assert vid.image_root == str(builtins_under / "ILSVRC/Data/VID")
    assert MetadataCatalog.get("imagenet_det_30cls_train").image_root == str(builtins_under / "ILSVRC/Data/DET")
    ytvis = MetadataCatalog.get("ytvis_2021_val")
    assert ytvis.evaluator_type == "ytvis"
    assert ytvis.json_file == str(builtins_under / "ytvis_2021/valid.json")
    assert ytvis.image_root == str(builtins_under / "ytvis_2021/valid/JPEGImages")
    holdout = MetadataCatalog.get("ytvis_2019_split_holdout")  # datasets/split_ytvis.py's output
    assert holdout.json_file == str(builtins_under / "ytvis_2019/split/holdout.json")
    assert holdout.image_root == str(builtins_under / "ytvis_2019/train/JPEGImages")
    assert MetadataCatalog.get("synthetic_ytvis_val").generator_args == {
        "output_dir": str(builtins_under / "synthetic_videos/val"),
        "seed": 1,
        "num_videos": 16,
    }


@pytest.mark.parametrize("name", ["imagenet_vid_val", "ytvis_2019_train"])
def test_missing_json_names_the_file_and_the_readme(builtins_under, name):
    with pytest.raises(FileNotFoundError) as error:
        DatasetCatalog.get(name)
    assert MetadataCatalog.get(name).json_file in str(error.value)
    assert "datasets/README.md" in str(error.value)


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(KeyError) as error:
        DatasetCatalog.get("imagenet_vid_tarin")
    assert "imagenet_vid_train" in str(error.value) and "synthetic_vid_train" in str(error.value)

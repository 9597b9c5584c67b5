import json

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from troi.data.datasets import builtin, load_sthv1_csv, load_sthv2_json, load_video_list

RECOGNITION = [
    *builtin.PREDEFINED_RECOGNITION_LISTS,
    *builtin.PREDEFINED_SPLITS_SOMETHING_SOMETHING,
    "synthetic_motion_train",
    "synthetic_motion_val",
]


@pytest.fixture
def recognition_builtins_under(tmp_path):
    """Re-register the builtin recognition datasets under ``tmp_path``; restore them after."""
    saved = {name: (DatasetCatalog.pop(name), MetadataCatalog.pop(name)) for name in RECOGNITION}
    try:
        builtin.register_all_recognition(str(tmp_path))
        yield tmp_path
    finally:
        for name, (loader, metadata) in saved.items():
            DatasetCatalog.pop(name, None)
            MetadataCatalog.pop(name, None)
            DatasetCatalog.register(name, loader)
            MetadataCatalog[name] = metadata


def test_rawframes_list(tmp_path):
    (tmp_path / "list.txt").write_text("abseiling/clip_a 300 0\n\nbowling/clip_b 25 399\n")
    records = load_video_list(str(tmp_path / "list.txt"), "/data/k400", kind="rawframes", num_classes=400)
    assert records == [
        {
            "video_id": "abseiling/clip_a",
            "label": 0,
            "frame_dir": "/data/k400/abseiling/clip_a",
            "num_frames": 300,
            "filename_tmpl": "img_{:05d}.jpg",
            "start_index": 1,
        },
        {
            "video_id": "bowling/clip_b",
            "label": 399,
            "frame_dir": "/data/k400/bowling/clip_b",
            "num_frames": 25,
            "filename_tmpl": "img_{:05d}.jpg",
            "start_index": 1,
        },
    ]


def test_videos_list(tmp_path):
    (tmp_path / "list.txt").write_text("a/x.mp4 3\nb/y.mp4 1\n")
    records = load_video_list(str(tmp_path / "list.txt"), "/v", kind="videos")
    assert records == [
        {"video_id": "a/x.mp4", "label": 3, "video_file": "/v/a/x.mp4"},
        {"video_id": "b/y.mp4", "label": 1, "video_file": "/v/b/y.mp4"},
    ]


@pytest.mark.parametrize(
    "content, kind, message",
    [
        ("a 10\n", "rawframes", r"list.txt:1: expected 3 fields '<frame_dir> <total_frames> <label>'"),
        ("a 10 2 5\n", "rawframes", r"list.txt:1: expected 3 fields .*single label"),
        ("a ten 2\n", "rawframes", r"list.txt:1: total_frames must be an integer, got 'ten'"),
        ("a 0 2\n", "rawframes", r"list.txt:1: total_frames must be >= 1"),
        ("ok.mp4 1\na.mp4 400\n", "videos", r"list.txt:2: label 400 is not a class index \[0, 400\)"),
        ("a.mp4 x\n", "videos", r"list.txt:1: the label must be an integer"),
        ("\n", "videos", r"lists no clips"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, content, kind, message):
    (tmp_path / "list.txt").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_video_list(str(tmp_path / "list.txt"), "/d", kind=kind, num_classes=400)


def test_missing_list_points_to_the_readme(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"annotation list .*none.txt of dataset 'k' does not exist: see "
        r"datasets/README.md",
    ):
        load_video_list(str(tmp_path / "none.txt"), "/d", dataset_name="k")
    with pytest.raises(ValueError, match="unknown list kind 'frames'"):
        load_video_list(str(tmp_path / "none.txt"), "/d", kind="frames")


def test_something_something_v1_csv(tmp_path):
    (tmp_path / "labels.csv").write_text("Holding something\nPushing something from left to right\n")
    (tmp_path / "train.csv").write_text("100218;Pushing something from left to right\n42;Holding something\n")
    records = load_sthv1_csv(str(tmp_path / "train.csv"), str(tmp_path / "labels.csv"), "/f")
    assert records == [
        {
            "video_id": "100218",
            "label": 1,
            "frame_dir": "/f/100218",
            "num_frames": None,
            "filename_tmpl": "{:05d}.jpg",
            "start_index": 1,
        },
        {
            "video_id": "42",
            "label": 0,
            "frame_dir": "/f/42",
            "num_frames": None,
            "filename_tmpl": "{:05d}.jpg",
            "start_index": 1,
        },
    ]
    (tmp_path / "bad.csv").write_text("7;Juggling\n")
    with pytest.raises(ValueError, match=r"bad.csv:1: class 'Juggling' is not in .*labels.csv"):
        load_sthv1_csv(str(tmp_path / "bad.csv"), str(tmp_path / "labels.csv"), "/f")
    (tmp_path / "bad.csv").write_text("7 Juggling\n")
    with pytest.raises(ValueError, match=r"bad.csv:1: expected '<id>;<class name>'"):
        load_sthv1_csv(str(tmp_path / "bad.csv"), str(tmp_path / "labels.csv"), "/f")


def test_something_something_v2_json(tmp_path):
    (tmp_path / "labels.json").write_text(
        json.dumps({"Putting something on a surface": "1", "Approaching something with your camera": "0"})
    )
    clips = [
        {
            "id": "78687",
            "label": "putting a cup on a table",
            "template": "Putting [something] on a surface",
            "placeholders": ["a cup"],
        },
        {"id": 5, "template": "Approaching [something] with your camera"},
    ]
    (tmp_path / "train.json").write_text(json.dumps(clips))
    records = load_sthv2_json(str(tmp_path / "train.json"), str(tmp_path / "labels.json"), "/v")
    assert records == [
        {"video_id": "78687", "label": 1, "video_file": "/v/78687.webm"},
        {"video_id": "5", "label": 0, "video_file": "/v/5.webm"},
    ]
    (tmp_path / "test.json").write_text(json.dumps([{"id": "1"}]))
    with pytest.raises(ValueError, match=r"clip \[0\] needs an 'id' and a 'template'"):
        load_sthv2_json(str(tmp_path / "test.json"), str(tmp_path / "labels.json"), "/v")
    with pytest.raises(FileNotFoundError, match="Something-Something V2 labels file .*nothing.json does not exist"):
        load_sthv2_json(str(tmp_path / "train.json"), str(tmp_path / "nothing.json"), "/v")


def test_builtin_recognition_datasets_are_registered():
    for name, num_classes in (
        ("kinetics400_train", 400),
        ("kinetics400_rawframes_val", 400),
        ("sthv1_train", 174),
        ("sthv1_rawframes_val", 174),
        ("sthv2_val", 174),
        ("synthetic_motion_train", 8),
    ):
        metadata = MetadataCatalog.get(name)
        assert metadata.evaluator_type == "recognition" and metadata.num_classes == num_classes, name
        assert name in DatasetCatalog.list()
    assert MetadataCatalog.get("sthv1_train").flip_label_map[2] == 4
    assert MetadataCatalog.get("sthv2_train").flip_label_map[86] == 87
    assert MetadataCatalog.get("kinetics400_train").flip_label_map == {}


def test_builtin_datasets_read_their_files_under_the_root(recognition_builtins_under):
    root = recognition_builtins_under
    assert sorted(p.name for p in root.iterdir()) == []  # registering reads and writes nothing
    (root / "kinetics400").mkdir()
    (root / "kinetics400" / "kinetics400_val_list_videos.txt").write_text("bowling/b.mp4 31\n")
    assert DatasetCatalog.get("kinetics400_val")[0]["video_file"] == str(root / "kinetics400/videos_val/bowling/b.mp4")
    (root / "sthv1").mkdir()
    (root / "sthv1" / "sthv1_val_list_rawframes.txt").write_text("1234 40 173\n")
    record = DatasetCatalog.get("sthv1_rawframes_val")[0]
    assert record["frame_dir"] == str(root / "sthv1/rawframes/1234") and record["filename_tmpl"] == "{:05d}.jpg"
    with pytest.raises(FileNotFoundError, match="sthv1/annotations/something-something-v1-labels.csv"):
        DatasetCatalog.get("sthv1_val")
    generated = MetadataCatalog.get("synthetic_motion_val").generator_args["output_dir"]
    assert generated == str(root / "synthetic_motion/val")

import pytest
import torch

from detectron2.data import transforms as T

from tests.data.test_frame_group_mapper import frame_id_of, write_video
from troi.data import VideoIndex, VISFrameGroupDatasetMapper


def moving_video(tmp_path, video_id=1, num_frames=8):
    """write_video's frames; the object (instance 7) moves 2 px right per frame, and from
    frame 4 on a second object (instance 8) appears."""
    dicts = write_video(tmp_path, video_id, num_frames)
    for record in dicts:
        frame = record["frame_id"]
        record["annotations"][0]["bbox"] = [2 + 2 * frame, 4, 20, 16]
        if frame >= 4:
            record["annotations"].append(dict(record["annotations"][0], bbox=[30, 20, 10, 10], instance_id=8))
    return dicts


def make_mapper(dicts, is_train=True, num=2, frame_range=3, augmentations=(), keep_annotations=True):
    return VISFrameGroupDatasetMapper(
        is_train,
        videos=VideoIndex(dicts, keep_annotations=keep_annotations),
        num_support_frames=num,
        sampling_method="random",
        frame_range=2,
        stride=1,
        augmentations=list(augmentations),
        image_format="BGR",
        reference_frame_range=frame_range,
    )


def test_reference_frame_is_the_first_support_with_its_ground_truth(tmp_path):
    dicts = moving_video(tmp_path)
    mapper = make_mapper(dicts)
    for _ in range(10):
        out = mapper(dicts[5])
        reference_id = out["support_frame_ids"][0]
        assert reference_id != 5 and abs(reference_id - 5) <= 3
        assert len(out["support_images"]) == 3  # the reference, then 2 sampled supports
        assert frame_id_of(out["support_images"][0]) == reference_id
        reference = out["reference_instances"]
        expected_ids = [7, 8] if reference_id >= 4 else [7]
        assert reference.gt_ids.tolist() == expected_ids
        assert reference.gt_boxes.tensor[0, 0].item() == 2 + 2 * reference_id
        assert out["instances"].gt_ids.tolist() == [7, 8]


def test_reference_shares_the_target_transform(tmp_path):
    dicts = moving_video(tmp_path)
    out = make_mapper(dicts, augmentations=[T.RandomFlip(prob=1.0)])(dicts[2])
    width = dicts[0]["width"]
    reference_id = out["support_frame_ids"][0]
    x0 = 2 + 2 * reference_id
    assert torch.allclose(
        out["reference_instances"].gt_boxes.tensor[0, [0, 2]], torch.tensor([width - x0 - 20.0, width - x0])
    )
    assert out["support_images"][0][:, :, -1].max() > 0 and out["support_images"][0][:, :, 0].max() == 0  # flipped


def test_inference_has_no_reference_frame(tmp_path):
    dicts = moving_video(tmp_path)
    out = make_mapper(dicts, is_train=False)(dicts[3])
    assert "reference_instances" not in out and len(out["support_images"]) == 2


def test_one_frame_video_references_itself(tmp_path):
    dicts = moving_video(tmp_path, num_frames=1)
    out = make_mapper(dicts, num=0)(dicts[0])
    assert out["support_frame_ids"] == [0] and out["reference_instances"].gt_ids.tolist() == [7]


def test_index_without_annotations_is_a_clear_error(tmp_path):
    dicts = moving_video(tmp_path)
    with pytest.raises(ValueError, match="keep_annotations=True"):
        make_mapper(dicts, keep_annotations=False)(dicts[1])

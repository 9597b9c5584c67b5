import cv2
import numpy as np
import pytest
import torch

from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from troi.data import FrameGroupDatasetMapper, VideoIndex, VideoInferenceSampler


def write_video(root, video_id, num_frames, size=(48, 64)):
    """Frames whose pixel value encodes the frame id; one annotated object per frame."""
    dicts = []
    for frame_id in range(num_frames):
        path = root / f"v{video_id}_{frame_id}.png"
        image = np.zeros((*size, 3), dtype=np.uint8)
        image[:, : size[1] // 2] = 10 * frame_id + 5  # left half: the id; right half: black
        cv2.imwrite(str(path), image)
        dicts.append(
            {
                "file_name": str(path),
                "height": size[0],
                "width": size[1],
                "image_id": video_id * 100 + frame_id,
                "video_id": video_id,
                "frame_id": frame_id,
                "annotations": [
                    {
                        "bbox": [4, 4, 20, 16],
                        "bbox_mode": BoxMode.XYWH_ABS,
                        "category_id": 1,
                        "instance_id": 7,
                        "iscrowd": 0,
                    }
                ],
            }
        )
    return dicts


def frame_id_of(image_tensor):
    """The frame id written by write_video, read back from a (possibly flipped) image."""
    return (int(image_tensor.max()) - 5) // 10


def make_mapper(dicts, is_train, method="uniform", num=3, augmentations=(), **kwargs):
    return FrameGroupDatasetMapper(
        is_train,
        videos=VideoIndex(dicts),
        num_support_frames=num,
        sampling_method=method,
        frame_range=2,
        stride=1,
        augmentations=list(augmentations),
        image_format="BGR",
        **kwargs,
    )


def test_support_frames_follow_the_sampling_method(tmp_path):
    dicts = write_video(tmp_path, 1, 7)
    out = make_mapper(dicts, is_train=False, method="uniform", num=4)(dicts[5])
    assert out["support_frame_ids"] == [0, 2, 4, 6]
    assert [frame_id_of(image) for image in out["support_images"]] == [0, 2, 4, 6]
    assert frame_id_of(out["image"]) == 5 and "annotations" not in out and "instances" not in out


def test_the_reference_rules_include_the_target_and_drop_past_the_ends(tmp_path):
    dicts = write_video(tmp_path, 1, 7)
    out = make_mapper(dicts, is_train=False, method="uniform", num=4, include_target=True)(dicts[5])
    assert out["support_frame_ids"] == [0, 2, 4, 6, 5]
    assert [frame_id_of(image) for image in out["support_images"]] == [0, 2, 4, 6, 5]
    out = make_mapper(dicts, is_train=True, method="random", num=2, beyond_ends="drop")(dicts[0])
    assert len(out["support_frame_ids"]) == 1 and out["support_frame_ids"][0] in (1, 2)
    with pytest.raises(ValueError, match="BEYOND_ENDS='mirror'"):
        make_mapper(dicts, is_train=True, beyond_ends="mirror")


def test_one_augmentation_is_applied_to_target_and_supports(tmp_path):
    dicts = write_video(tmp_path, 1, 5)
    mapper = make_mapper(
        dicts,
        is_train=True,
        method="consecutive",
        num=2,
        augmentations=[T.ResizeShortestEdge(24, 40), T.RandomFlip(prob=1.0)],
    )
    out = mapper(dicts[2])
    assert out["image"].shape == (3, 24, 32)
    for support in out["support_images"]:
        assert support.shape == out["image"].shape
        assert support[:, :, -1].max() > 0 and support[:, :, 0].max() == 0  # flipped like the target
    instances = out["instances"]
    assert instances.gt_ids.tolist() == [7]
    assert torch.allclose(instances.gt_boxes.tensor, torch.tensor([[32 - 12.0, 2.0, 32 - 2.0, 10.0]]))


def test_supports_beyond_the_ends_are_copies_and_still_images_copy_themselves(tmp_path):
    dicts = write_video(tmp_path, 1, 3)
    assert make_mapper(dicts, False, "stride", 4)(dicts[0])["support_frame_ids"] == [0, 0, 1, 2]
    still = dict(write_video(tmp_path, 2, 1)[0])
    del still["video_id"], still["frame_id"]
    out = make_mapper([still], True, "random", 2)(still)
    assert out["support_frame_ids"] == [0, 0]
    assert all(torch.equal(s, out["image"]) for s in out["support_images"])


def test_zero_support_frames(tmp_path):
    dicts = write_video(tmp_path, 1, 3)
    out = make_mapper(dicts, True, "random", 0)(dicts[1])
    assert out["support_images"] == [] and out["support_frame_ids"] == []


def test_missing_and_corrupt_frames_name_the_file(tmp_path):
    dicts = write_video(tmp_path, 1, 3)
    (tmp_path / "v1_1.png").unlink()
    with pytest.raises(FileNotFoundError, match="v1_1.png does not exist"):
        make_mapper(dicts, False, "consecutive", 2)(dicts[0])
    (tmp_path / "v1_2.png").write_bytes(b"\x89PNG\r\n not really")
    with pytest.raises(ValueError, match="could not decode frame .*v1_2.png"):
        make_mapper(dicts, False, "uniform", 1)(dicts[2])


def test_frame_size_change_within_a_video(tmp_path):
    dicts = write_video(tmp_path, 1, 2)
    cv2.imwrite(str(tmp_path / "v1_1.png"), np.zeros((30, 30, 3), np.uint8))
    with pytest.raises(ValueError, match=r"frame size changes within a video: support frame .*v1_1.png is 30x30"):
        make_mapper(dicts, False, "consecutive", 1)(dicts[0])


def test_video_index_orders_frames_and_rejects_duplicates(tmp_path):
    dicts = write_video(tmp_path, 1, 4)
    index = VideoIndex(list(reversed(dicts)))
    assert [f["frame_id"] for f in index.frames(dicts[0])] == [0, 1, 2, 3]
    assert index.position(dicts[2]) == 2
    with pytest.raises(ValueError, match="video 1 has duplicate frame_id"):
        VideoIndex(dicts + dicts[:1])


def test_inference_sampler_keeps_videos_whole_and_in_order():
    dicts = [
        {"video_id": v, "frame_id": f, "file_name": f"{v}/{f}"}
        for v, n in [(1, 5), (2, 3), (3, 4), (4, 2)]
        for f in reversed(range(n))
    ]
    shards = [list(VideoInferenceSampler(dicts, rank=r, world_size=2)) for r in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(len(dicts)))
    for shard in shards:
        frames = [(dicts[i]["video_id"], dicts[i]["frame_id"]) for i in shard]
        videos = [v for v, _ in frames]
        assert all(videos.index(v) + videos.count(v) - 1 == len(videos) - 1 - videos[::-1].index(v) for v in videos)
        assert frames == sorted(frames, key=lambda vf: (videos.index(vf[0]), vf[1]))
    assert {len(s) for s in shards} == {7}  # 5+2 and 4+3 frames

"""A test-time sampler that keeps each video whole, in frame order, on one rank."""

from typing import Dict, Hashable, List, Sequence

from torch.utils.data import Sampler

from detectron2.utils import comm

from .video_index import video_key

__all__ = ["VideoInferenceSampler"]


class VideoInferenceSampler(Sampler):
    """Indices of the dataset dicts this rank evaluates: whole videos, frames in order.

    Videos go to ranks largest first, each to the rank with the fewest frames so far, so
    ranks get similar work and a model's per-video caches (support features) see each
    video's frames one after another.

    Args:
        dataset_dicts: the dataset to evaluate (dicts with ``video_id``/``frame_id``;
            still images count as one-frame videos).
        rank, world_size: default to detectron2's ``comm``.
    """

    def __init__(self, dataset_dicts: Sequence[dict], rank: int = None, world_size: int = None):
        rank = comm.get_rank() if rank is None else rank
        world_size = comm.get_world_size() if world_size is None else world_size
        videos: Dict[Hashable, List[int]] = {}
        for index, record in enumerate(dataset_dicts):
            videos.setdefault(video_key(record), []).append(index)
        loads = [0] * world_size
        assigned: List[List[Hashable]] = [[] for _ in range(world_size)]
        for key in sorted(videos, key=lambda k: -len(videos[k])):  # stable: ties keep dataset order
            target = min(range(world_size), key=lambda r: (loads[r], r))
            assigned[target].append(key)
            loads[target] += len(videos[key])
        first_index = {key: indices[0] for key, indices in videos.items()}
        self._indices = [
            index
            for key in sorted(assigned[rank], key=first_index.get)
            for index in sorted(videos[key], key=lambda i: dataset_dicts[i].get("frame_id", 0))
        ]

    def __iter__(self):
        return iter(self._indices)

    def __len__(self):
        return len(self._indices)

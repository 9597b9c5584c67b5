"""A mapping that keeps only its most recently used entries."""

from collections import OrderedDict
from typing import Hashable, Iterator, Optional

__all__ = ["LRUCache"]


class LRUCache:
    """At most ``capacity`` entries; reading (:meth:`get`) or writing an entry makes it the
    most recently used, and writing beyond the capacity drops the least recently used.
    ``capacity`` 0 keeps nothing."""

    def __init__(self, capacity: int):
        if capacity < 0:
            raise ValueError(f"an LRU cache's capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._entries: "OrderedDict[Hashable, object]" = OrderedDict()

    def get(self, key: Hashable, default: Optional[object] = None):
        """The entry of ``key`` (now the most recently used), or ``default``."""
        if key not in self._entries:
            return default
        self._entries.move_to_end(key)
        return self._entries[key]

    def __setitem__(self, key: Hashable, value):
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        """The keys, least recently used first."""
        return iter(list(self._entries))

    def clear(self):
        self._entries.clear()

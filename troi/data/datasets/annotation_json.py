"""What the annotation json formats share: the checks of :mod:`.coco_vid_format` and
:mod:`.ytvis_format`, and of the evaluators' result lists.

An annotation json is one object of top-level lists of json objects (``videos``,
``images``, ``annotations``, ``categories``). Which lists, and which keys of their
entries, depend on the use (a loader, an evaluator, a script): :class:`Needs` says it.
Every error is a ``ValueError`` naming the file (or the in-memory list), the list, the
index of the entry (and its ``id`` when it has one) and the key, e.g.
``images[3] has no 'video_id' in /data/vid.json (needed: id, video_id, frame_id)``.

Pure json/python, without detectron2.
"""

import math
import numbers
import operator
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Collection, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple, Union

from ...utils import read_json

__all__ = [
    "Needs",
    "check_references",
    "check_values",
    "entry_where",
    "fields_reader",
    "in_file",
    "is_id",
    "is_int",
    "is_known",
    "is_number",
    "is_positive_int",
    "json_lists",
    "read_json_object",
    "unique_ids",
]


@dataclass(frozen=True)
class Needs:
    """What one use of an annotation json needs from it.

    Attributes:
        keys: top-level list -> the keys every entry of it must have, not null. Only these
            lists are read: they must be lists of json objects.
        optional: lists of ``keys`` that may be absent (read as empty), e.g. the
            annotations of an unlabeled json.
    """

    keys: Mapping[str, Tuple[str, ...]]
    optional: FrozenSet[str] = frozenset()

    def needs(self, list_name: str, key: str) -> bool:
        """Whether the entries of ``list_name`` must have ``key``."""
        return key in self.keys.get(list_name, ())


def in_file(source: Optional[str]) -> str:
    """``" in <source>"``, or ``""`` for a list that is not from a file."""
    return f" in {source}" if source else ""


def entry_where(list_name: str, index: int, entry: Any) -> str:
    """``"annotations[3] (id 7)"``: the entry, with its id when it has one."""
    if isinstance(entry, dict) and "id" in entry:
        return f"{list_name}[{index}] (id {entry['id']!r})"
    return f"{list_name}[{index}]"


def read_json_object(path: Union[str, os.PathLike], what: str, missing_hint: Optional[str] = None) -> dict:
    """The top-level object of the json file ``path`` (``what`` names it in errors).

    Raises:
        FileNotFoundError: ``path`` does not exist (followed by ``missing_hint`` if given).
        ValueError: ``path`` is not valid json, or its top level is not an object.
    """
    path = os.fspath(path)
    try:
        data = read_json(path, what)
    except FileNotFoundError as error:
        if missing_hint is None:
            raise
        raise FileNotFoundError(f"{error}: {missing_hint}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} must hold a json object, found a {type(data).__name__}")
    return data


def json_lists(data: dict, needs: Needs, source: str) -> Dict[str, list]:
    """``{list name: entries}`` of the lists ``needs`` names, each checked to be a list of
    json objects with the needed keys; ``[]`` for an absent optional list."""
    lists = {}
    for name, keys in needs.keys.items():
        if name not in data:
            if name not in needs.optional:
                raise ValueError(f"{source} has no top-level {name!r} list")
            lists[name] = []
            continue
        entries = data[name]
        if not isinstance(entries, list):
            raise ValueError(f"{name!r} in {source} must be a list, found a {type(entries).__name__}")
        read = fields_reader(keys, name, source)
        for index, entry in enumerate(entries):
            read(entry, index)
        lists[name] = entries
    return lists


def fields_reader(keys: Sequence[str], list_name: str, source: Optional[str]) -> Callable[[Any, int], tuple]:
    """A function ``(entry, index) -> tuple(entry[key] for key in keys)`` that raises a
    ``ValueError`` such as ``"images[3] has no 'video_id' in /x/y.json (needed: id,
    video_id)"`` for an entry that is not a json object, lacks a key or has it null."""
    keys = tuple(keys)
    if not keys:
        get = lambda entry: ()  # noqa: E731
    elif len(keys) == 1:
        get = lambda entry: (entry[keys[0]],)  # noqa: E731
    else:
        get = operator.itemgetter(*keys)
    needed = f" (needed: {', '.join(keys)})"

    def read(entry, index: int) -> tuple:
        if not isinstance(entry, dict):
            raise ValueError(
                f"{list_name}[{index}] must be a json object{in_file(source)}, found a {type(entry).__name__}"
            )
        try:
            values = get(entry)
        except KeyError as error:
            raise ValueError(f"{list_name}[{index}] has no {error.args[0]!r}{in_file(source)}{needed}") from None
        if None in values:
            key = keys[values.index(None)]
            raise ValueError(f"{entry_where(list_name, index, entry)} has a null {key!r}{in_file(source)}{needed}")
        return values

    return read


def is_id(value) -> bool:
    """Whether ``value`` can be an id: an int (not a bool) or a string."""
    return isinstance(value, str) or is_int(value)


def is_known(value, known: Collection) -> bool:
    """Whether ``value`` is in ``known`` (False for an unhashable value: a list, an object)."""
    try:
        return value in known
    except TypeError:
        return False


def is_number(value) -> bool:
    """Whether ``value`` is a finite real number (not a bool; numpy scalars are numbers)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value) -> bool:
    """Whether ``value`` is an int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_positive_int(value) -> bool:
    return is_int(value) and value > 0


def check_values(
    entries: Sequence[dict],
    key: str,
    is_valid: Callable[[Any], bool],
    description: str,
    list_name: str,
    source: Optional[str],
) -> None:
    """ValueError for the first entry that has ``key`` with a value that is not ``is_valid``,
    e.g. ``"images[0] (id 12) in /x.json: frame_id '3' is not an int"``."""
    for index, entry in enumerate(entries):
        if key in entry and not is_valid(entry[key]):
            raise ValueError(
                f"{entry_where(list_name, index, entry)}{in_file(source)}: {key} {entry[key]!r} is not {description}"
            )


def unique_ids(entries: Sequence[dict], list_name: str, noun: str, source: Optional[str]) -> Dict[Any, dict]:
    """``{id: entry}`` of entries that all have an ``id``, checked to be ids (:func:`is_id`)
    and unique."""
    by_id = {}
    for index, entry in enumerate(entries):
        entry_id = entry["id"]
        if not is_id(entry_id):
            raise ValueError(f"{list_name}[{index}]{in_file(source)}: id {entry_id!r} is not an int or a string")
        if entry_id in by_id:
            repeated = [value for value, count in Counter(entry["id"] for entry in entries).items() if count > 1]
            raise ValueError(
                f"{list_name}[{index}] repeats {noun} id {entry_id!r}{in_file(source)}; {noun} ids "
                f"{repeated[:10]} appear more than once"
            )
        by_id[entry_id] = entry
    return by_id


def check_references(entries: Sequence[dict], key: str, known: Collection, list_name: str, target: str) -> None:
    """ValueError for the first entry whose ``key`` is not in ``known``, e.g.
    ``"annotations[0] (id 1) has image_id 99, which is not in the images of /x.json"``
    (``target``: ``"the images of /x.json"``), with the number of entries that have it."""
    for index, entry in enumerate(entries):
        value = entry[key]
        if is_known(value, known):
            continue
        count = sum(1 for other in entries if other[key] == value)
        also = f" ({count} entries of {list_name} have it)" if count > 1 else ""
        raise ValueError(f"{entry_where(list_name, index, entry)} has {key} {value!r}, which is not in {target}{also}")

"""detectron2's checkpointer, with checkpoints that are never left half written and load
errors that name the file.

fvcore's ``Checkpointer.save`` writes ``model_XXXXXXX.pth`` and then ``last_checkpoint``
in place: a process killed (or a disk filling) in between leaves a truncated
checkpoint or an empty ``last_checkpoint``, and ``--resume`` then fails with
``Checkpoint /dir/ not found!`` or ``OSError: [Errno 22] Invalid argument``.
"""

from . import compat  # noqa: F401  (detectron2 shims, before any detectron2 import)
import contextlib
import os
from typing import Any

from detectron2.checkpoint import DetectionCheckpointer

from .utils import atomic_file

__all__ = ["AtomicCheckpointer"]


class _AtomicWrites:
    """An iopath ``PathManager`` whose files opened for writing appear whole, when closed
    without error, or not at all (:func:`troi.utils.atomic_file`); everything else is the
    wrapped path manager's."""

    def __init__(self, path_manager):
        self._path_manager = path_manager

    def __getattr__(self, name: str) -> Any:
        return getattr(self._path_manager, name)

    def open(self, path: str, mode: str = "r", **kwargs):
        if not any(flag in mode for flag in "wax+"):
            return self._path_manager.open(path, mode, **kwargs)
        return self._atomic_open(path, mode, **kwargs)

    @contextlib.contextmanager
    def _atomic_open(self, path: str, mode: str, **kwargs):
        with atomic_file(path) as temporary, open(temporary, mode, **kwargs) as f:
            yield f


class AtomicCheckpointer(DetectionCheckpointer):
    """:class:`DetectionCheckpointer` whose ``save`` writes each checkpoint, and then
    ``last_checkpoint``, to a temporary file renamed into place when complete.

    Loading, a checkpoint that cannot be read (truncated, corrupt, not a checkpoint) is a
    ValueError naming it, and a ``last_checkpoint`` that names no existing file (left by
    an interrupted save of an earlier version) is a FileNotFoundError naming it and the
    checkpoints that are there.
    """

    def __init__(self, model, save_dir: str = "", **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.path_manager = _AtomicWrites(self.path_manager)

    def get_checkpoint_file(self) -> str:
        path = super().get_checkpoint_file()
        if not os.path.isfile(path):
            tag = os.path.join(self.save_dir, "last_checkpoint")
            named = path[len(os.path.join(self.save_dir, "")) :]
            found = sorted(os.path.basename(f) for f in self.get_all_checkpoint_files())
            raise FileNotFoundError(
                f"{tag} names {named!r}, which is not a file; the checkpoints in "
                f"{self.save_dir} are {found}: write the name of the one to resume from into {tag}, or delete it "
                f"to start afresh"
            )
        return path

    def _load_file(self, filename: str) -> dict:
        try:
            return super()._load_file(filename)
        except Exception as error:  # torch.load and pickle raise many types on a damaged file
            raise ValueError(
                f"cannot load checkpoint {filename} (truncated or corrupt?): {type(error).__name__}: {error}"
            ) from error

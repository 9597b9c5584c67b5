"""Output files and folders that appear whole or not at all, alone or as a group.

Every writer of this project goes through :class:`AtomicOutputs`: each output is first
written to a hidden temporary file or folder beside its destination (same file system,
so the final move is a rename), and only a writer that finishes without error moves
them into place, all together:

    with atomic_outputs() as outputs:
        video = outputs.file("out/video.mp4")    # checked and created now, before any work
        points = outputs.folder("out/points")
        ...                                      # write into video and points
    # here both are in place; after an error (or a kill) neither is, and nothing is left

Errors name the output path, never the temporary one.
"""

import contextlib
import errno
import json
import os
import shutil
import tempfile
from typing import Iterator, List, Optional, Tuple

__all__ = ["AtomicOutputs", "atomic_file", "atomic_folder", "atomic_outputs", "write_json_atomically"]

_FILE_MODE = 0o644  # mkstemp creates private (0600) files, mkdtemp private (0700) folders
_FOLDER_MODE = 0o755


def _named(error: OSError, path: str) -> OSError:
    """``error`` about ``path`` (the same errno, hence the same OSError subclass)."""
    if error.errno is None:
        return OSError(f"{path}: {error}")
    return OSError(error.errno, error.strerror, path)


class AtomicOutputs:
    """A group of output files and folders moved into place together by :meth:`commit`.

    :meth:`file` and :meth:`folder` check their destination at once (not an existing
    folder or file of the other kind, its parent creatable and writable) and return the
    temporary path to write instead; a problem with any output therefore shows before
    the work that fills them. :meth:`commit` moves every output into place; if a move
    fails, the ones already moved are taken back (the files they replaced restored), so
    either all outputs are new or none is. :meth:`discard` removes what is left.
    """

    def __init__(self):
        self._files: List[Tuple[str, str]] = []  # (destination, temporary)
        self._folders: List[Tuple[str, str, bool]] = []  # (destination, staging folder, exist_ok)

    def file(self, path: str) -> str:
        """A new empty temporary file for ``path``, with ``path``'s extension (writers such
        as OpenCV's pick the format from it)."""
        path = self._claim(path)
        if os.path.isdir(path):
            raise IsADirectoryError(errno.EISDIR, "is a folder; the output must be a file path", path)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        try:
            handle, temporary = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.tmp-", suffix=os.path.splitext(path)[1], dir=folder
            )
        except OSError as error:
            raise _named(error, path) from error
        os.close(handle)
        self._files.append((path, temporary))
        return temporary

    def folder(self, path: str, exist_ok: bool = True) -> str:
        """A new empty staging folder for ``path``: its files go into ``path`` (replacing
        files of the same names) or, when ``path`` does not exist, it becomes ``path`` in one
        rename. ``exist_ok=False``: ``path`` must not exist, now or at the commit
        (FileExistsError)."""
        path = self._claim(path)
        if os.path.exists(path) and not (exist_ok and os.path.isdir(path)):
            if not exist_ok:
                raise FileExistsError(errno.EEXIST, "already exists", path)
            raise NotADirectoryError(errno.ENOTDIR, "is a file; the output must be a folder path", path)
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        try:
            staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
        except OSError as error:
            raise _named(error, path) from error
        self._folders.append((path, staging, exist_ok))
        return staging

    def destination(self, temporary: str) -> Optional[str]:
        """The output path of a temporary path (or of a file in a staging folder), else None."""
        for path, staged in self._files:
            if temporary == staged:
                return path
        for path, staging, _ in self._folders:
            if os.path.dirname(temporary) == staging:
                return os.path.join(path, os.path.basename(temporary))
        return None

    def commit(self) -> None:
        """Move every output into place, or none (the group's files are synced to disk
        first; the files of folders are not)."""
        renames, moves = self._plan()
        for _, temporary in self._files:
            os.chmod(temporary, _FILE_MODE)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
        renamed, replaced = [], []  # (staging, path) of renamed folders; (path, backup or None) of moved files
        try:
            for staging, path in renames:
                os.chmod(staging, _FOLDER_MODE)
                self._rename_folder(staging, path)
                renamed.append((staging, path))
            for temporary, path in moves:
                replaced.append((path, self._replace(temporary, path)))
        except BaseException:
            for path, backup in reversed(replaced):
                if backup is None:
                    os.remove(path)
                else:
                    os.replace(backup, path)
            for staging, path in reversed(renamed):
                os.rename(path, staging)
            raise
        for _, backup in replaced:
            if backup is not None:
                os.remove(backup)
        self._files, self._folders = [], []

    def discard(self) -> None:
        """Remove every temporary file and staging folder that is left."""
        for _, temporary in self._files:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
        for _, staging, _ in self._folders:
            shutil.rmtree(staging, ignore_errors=True)
        self._files, self._folders = [], []

    def _claim(self, path: str) -> str:
        path = os.path.abspath(os.fspath(path))
        taken = [claimed for claimed, _ in self._files] + [claimed for claimed, _, _ in self._folders]
        if path in taken:
            raise ValueError(f"{path} is given as two outputs")
        return path

    def _plan(self) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
        """``(staging, path)`` of the folders renamed into place (their destination does not
        exist) and ``(temporary, path)`` of the files moved: the group's files and the files
        of the other staging folders."""
        renames, moves = [], [(temporary, path) for path, temporary in self._files]
        for path, staging, exist_ok in self._folders:
            if not os.path.isdir(path):
                renames.append((staging, path))
            elif not exist_ok:
                raise FileExistsError(errno.EEXIST, "was created by someone else meanwhile", path)
            else:
                moves += [
                    (os.path.join(staging, name), os.path.join(path, name)) for name in sorted(os.listdir(staging))
                ]
        return renames, moves

    @staticmethod
    def _rename_folder(staging: str, path: str) -> None:
        try:
            os.rename(staging, path)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(errno.EEXIST, "was created by someone else meanwhile", path) from error
            raise _named(error, path) from error

    @staticmethod
    def _replace(temporary: str, path: str) -> Optional[str]:
        """Move ``temporary`` onto ``path``; returns a backup of the file it replaced (a hard
        link, or a copy where the file system has none), None if there was none."""
        backup = None
        if os.path.isfile(path):
            backup = f"{temporary}.previous"
            try:
                os.link(path, backup)
            except OSError:
                shutil.copy2(path, backup)
        try:
            os.replace(temporary, path)
        except OSError as error:
            if backup is not None:
                os.remove(backup)
            raise _named(error, path) from error
        return backup


@contextlib.contextmanager
def atomic_outputs() -> Iterator[AtomicOutputs]:
    """An :class:`AtomicOutputs` committed when the block ends without error; its
    temporaries are removed either way. An OSError about a temporary path (e.g. a full
    disk while writing it) is raised as one about its output path."""
    outputs = AtomicOutputs()
    try:
        yield outputs
        outputs.commit()
    except OSError as error:
        path = outputs.destination(error.filename) if isinstance(error.filename, str) else None
        if path is None:
            raise
        raise _named(error, path) from error
    finally:
        outputs.discard()


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[str]:
    """A temporary path in ``path``'s folder, with ``path``'s extension, that replaces
    ``path`` when the block ends without error; ``path`` is never left half written."""
    with atomic_outputs() as outputs:
        yield outputs.file(path)


@contextlib.contextmanager
def atomic_folder(path: Optional[str], exist_ok: bool = True) -> Iterator[Optional[str]]:
    """A staging folder whose files move into ``path`` when the block ends without error
    (see :meth:`AtomicOutputs.folder`); ``path`` None: yields None."""
    if path is None:
        yield None
        return
    with atomic_outputs() as outputs:
        yield outputs.folder(path, exist_ok)


def write_json_atomically(data, path: str) -> None:
    """Write ``data`` as json to ``path``, which is never left half written."""
    with atomic_file(path) as temporary, open(temporary, "w") as f:
        json.dump(data, f)

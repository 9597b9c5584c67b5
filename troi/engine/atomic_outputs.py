"""Output files and folders that appear whole or not at all."""
import contextlib
import os
import shutil
import tempfile
from typing import Iterator, Optional

__all__ = ["atomic_file", "atomic_folder"]


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder, with ``path``'s extension (writers such as
    OpenCV's pick the format from it); it replaces ``path`` on success and is removed on
    error, so ``path`` is never left half written."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", suffix=os.path.splitext(path)[1],
                                         dir=folder)
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, 0o644)  # mkstemp creates private (0600) files
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def atomic_folder(path: Optional[str]) -> Iterator[Optional[str]]:
    """Yield a temporary folder next to ``path`` whose files move into ``path`` (created if
    needed) on success; on error it is removed and ``path`` untouched. None: yields None."""
    if path is None:
        yield None
        return
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(path))}.tmp-", dir=parent)
    try:
        yield staging
        os.makedirs(path, exist_ok=True)
        for name in sorted(os.listdir(staging)):
            os.replace(os.path.join(staging, name), os.path.join(path, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""Writing files that cannot half-happen.

Every file salesmining writes — reports, tables, maps, JSON, stage models — goes through
:func:`write_atomic`: the bytes go to a temporary file in the target's folder, are flushed to
disk, and the temporary file is renamed over the target in one step (``os.replace``). A
failure (no permission, a full disk, a parent that is a file) leaves any earlier file as it
was and no temporary file behind, and raises :class:`~salesmining.core.errors.OutputError`
with one plain sentence naming the path and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from salesmining.core.errors import OutputError

__all__ = ["prepare_folder", "write_atomic"]


def _reason(exc: OSError) -> str:
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied; choose a folder you can write to"
    if code == errno.ENOSPC:
        return "the disk is full"
    if code == errno.EROFS:
        return "the file system is read-only"
    if code == errno.ENAMETOOLONG:
        return "the file name is too long"
    return exc.strerror or str(exc)


def prepare_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and its parents) for output, or raise an :class:`OutputError` saying why not."""
    p = Path(folder)
    for parent in (p, *p.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"cannot write into {p}: {parent} is a file, not a folder")
            break
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {p}: {_reason(exc)}") from exc
    return p


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` all at once: a temporary file, then a rename.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_atomic(d / "out" / "a.txt", "héllo").read_text(encoding="utf-8")
    'héllo'
    >>> sorted(p.name for p in (d / "out").iterdir())   # no temporary file left behind
    ['a.txt']
    """
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"cannot write {p}: it is a folder; give a file name")
    prepare_folder(p.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if p.exists():
            with contextlib.suppress(OSError):  # keep the target's permissions
                tmp.chmod(p.stat().st_mode & 0o7777)
        else:  # what a plain open() would have given: 0o666 less the umask
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        tmp.replace(p)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {p}: {_reason(exc)}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return p

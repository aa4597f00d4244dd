"""Files that are contracts: written atomically, private to the user, never half-written.

Checkpoints, plans and the audit log are 0600 inside 0700 directories. A directory that is
more open than that is tightened (we own it) and the user is told; one we cannot tighten is
refused.
"""

import logging
import os
import stat
import tempfile
from pathlib import Path

from ..errors import RefusedError

log = logging.getLogger("ingestctl.files")


def private_dir(path: Path, tighten: bool = True) -> Path:
    """Create the directory (and parents) 0700, or tighten an existing one to 0700.
    With tighten=False (a directory the user chose for one file, such as the current one),
    an open directory is refused rather than changed under the user's feet."""
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and (mode & stat.S_ISVTX or info.st_uid != os.geteuid()):
        # A shared directory (/tmp, another user's): tightening it would lock others out.
        raise RefusedError(
            f"{path} is shared with other users (mode {mode:o}); write into a directory "
            "of your own (mode 700) instead."
        )
    if mode & 0o077 and not tighten:
        raise RefusedError(
            f"{path} is readable by other users (mode {mode:o}); write into a private "
            f"directory (such as the checkpoint dir) or chmod 700 {path} first."
        )
    if mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            raise RefusedError(
                f"{path} is readable by other users (mode {mode:o}) and cannot be tightened; "
                "chmod 700 it or choose another directory."
            ) from None
        log.warning("tightened %s from mode %o to 700", path, mode)
    return path


def _tighten_file(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, 0o600)
        except OSError:
            raise RefusedError(
                f"{path} is readable by other users (mode {mode:o}) and cannot be tightened; "
                "chmod 600 it."
            ) from None
        log.warning("tightened %s from mode %o to 600", path, mode)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str, overwrite: bool = True,
                 tighten_dir: bool = True) -> Path:
    """Write text to path so that a reader (or a crash) sees the old file or the new one,
    never a mix: temp file in the same dir, fsync, rename (or link when not overwriting),
    fsync of the directory. Mode 0600, in a 0700 directory (see private_dir)."""
    path = Path(path)
    private_dir(path.parent, tighten=tighten_dir)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails with FileExistsError rather than replace
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def private_file(path: Path) -> Path:
    """Create the file (empty, 0600) in a private directory, or tighten an existing one."""
    path = Path(path)
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))
    _tighten_file(path)
    return path


def append_line(path: Path, line: str) -> None:
    """Append one line to a private file (the audit log), creating it 0600."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        _tighten_file(path)
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)

"""The checkpoint directory: `<dir>/<wave>/<UTC time>.yaml` files, written atomically 0600 in
0700 dirs and never overwritten, listed per wave, and REF lookup (a path, WAVE for its
newest, WAVE@N with 1 the oldest)."""

import dataclasses
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
import yaml
from .connectors import ConnectorState, diff_connectors, parse_connector, read_connectors
from ..config import Settings
from ..errors import InvalidFileError, NotFoundError, UsageError
from ..files.fs import atomic_write, private_dir
from ..parsing import format_time, parse_time_ms
from .model import Checkpoint
from .format import time_text, dumps, load
from .model import WAVE_NAME




_REF_AT = re.compile(r"^(?P<wave>[^@/]+)@(?P<n>\d+)$")


def checkpoint_dir(explicit: Path | str | None, settings: Settings | None) -> Path:
    """--dir, else the profile's checkpoint_dir, else ./checkpoints."""
    if explicit:
        return Path(explicit).expanduser()
    if settings is not None and settings.checkpoint_dir:
        return Path(settings.checkpoint_dir).expanduser()
    return Path("checkpoints")


def check_wave(wave: str) -> str:
    if not WAVE_NAME.match(wave or ""):
        raise UsageError(
            f"'{wave}' is not a wave name; use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)."
        )
    return wave


def file_name(created_at: int) -> str:
    """`2026-11-26T21-00-00.123Z.yaml`: sorts by time, and has no ':' for other systems."""
    return time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(created_at // 1000)) + (
        f".{created_at % 1000:03d}Z.yaml")


def wave_files(directory: Path, wave: str) -> list[Path]:
    """The wave's checkpoint files, oldest first (temporary files of a write are hidden)."""
    wave_dir = Path(directory) / wave
    if not wave_dir.is_dir():
        return []
    return sorted(p for p in wave_dir.iterdir()
                  if p.suffix == ".yaml" and not p.name.startswith(".") and p.is_file())


def waves(directory: Path) -> list[str]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir()
                  if p.is_dir() and WAVE_NAME.match(p.name) and wave_files(directory, p.name))


def resolve_ref(ref: str, directory: Path) -> Path:
    """A REF is a path to a file, a wave name (its newest checkpoint) or WAVE@N (N = 1 is the
    oldest). NotFoundError (exit 4) when nothing matches."""
    directory = Path(directory)
    if Path(ref).expanduser().is_file():
        return Path(ref).expanduser()
    at = _REF_AT.match(ref)
    if at:
        wave, n = at["wave"], int(at["n"])
        files = wave_files(directory, check_wave(wave))
        if n < 1 or n > len(files):
            raise NotFoundError(
                f"wave {wave} has {len(files)} checkpoint(s) in {directory}, so {ref} names "
                "none; see `ingestctl checkpoint list " + wave + "`."
            )
        return files[n - 1]
    if "/" in ref or ref.endswith(".yaml"):
        raise NotFoundError(f"checkpoint file {ref} does not exist.")
    files = wave_files(directory, check_wave(ref))
    if not files:
        raise NotFoundError(
            f"no checkpoint of wave {ref} in {directory}; see `ingestctl checkpoint list` "
            "(or pass --dir)."
        )
    return files[-1]


def write(cp: Checkpoint, directory: Path) -> Path:
    """Write the checkpoint to <directory>/<wave>/<time>.yaml, atomically and never over an
    existing file (two in the same millisecond: the later one is stamped a millisecond on)."""
    directory = private_dir(Path(directory))
    private_dir(directory / check_wave(cp.wave))
    for _ in range(1000):
        path = directory / cp.wave / file_name(cp.created_at)
        if not path.exists():
            try:
                return atomic_write(path, dumps(cp), overwrite=False)
            except FileExistsError:
                pass
        cp = dataclasses.replace(cp, created_at=cp.created_at + 1)
    raise InvalidFileError(f"cannot find a free file name for wave {cp.wave} in {directory}.")


def listing(directory: Path, wave: str | None = None) -> list[dict]:
    """Every checkpoint (of one wave, or all), oldest first per wave, with its REF."""
    directory = Path(directory)
    names = [check_wave(wave)] if wave else waves(directory)
    if wave and not wave_files(directory, wave):
        raise NotFoundError(f"no checkpoint of wave {wave} in {directory}.")
    out = []
    for name in names:
        for n, path in enumerate(wave_files(directory, name), 1):
            entry = {"wave": name, "ref": f"{name}@{n}", "path": str(path)}
            try:
                cp = load(path)
            except InvalidFileError as exc:
                entry["error"] = exc.message
            else:
                entry.update(created_at=time_text(cp.created_at), cluster_id=cp.cluster_id,
                             note=cp.note, topics=len(cp.topics), groups=len(cp.groups),
                             connectors=len(cp.connectors))
            out.append(entry)
    return out


"""Wave plans (`--plan waves.yaml`): which topics, groups and connectors make up each wave."""

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
from ..files.documents import StrictLoader


@dataclass(frozen=True)
class WaveScope:
    topics: list[str]
    groups: list[str]
    connectors: list[str]


def load_wave_plan(path: Path, wave: str) -> WaveScope:
    """A wave plan file: `waves: {NAME: {topics: [...], groups: [...], connectors: [...]}}`."""
    path = Path(path).expanduser()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=StrictLoader)
    except FileNotFoundError:
        raise NotFoundError(f"wave plan {path} does not exist.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidFileError(
            f"wave plan {path} is not readable YAML ({exc.__class__.__name__})."
        ) from None
    plans = data.get("waves") if isinstance(data, dict) else None
    if not isinstance(plans, dict):
        raise InvalidFileError(f"wave plan {path} needs a top-level 'waves' mapping.")
    if wave not in plans:
        raise UsageError(
            f"wave {wave} is not in {path}; it plans: {', '.join(map(str, plans)) or 'nothing'}."
        )
    body = plans[wave] or {}
    if not isinstance(body, dict):
        raise InvalidFileError(f"wave plan {path}: waves.{wave} must be a mapping.")
    unknown = set(body) - {"topics", "groups", "connectors"}
    if unknown:
        raise InvalidFileError(
            f"wave plan {path}: unknown key '{sorted(unknown)[0]}' in waves.{wave}; allowed: "
            "connectors, groups, topics."
        )
    lists = {}
    for key in ("topics", "groups", "connectors"):
        value = body.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InvalidFileError(f"wave plan {path}: waves.{wave}.{key} must be a list of "
                                   "names.")
        lists[key] = value
    return WaveScope(**lists)


"""The sandbox's state file (sandbox.json in its data dir) and the status it reports."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

STATE_FILE = "sandbox.json"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ingestctl" / "sandbox"


@dataclass
class Status:
    running: bool
    data_dir: str
    bootstrap: str | None = None
    pid: int | None = None
    port: int | None = None
    log: str | None = None
    kafka_version: str | None = None
    cluster_id: str | None = None
    connect_url: str | None = None
    connect_log: str | None = None
    registry_url: str | None = None
    registry_log: str | None = None
    started_in_seconds: float | None = None
    already_running: bool = False
    # component -> seconds from its launch until it answered, for those this start began
    started: dict[str, float] = field(default_factory=dict)
    # listeners and files of `start --security` (security.describe); no secret
    security: dict = field(default_factory=dict)
    # MirrorMaker 2 into this sandbox (mirror.describe), when `start --mirror-from` asked for it
    mirror: dict | None = None

    def as_dict(self) -> dict:
        out = {
            "running": self.running, "bootstrap": self.bootstrap, "pid": self.pid,
            "port": self.port, "data_dir": self.data_dir, "log": self.log,
            "kafka_version": self.kafka_version, "cluster_id": self.cluster_id,
        }
        if self.connect_url:
            out["connect_url"] = self.connect_url
            out["connect_log"] = self.connect_log
        if self.registry_url:
            out["registry_url"] = self.registry_url
            out["registry_log"] = self.registry_log
        if self.started_in_seconds is not None:
            out["started_in_seconds"] = round(self.started_in_seconds, 2)
        if self.started:
            out["components_started_in_seconds"] = {
                name: round(seconds, 2) for name, seconds in self.started.items()
            }
        out.update(self.security)
        if self.mirror:
            out["mirror"] = self.mirror
        if self.already_running:
            out["already_running"] = True
        return out


def _state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def read_state(data_dir: Path) -> dict:
    try:
        return json.loads(_state_path(data_dir).read_text())
    except (OSError, ValueError):
        return {}


def write_state(data_dir: Path, state: dict) -> None:
    tmp = _state_path(data_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, _state_path(data_dir))


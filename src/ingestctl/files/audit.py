"""The audit log: one JSON line per executed change, in `<checkpoint dir>/audit.jsonl`."""

import getpass
import json
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from .. import secrets
from .fs import append_line, private_file

AUDIT_FILE = "audit.jsonl"


def prepare(checkpoint_dir: Path) -> Path:
    """Call before changing anything: a change whose audit line could not be written (a
    shared or unwritable directory: RefusedError) must not be made at all."""
    return private_file(Path(checkpoint_dir).expanduser() / AUDIT_FILE)


def record(checkpoint_dir: Path, action: str, cluster_id: str | None, **fields) -> Path:
    """Append one entry: time, user@host, cluster id, the command line, and the change."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    entry = {
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "user": f"{user}@{socket.gethostname()}",
        "action": action,
        "cluster_id": cluster_id,
        "command": secrets.scrub(" ".join(["ingestctl", *sys.argv[1:]])),
        **fields,
    }
    path = Path(checkpoint_dir).expanduser() / AUDIT_FILE
    append_line(path, secrets.scrub(json.dumps(entry, default=str, sort_keys=False)))
    return path

"""Whether a checkpoint still applies to the cluster: same cluster, partitions unchanged,
offsets still retained, connectors still there; each problem one sentence."""

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

log = logging.getLogger("ingestctl.checkpoints")


def applicability_problems(cp: Checkpoint, settings: Settings) -> list[str]:
    """Why the checkpoint no longer applies to the live cluster, one sentence each: another
    cluster, a topic gone or with another partition count, an offset below log-start, a
    recorded connector that Connect no longer has (when a Connect URL is configured)."""
    from .. import kafka
    from ..kafka import metadata

    admin = kafka.Admin(settings)
    problems = []
    live_id = kafka.cluster_id(admin)
    if live_id != cp.cluster_id:
        problems.append(f"the checkpoint is from cluster {cp.cluster_id}, but "
                        f"{settings.bootstrap_servers} is cluster {live_id}.")
    known = metadata.list_topics(admin)
    problems += partition_count_problems(cp, known, list(cp.topics))
    tps = sorted({tp for g in cp.groups for tp in cp.group_offsets(g)
                  if tp[0] in known and tp[1] in known[tp[0]].partitions})
    marks = metadata.watermarks(admin, tps)
    for group in sorted(cp.groups):
        for tp, offset in sorted(cp.group_offsets(group).items()):
            if tp in marks and offset < marks[tp][0]:
                problems.append(
                    f"group {group}: {tp[0]}[{tp[1]}] offset {offset} is below the log-start "
                    f"{marks[tp][0]} (the records were deleted).")
    return problems + _connector_problems(cp, settings)


def _connector_problems(cp: Checkpoint, settings: Settings) -> list[str]:
    """Recorded connectors that Kafka Connect no longer has (`rollback --connector` needs
    them); their sinks' offsets are checked with the groups."""
    if not cp.connectors:
        return []
    if not settings.connect_url:
        log.warning("the checkpoint records connectors; without --connect-url (or the "
                    "profile's connect_url) they were not checked")
        return []
    from ..services.connect import Connect

    live = set(Connect(settings).connectors())
    return [f"connector {name} no longer exists on Kafka Connect." for name in sorted(cp.connectors)
            if name not in live]


def partition_count_problems(cp: Checkpoint, known, topics: list[str]) -> list[str]:
    problems = []
    for topic in sorted(topics):
        recorded = set(cp.topics[topic].partitions)
        if topic not in known:
            problems.append(f"topic {topic} no longer exists.")
            continue
        live = set(known[topic].partitions)
        if live != recorded:
            added = sorted(live - recorded)
            removed = sorted(recorded - live)
            change = "; ".join(filter(None, [
                added and "added " + ", ".join(map(str, added)),
                removed and "missing " + ", ".join(map(str, removed))]))
            problems.append(f"topic {topic} has {len(live)} partitions, the checkpoint "
                            f"{len(recorded)} ({change}).")
    return problems


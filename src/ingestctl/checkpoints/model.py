"""The checkpoint model: where every partition of a wave's topics and every committed offset of
its groups stood, with the timestamps around each committed offset (the key to rolling back
on another cluster, where offsets differ), schema versions and connector state."""

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
from ..partitions import TP


FORMAT = "ingestctl.checkpoint/v1"
WAVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class PartitionState:
    """A topic partition when the checkpoint was taken. Timestamps are epoch ms."""

    partition: int
    log_start: int
    end: int  # the last stable offset: the end a read_committed consumer reaches
    first_timestamp: int | None = None
    last_timestamp: int | None = None
    schema_ids: tuple[int, ...] = ()  # of the last record's key and value (wire format)


@dataclass(frozen=True)
class TopicState:
    partitions: dict[int, PartitionState]


@dataclass(frozen=True)
class GroupOffset:
    """A committed offset, with the timestamp of the record at it (the next to consume) and
    of the record below it (the last consumed), each when it exists."""

    partition: int
    offset: int
    next_timestamp: int | None = None
    last_timestamp: int | None = None


@dataclass(frozen=True)
class GroupState:
    state: str
    members: int
    offsets: dict[str, dict[int, GroupOffset]]  # topic -> partition -> offset


@dataclass(frozen=True)
class SchemaVersion:
    id: int
    version: int
    fingerprint: str | None  # None: not an Avro schema (or not a valid one)


@dataclass(frozen=True)
class Checkpoint:
    wave: str
    created_at: int  # epoch ms
    cluster_id: str
    note: str | None
    topics: dict[str, TopicState]
    groups: dict[str, GroupState]
    schemas: dict[str, SchemaVersion] = field(default_factory=dict)
    connectors: dict[str, ConnectorState] = field(default_factory=dict)

    def group_offsets(self, group: str) -> dict[TP, int]:
        offsets = self.groups[group].offsets
        return {(t, p): o.offset for t, parts in offsets.items() for p, o in parts.items()}

    def partition_count(self, topic: str) -> int:
        return len(self.topics[topic].partitions)


"""`checkpoint diff`: what was produced and consumed between two checkpoints (or a checkpoint
and the live cluster), partitions added or removed, schemas and connectors changed."""

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
from ..files.documents import YamlDumper, Flow, represent_text




YamlDumper.add_representer(str, represent_text)


YamlDumper.add_representer(
    Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data,
                                                         flow_style=True))


def diff(a: Checkpoint, b: Checkpoint, from_name: str, to_name: str,
         compare_subjects: bool = True, compare_connectors: bool = True) -> dict:
    """What changed from a to b (the JSON shape of DESIGN.md): records produced and log-start
    moves per partition, records consumed per group partition, partitions added or removed,
    schema ids changed: per partition (the last record's ids) and per subject (latest id,
    version, fingerprint; from or to null where the subject was absent). compare_subjects
    False leaves subjects out (a live side read without a schema registry knows none)."""
    a_tps = {(t, p): s for t, ts in a.topics.items() for p, s in ts.partitions.items()}
    b_tps = {(t, p): s for t, ts in b.topics.items() for p, s in ts.partitions.items()}
    topics, schemas_changed = [], []
    for tp in sorted(a_tps.keys() & b_tps.keys()):
        x, y = a_tps[tp], b_tps[tp]
        topics.append({"topic": tp[0], "partition": tp[1], "produced": y.end - x.end,
                       "log_start_moved": y.log_start - x.log_start,
                       "from_end": x.end, "to_end": y.end})
        if x.schema_ids != y.schema_ids:
            schemas_changed.append({"topic": tp[0], "partition": tp[1],
                                    "from": list(x.schema_ids), "to": list(y.schema_ids)})
    for subject in sorted(a.schemas.keys() | b.schemas.keys()) if compare_subjects else ():
        x, y = a.schemas.get(subject), b.schemas.get(subject)
        if x != y:
            schemas_changed.append({"subject": subject,
                                    "from": x and dataclasses.asdict(x),
                                    "to": y and dataclasses.asdict(y)})
    groups = []
    for group in sorted(a.groups.keys() | b.groups.keys()):
        x = a.group_offsets(group) if group in a.groups else {}
        y = b.group_offsets(group) if group in b.groups else {}
        for tp in sorted(x.keys() | y.keys()):
            before, after = x.get(tp), y.get(tp)
            groups.append({"group": group, "topic": tp[0], "partition": tp[1],
                           "consumed": after - before if None not in (before, after) else None,
                           "from_offset": before, "to_offset": after})
    return {
        "from": from_name,
        "to": to_name,
        "same_cluster": a.cluster_id == b.cluster_id,
        "topics": topics,
        "groups": groups,
        "partitions_added": [{"topic": t, "partition": p}
                             for t, p in sorted(b_tps.keys() - a_tps.keys())],
        "partitions_removed": [{"topic": t, "partition": p}
                               for t, p in sorted(a_tps.keys() - b_tps.keys())],
        "schemas_changed": schemas_changed,
        "subjects_compared": compare_subjects,
        # per connector: state and tasks, and per sink partition the offsets and consumed;
        # compare_connectors False: a live side read without a Connect URL knows none.
        "connectors": diff_connectors(a.connectors, b.connectors) if compare_connectors else [],
        "connectors_compared": compare_connectors,
    }


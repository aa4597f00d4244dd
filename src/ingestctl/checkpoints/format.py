"""The checkpoint file format v1: a checkpoint as a YAML document with a format version and a
checksum over its canonical content, and back (exit 7 naming the field that is wrong)."""

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
from .model import Checkpoint, FORMAT, GroupOffset, GroupState, PartitionState, SchemaVersion, TopicState
from ..files.documents import FieldReader, YamlDumper, Flow, StrictLoader, checksum
from .model import WAVE_NAME




def time_text(ms: int | None) -> str | None:
    return format_time(ms) if ms is not None else None


def to_document(cp: Checkpoint) -> dict:
    """The checkpoint as the plain data written to the file (without the checksum)."""
    return {
        "format": FORMAT,
        "wave": cp.wave,
        "created_at": time_text(cp.created_at),
        "cluster_id": cp.cluster_id,
        "note": cp.note,
        "topics": {
            topic: {"partitions": [
                {"partition": p.partition, "log_start": p.log_start, "end": p.end,
                 "first_timestamp": time_text(p.first_timestamp),
                 "last_timestamp": time_text(p.last_timestamp),
                 "schema_ids": list(p.schema_ids)}
                for _, p in sorted(state.partitions.items())
            ]}
            for topic, state in sorted(cp.topics.items())
        },
        "groups": {
            group: {
                "state": state.state,
                "members": state.members,
                "offsets": {
                    topic: [
                        {"partition": o.partition, "offset": o.offset,
                         "next_timestamp": time_text(o.next_timestamp),
                         "last_timestamp": time_text(o.last_timestamp)}
                        for _, o in sorted(parts.items())
                    ]
                    for topic, parts in sorted(state.offsets.items())
                },
            }
            for group, state in sorted(cp.groups.items())
        },
        "schemas": {
            subject: {"id": s.id, "version": s.version, "fingerprint": s.fingerprint}
            for subject, s in sorted(cp.schemas.items())
        },
        "connectors": {name: c.as_document() for name, c in sorted(cp.connectors.items())},
    }


def dumps(cp: Checkpoint) -> str:
    """The file's text: the document with one line per partition, the checksum last (a
    truncated file therefore always lacks it)."""
    document = to_document(cp)
    document["checksum"] = checksum(document)
    layout = dict(document)
    layout["topics"] = {
        t: {"partitions": [Flow(p) for p in v["partitions"]]}
        for t, v in document["topics"].items()
    }
    layout["groups"] = {
        g: {**v, "offsets": {t: [Flow(o) for o in parts] for t, parts in v["offsets"].items()}}
        for g, v in document["groups"].items()
    }
    layout["schemas"] = {s: Flow(v) for s, v in document["schemas"].items()}
    layout["connectors"] = {
        c: {**v, "tasks": [Flow(t) for t in v["tasks"]],
            "offsets": [Flow(o) for o in v["offsets"]]}
        for c, v in document["connectors"].items()
    }
    return yaml.dump(layout, Dumper=YamlDumper, sort_keys=False, allow_unicode=True, width=4096)


def from_document(document, source: str = "<memory>") -> Checkpoint:
    """Validate a loaded document (every field present and typed, no negative offsets, no
    duplicate entries, the checksum right) and build the Checkpoint. InvalidFileError names
    the file and the field."""
    f = FieldReader(source)
    if not isinstance(document, dict):
        raise InvalidFileError(f"checkpoint {source} is not intact: it is not a YAML mapping.")
    version = f.get(document, "format", "")
    if version != FORMAT:
        f.fail("format", f"is {version!r}, not {FORMAT!r}; this ingestctl reads format v1 only")
    if "checksum" not in document:
        f.fail("checksum", "is missing (the file is truncated or was not written by ingestctl)")
    stored_checksum = f.text(document, "checksum", "")
    wave = f.text(document, "wave", "")
    if not WAVE_NAME.match(wave):
        f.fail("wave", f"({wave!r}) is not a valid wave name")
    created_at = f.time(document, "created_at", "", optional=False)
    cluster_id = f.text(document, "cluster_id", "")
    note = f.get(document, "note", "")
    if note is not None and not isinstance(note, str):
        f.fail("note", "must be a string or null")

    topics: dict[str, TopicState] = {}
    for topic, body in f.mapping(document, "topics", "").items():
        where = f"topics.{topic}."
        if not isinstance(topic, str) or not isinstance(body, dict):
            f.fail(f"topics.{topic}", "must be a topic name mapped to its partitions")
        partitions: dict[int, PartitionState] = {}
        for i, entry in enumerate(f.items(body, "partitions", where)):
            at = f"{where}partitions[{i}]."
            if not isinstance(entry, dict):
                f.fail(f"{where}partitions[{i}]", "must be a mapping")
            number = f.count(entry, "partition", at)
            if number in partitions:
                f.fail(f"{at}partition", f"repeats partition {number}")
            log_start = f.count(entry, "log_start", at)
            end = f.count(entry, "end", at)
            if end < log_start:
                f.fail(f"{at}end", f"({end}) is below log_start ({log_start})")
            ids = f.items(entry, "schema_ids", at)
            if any(type(i) is not int or i < 0 for i in ids):
                f.fail(f"{at}schema_ids", "must hold whole numbers")
            partitions[number] = PartitionState(
                number, log_start, end, f.time(entry, "first_timestamp", at),
                f.time(entry, "last_timestamp", at), tuple(ids))
        topics[topic] = TopicState(partitions)

    groups: dict[str, GroupState] = {}
    for group, body in f.mapping(document, "groups", "").items():
        where = f"groups.{group}."
        if not isinstance(group, str) or not isinstance(body, dict):
            f.fail(f"groups.{group}", "must be a group id mapped to its state and offsets")
        offsets: dict[str, dict[int, GroupOffset]] = {}
        for topic, entries in f.mapping(body, "offsets", where).items():
            at_topic = f"{where}offsets.{topic}"
            if topic not in topics:
                f.fail(at_topic, "names a topic missing from the topics section")
            if not isinstance(entries, list):
                f.fail(at_topic, "must be a list")
            parts: dict[int, GroupOffset] = {}
            for i, entry in enumerate(entries):
                at = f"{at_topic}[{i}]."
                if not isinstance(entry, dict):
                    f.fail(f"{at_topic}[{i}]", "must be a mapping")
                number = f.count(entry, "partition", at)
                if number in parts:
                    f.fail(f"{at}partition", f"repeats partition {number}")
                if number not in topics[topic].partitions:
                    f.fail(f"{at}partition", f"({number}) is not a partition of {topic} in the "
                           "topics section")
                parts[number] = GroupOffset(
                    number, f.count(entry, "offset", at), f.time(entry, "next_timestamp", at),
                    f.time(entry, "last_timestamp", at))
            offsets[topic] = parts
        groups[group] = GroupState(f.text(body, "state", where), f.count(body, "members", where),
                                   offsets)

    schemas: dict[str, SchemaVersion] = {}
    for subject, body in f.mapping(document, "schemas", "").items():
        where = f"schemas.{subject}."
        if not isinstance(body, dict):
            f.fail(f"schemas.{subject}", "must be a mapping")
        schemas[subject] = SchemaVersion(f.count(body, "id", where),
                                         f.count(body, "version", where),
                                         f.text(body, "fingerprint", where, optional=True))

    connectors = {name: parse_connector(f, name, body)
                  for name, body in f.mapping(document, "connectors", "").items()}

    if checksum(document) != stored_checksum:
        f.fail("checksum", "does not match the content (the file was edited or damaged)")
    return Checkpoint(wave, created_at, cluster_id, note, topics, groups, schemas, connectors)


def loads(text: str, source: str = "<memory>") -> Checkpoint:
    try:
        document = yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "unreadable"
        raise InvalidFileError(
            f"checkpoint {source} is not valid YAML{where} ({problem}); the file is truncated "
            "or damaged: take a new checkpoint or restore it from a copy."
        ) from None
    return from_document(document, source)


def load(path: Path) -> Checkpoint:
    """Read and validate a checkpoint file (exit 7 naming the file and field when it is not
    intact, exit 4 when it does not exist)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")  # as written: no newline translation
    except FileNotFoundError:
        raise NotFoundError(f"checkpoint file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFileError(
            f"cannot read checkpoint {path}: {exc.__class__.__name__}."
        ) from None
    return loads(text, str(path))


"""Checkpoints of a migration wave: the model, the YAML file format v1, where files live and
how a REF names one, capture from the live cluster, verification, and diffs.

A checkpoint records where every partition of a wave's topics and every committed offset of
its groups stood, with the timestamps around each committed offset (the key to rolling back on
another cluster, where offsets differ). Files are contracts: human-readable YAML with a format
version and a checksum over the canonical content, written atomically, 0600 in 0700 dirs,
never overwritten.

The public API other parts build on:
    resolve_ref(ref, directory) -> Path        a path, WAVE (its newest) or WAVE@N (1 = oldest)
    load(path) -> Checkpoint                   intact or InvalidFileError (exit 7) naming field
    Checkpoint.topics[t].partitions[p]         .log_start .end .first_timestamp ...
    Checkpoint.groups[g].offsets[t][p]         .offset .next_timestamp .last_timestamp
    Checkpoint.group_offsets(g) -> {(t, p): offset}
    Checkpoint.connectors[c]                   .state .tasks .group .offsets .sink_offsets()
    capture(settings, wave, ...) / write(checkpoint, directory) -> Path
    applicability_problems(checkpoint, settings) -> [sentence, ...]
"""

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

from .checkpoint_connectors import (
    ConnectorState,
    diff_connectors,
    parse_connector,
    read_connectors,
)
from .config import Settings
from .errors import InvalidFileError, NotFoundError, UsageError
from .fsutil import atomic_write, private_dir
from .parsing import format_time, parse_time_ms

log = logging.getLogger("ingestctl.checkpoints")

FORMAT = "ingestctl.checkpoint/v1"
TP = tuple[str, int]

_WAVE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_REF_AT = re.compile(r"^(?P<wave>[^@/]+)@(?P<n>\d+)$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# --- the model -----------------------------------------------------------------------------

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


# --- the file format -----------------------------------------------------------------------

class _Flow(dict):
    """A mapping written on one line: one partition per line keeps the file readable."""


class _Dumper(yaml.CSafeDumper):
    pass


def _represent_text(dumper, text: str):
    # PyYAML writes these Unicode line breaks unquoted yet reads them as breaks: quote them.
    style = '"' if any(c in text for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)
_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data,
                                                         flow_style=True))


class _StrictLoader(yaml.CSafeLoader):
    """Refuses duplicate keys, which plain YAML loading silently collapses."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen = set()
            for key_node, _ in node.value:
                key = getattr(key_node, "value", None)
                if isinstance(key, str) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _time_text(ms: int | None) -> str | None:
    return format_time(ms) if ms is not None else None


def to_document(cp: Checkpoint) -> dict:
    """The checkpoint as the plain data written to the file (without the checksum)."""
    return {
        "format": FORMAT,
        "wave": cp.wave,
        "created_at": _time_text(cp.created_at),
        "cluster_id": cp.cluster_id,
        "note": cp.note,
        "topics": {
            topic: {"partitions": [
                {"partition": p.partition, "log_start": p.log_start, "end": p.end,
                 "first_timestamp": _time_text(p.first_timestamp),
                 "last_timestamp": _time_text(p.last_timestamp),
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
                         "next_timestamp": _time_text(o.next_timestamp),
                         "last_timestamp": _time_text(o.last_timestamp)}
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


def checksum(document: dict) -> str:
    """sha256 over the canonical JSON of everything but the checksum itself, so the YAML's
    layout may vary but no value can change unnoticed."""
    content = {k: v for k, v in document.items() if k != "checksum"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dumps(cp: Checkpoint) -> str:
    """The file's text: the document with one line per partition, the checksum last (a
    truncated file therefore always lacks it)."""
    document = to_document(cp)
    document["checksum"] = checksum(document)
    layout = dict(document)
    layout["topics"] = {
        t: {"partitions": [_Flow(p) for p in v["partitions"]]}
        for t, v in document["topics"].items()
    }
    layout["groups"] = {
        g: {**v, "offsets": {t: [_Flow(o) for o in parts] for t, parts in v["offsets"].items()}}
        for g, v in document["groups"].items()
    }
    layout["schemas"] = {s: _Flow(v) for s, v in document["schemas"].items()}
    layout["connectors"] = {
        c: {**v, "tasks": [_Flow(t) for t in v["tasks"]],
            "offsets": [_Flow(o) for o in v["offsets"]]}
        for c, v in document["connectors"].items()
    }
    return yaml.dump(layout, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=4096)


class FieldReader:
    """Typed access to a loaded document (a checkpoint, or a saved plan) that names the file
    and the field on any problem."""

    def __init__(self, source: str, kind: str = "checkpoint"):
        self.source = source
        self.kind = kind

    def fail(self, where: str, problem: str) -> NoReturn:
        remedy = ("take a new checkpoint or restore this file from a copy"
                  if self.kind == "checkpoint" else f"make the {self.kind} again")
        raise InvalidFileError(
            f"{self.kind} {self.source} is not intact: field {where} {problem}; {remedy}."
        )

    def get(self, data: dict, key: str, where: str):
        if key not in data:
            self.fail(f"{where}{key}", "is missing")
        return data[key]

    def mapping(self, data: dict, key: str, where: str) -> dict:
        value = self.get(data, key, where)
        if not isinstance(value, dict):
            self.fail(f"{where}{key}", "must be a mapping")
        return value

    def items(self, data: dict, key: str, where: str) -> list:
        value = self.get(data, key, where)
        if not isinstance(value, list):
            self.fail(f"{where}{key}", "must be a list")
        return value

    def text(self, data: dict, key: str, where: str, optional: bool = False) -> str | None:
        value = self.get(data, key, where)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            self.fail(f"{where}{key}", "must be a non-empty string")
        return value

    def count(self, data: dict, key: str, where: str) -> int:
        value = self.get(data, key, where)
        if type(value) is not int:
            self.fail(f"{where}{key}", "must be a whole number")
        if value < 0:
            self.fail(f"{where}{key}", f"is negative ({value})")
        return value

    def time(self, data: dict, key: str, where: str, optional: bool = True) -> int | None:
        value = self.get(data, key, where)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not _TIME.match(value):
            self.fail(f"{where}{key}",
                      "must be a UTC time like 2026-11-26T21:00:00.000Z" +
                      (" or null" if optional else ""))
        return parse_time_ms(value)


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
    if not _WAVE.match(wave):
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
        document = yaml.load(text, Loader=_StrictLoader)
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


# --- where checkpoints live ----------------------------------------------------------------

def checkpoint_dir(explicit: Path | str | None, settings: Settings | None) -> Path:
    """--dir, else the profile's checkpoint_dir, else ./checkpoints."""
    if explicit:
        return Path(explicit).expanduser()
    if settings is not None and settings.checkpoint_dir:
        return Path(settings.checkpoint_dir).expanduser()
    return Path("checkpoints")


def check_wave(wave: str) -> str:
    if not _WAVE.match(wave or ""):
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
                  if p.is_dir() and _WAVE.match(p.name) and wave_files(directory, p.name))


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
                entry.update(created_at=_time_text(cp.created_at), cluster_id=cp.cluster_id,
                             note=cp.note, topics=len(cp.topics), groups=len(cp.groups),
                             connectors=len(cp.connectors))
            out.append(entry)
    return out


# --- wave plan files -----------------------------------------------------------------------

@dataclass(frozen=True)
class WaveScope:
    topics: list[str]
    groups: list[str]
    connectors: list[str]


def load_wave_plan(path: Path, wave: str) -> WaveScope:
    """A wave plan file: `waves: {NAME: {topics: [...], groups: [...], connectors: [...]}}`."""
    path = Path(path).expanduser()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
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


# --- capture -------------------------------------------------------------------------------

def wire_schema_id(data: bytes | None) -> int | None:
    """The schema id of a Confluent wire-format payload: magic byte 0, 4-byte big-endian id."""
    if data is not None and len(data) >= 5 and data[0] == 0:
        return int.from_bytes(data[1:5], "big")
    return None


def capture(settings: Settings, wave: str, topics: list[str] = (), groups: list[str] = (),
            connectors: list[str] = (), note: str | None = None) -> Checkpoint:
    """Record the wave's topics, groups (a group's topics are included) and connectors (a
    sink's group and topics are included) as they stand, in batched requests. NotFoundError
    for a named topic, group or connector the cluster or Connect lacks."""
    check_wave(wave)
    if not topics and not groups and not connectors:
        raise UsageError("name at least one --topic, --group or --connector (or --plan).")
    return _capture(settings, wave, list(topics), list(groups), list(connectors), note,
                    strict=True)


def capture_like(settings: Settings, cp: Checkpoint) -> Checkpoint:
    """The live state of a checkpoint's topics, groups and (with a Connect URL) connectors,
    for `diff --live`: one that has gone is simply absent. Keys count as wire format where
    the checkpoint's registry said so, also when no registry is configured now."""
    connectors = list(cp.connectors) if settings.connect_url else []
    return _capture(settings, cp.wave, list(cp.topics), list(cp.groups), connectors,
                    None, strict=False, known_subjects=set(cp.schemas))


def _capture(settings: Settings, wave: str, topic_names: list[str], group_ids: list[str],
             connector_names: list[str], note: str | None, strict: bool,
             known_subjects: set[str] = frozenset()) -> Checkpoint:
    from . import kafka
    from .kafka import metadata
    from .kafka.around import records_around

    admin = kafka.Admin(settings)
    cluster = kafka.cluster_id(admin)
    # Connectors before the groups and watermarks: a sink's offsets then lie within the ends.
    connectors = _connectors_section(settings, connector_names, cluster, strict)
    group_infos, committed = _read_groups(admin, group_ids, strict)
    sink_groups = sorted({c.group for c in connectors.values() if c.group} - set(group_ids))
    if sink_groups:
        infos, offsets = _read_groups(admin, sink_groups, strict=False)
        group_infos.update(infos)
        committed.update(offsets)

    known = metadata.list_topics(admin)
    missing = [t for t in topic_names if t not in known]
    if missing and strict:
        raise NotFoundError(
            f"topic {', '.join(missing)} does not exist on {settings.bootstrap_servers}; "
            "check the name with `ingestctl topics list`."
        )
    names = {t for t in topic_names if t in known}
    names |= {t for c in connectors.values() for t in c.topics if t in known}
    for group, offsets in committed.items():
        for topic in sorted({t for t, _ in offsets} - set(known)):
            log.warning("group %s has offsets for %s, which no longer exists; left out",
                        group, topic)
        names |= {t for t, _ in offsets if t in known}
    tps = [(t, p) for t in sorted(names) for p in sorted(known[t].partitions)]

    marks = metadata.watermarks(admin, tps)
    points: dict[TP, set[int]] = {}
    for tp, (log_start, end) in marks.items():
        if log_start < end:
            points.setdefault(tp, set()).update((log_start, end))
    for offsets in committed.values():
        for tp, offset in offsets.items():
            if tp in marks and marks[tp][0] <= offset <= marks[tp][1]:
                points.setdefault(tp, set()).add(offset)
    around = records_around(settings, points, marks) if points else {}

    registry, subjects = _registry_subjects(settings)
    topics_section = _topics_section(tps, marks, around,
                                     wire_keys={t for t in names
                                                if f"{t}-key" in subjects | known_subjects})
    return Checkpoint(
        wave=wave,
        created_at=time.time_ns() // 1_000_000,
        cluster_id=cluster,
        note=note,
        topics=topics_section,
        groups=_groups_section(group_infos, committed, marks, around),
        schemas=_schemas_section(registry, subjects, topics_section),
        connectors=connectors,
    )


def _read_groups(admin, group_ids: list[str], strict: bool):
    from .kafka import groups as kafka_groups

    infos = kafka_groups.describe_groups(admin, group_ids)
    committed = kafka_groups.committed_offsets(admin, group_ids) if group_ids else {}
    unknown = [g for g in group_ids if infos[g].state == "Dead" and not committed.get(g)]
    if unknown and strict:
        raise NotFoundError(
            f"group {', '.join(unknown)} does not exist on {admin.settings.bootstrap_servers} "
            "(no members, no committed offsets); check the name with `ingestctl groups list`."
        )
    return infos, committed


def _topics_section(tps: list[TP], marks, around, wire_keys: set[str]) -> dict[str, TopicState]:
    """Per partition its offsets, first and last timestamps, and the schema ids of the last
    record's value, and of its key where the topic's keys are in the wire format (`wire_keys`:
    the registry holds `<topic>-key`; a plain binary key, such as a big-endian long below
    2^56, also starts with a zero byte)."""
    topics: dict[str, dict[int, PartitionState]] = {}
    for tp in tps:
        log_start, end = marks[tp]
        first = around.get((tp, log_start), (None, None))[1]
        last = around.get((tp, end), (None, None))[0]
        ids = []
        if last is not None:
            key_id = wire_schema_id(last.key) if tp[0] in wire_keys else None
            ids = sorted({i for i in (key_id, wire_schema_id(last.value)) if i is not None})
        topics.setdefault(tp[0], {})[tp[1]] = PartitionState(
            tp[1], log_start, end,
            first.timestamp if first and first.timestamp >= 0 else None,
            last.timestamp if last and last.timestamp >= 0 else None,
            tuple(ids),
        )
    return {t: TopicState(parts) for t, parts in topics.items()}


def _groups_section(infos, committed, marks, around) -> dict[str, GroupState]:
    out = {}
    for group, info in infos.items():
        offsets: dict[str, dict[int, GroupOffset]] = {}
        for tp, offset in sorted(committed.get(group, {}).items()):
            if tp not in marks:
                continue
            before, at = around.get((tp, offset), (None, None))
            offsets.setdefault(tp[0], {})[tp[1]] = GroupOffset(
                tp[1], offset,
                at.timestamp if at and at.timestamp >= 0 else None,
                before.timestamp if before and before.timestamp >= 0 else None,
            )
        if info.state == "Dead" and not offsets:
            continue  # gone (only in a live capture)
        out[group] = GroupState(info.state, len(info.members), offsets)
    return out


def _registry_subjects(settings: Settings):
    """The configured registry and its subjects: (None, set()) when there is none."""
    if not settings.schema_registry_url:
        return None, set()
    from .schema import Registry

    registry = Registry(settings)
    return registry, set(registry.subjects())


def _schemas_section(registry, subjects: set[str], topics: dict[str, TopicState]) -> dict:
    """The latest id, version and fingerprint of each topic's `<topic>-key` and
    `<topic>-value` subject that the registry holds; empty when no registry is configured.
    One listing of the subjects (taken before), then one request per subject that exists."""
    if registry is None:
        return {}
    wanted = [s for t in sorted(topics) for s in (f"{t}-key", f"{t}-value") if s in subjects]
    return {subject: SchemaVersion(v.id, v.version, v.fingerprint)
            for subject, v in registry.latest_versions(wanted).items()}


def _connectors_section(settings: Settings, names: list[str], cluster: str,
                        strict: bool) -> dict[str, ConnectorState]:
    """connector -> type, class, state, tasks, a sink's group and topics, and its offsets, from
    Kafka Connect (see checkpoint_connectors). A sink's group is recorded in the groups section
    too (with its next/last record times), so `rollback --connector NAME --by-timestamp` can
    place it on another cluster; `rollback --connector` uses the offsets recorded here."""
    return read_connectors(settings, names, cluster, strict)


# --- verify and diff -----------------------------------------------------------------------

def applicability_problems(cp: Checkpoint, settings: Settings) -> list[str]:
    """Why the checkpoint no longer applies to the live cluster, one sentence each: another
    cluster, a topic gone or with another partition count, an offset below log-start, a
    recorded connector that Connect no longer has (when a Connect URL is configured)."""
    from . import kafka
    from .kafka import metadata

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
    from .connect import Connect

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

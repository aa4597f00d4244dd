"""What a replay is: its window (as given and as resolved to offsets), its record selection,
and its identity. Pure logic: the offsets it needs are looked up by the engine and passed in.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field

from ..errors import NotFoundError, RefusedError, UsageError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class WindowSpec:
    """The window as the user gave it: times (epoch ms), or offsets (one for every partition
    or per partition), with an optional partition list. An omitted end means the partition's
    end when the replay is first planned."""

    start_time: int | None = None
    end_time: int | None = None
    start_offset: int | dict[int, int] | None = None
    end_offset: int | dict[int, int] | None = None
    partitions: tuple[int, ...] | None = None

    def validate(self) -> None:
        if self.start_time is not None and self.start_offset is not None:
            raise UsageError("give the window's start by time (--start) or by offsets "
                             "(--start-offset), not both.")
        if self.start_time is None and self.start_offset is None:
            if self.end_time is not None or self.end_offset is not None:
                raise UsageError("the window has an end but no start: add --start TIME or "
                                 "--start-offset N|P:O,….")
            raise UsageError("give a window: --start TIME [--end TIME] or --start-offset N|P:O,… "
                             "[--end-offset N|P:O,… | --end TIME].")
        if self.end_time is not None and self.end_offset is not None:
            raise UsageError("give the window's end by time (--end) or by offsets "
                             "(--end-offset), not both.")
        if self.end_offset is not None and self.start_offset is None:
            raise UsageError("--end-offset needs --start-offset; with --start, end the window "
                             "with --end TIME.")
        if self.start_time is not None and self.end_time is not None \
                and self.end_time <= self.start_time:
            raise UsageError("--end must be after --start (start inclusive, end exclusive).")

    def identity(self) -> dict:
        def offsets(value):
            if isinstance(value, dict):
                return {str(p): o for p, o in sorted(value.items())}
            return value

        return {
            "start": self.start_time, "end": self.end_time,
            "start_offset": offsets(self.start_offset), "end_offset": offsets(self.end_offset),
            "partitions": list(self.partitions) if self.partitions is not None else None,
        }


@dataclass(frozen=True)
class Selection:
    """Which records are copied and which headers are stripped. A record is copied when its
    key matches `key_pattern` (searched, bytes) and, for every header name in
    `header_values`, it carries that header with one of the given values."""

    header_values: dict[str, frozenset[bytes]] = field(default_factory=dict)
    key_pattern: re.Pattern | None = None
    drop_headers: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, filter_headers: list[tuple[str, str]], filter_key: str | None,
              drop_headers: list[str]) -> "Selection":
        values: dict[str, set[bytes]] = {}
        for name, value in filter_headers:
            values.setdefault(name, set()).add(value.encode("utf-8"))
        pattern = None
        if filter_key is not None:
            try:
                pattern = re.compile(filter_key.encode("utf-8"))
            except re.error as exc:
                raise UsageError(
                    f"--filter-key: '{filter_key}' is not a regular expression ({exc})."
                ) from None
        return cls({k: frozenset(v) for k, v in values.items()}, pattern,
                   frozenset(drop_headers))

    @property
    def filters(self) -> bool:
        return bool(self.header_values) or self.key_pattern is not None

    def accepts(self, key: bytes | None, headers: list | None) -> bool:
        if self.key_pattern is not None and (key is None or not self.key_pattern.search(key)):
            return False
        for name, allowed in self.header_values.items():
            if not any(h == name and v in allowed for h, v in headers or ()):
                return False
        return True

    def identity(self) -> dict:
        return {
            "filter_headers": sorted(f"{k}={v.decode('utf-8')}"
                                     for k, vs in self.header_values.items() for v in vs),
            "filter_key": self.key_pattern.pattern.decode("utf-8") if self.key_pattern else None,
            "drop_headers": sorted(self.drop_headers),
        }


def check_replay_id(replay_id: str) -> str:
    if not _ID.match(replay_id):
        raise UsageError(f"--id: '{replay_id}' is not a replay id; use up to 100 letters, digits, "
                         "'.', '_' or '-', starting with a letter or digit.")
    return replay_id


def replay_identity(*, source_cluster: str, source_topic: str, window: WindowSpec,
                    selection: Selection, partitioning: str, target_cluster: str,
                    target_topic: str, dedupe: dict | None = None) -> dict:
    """What makes two runs the same replay. Quota, mode and validation policy are
    deliberately left out: a re-run may change them and still resume. The dedupe header
    and horizon are in (only when given, so a replay without them keeps its id)."""
    identity = {
        "source": [source_cluster, source_topic], "window": window.identity(),
        "selection": selection.identity(), "partitioning": partitioning,
        "target": [target_cluster, target_topic],
    }
    if dedupe is not None:
        identity["dedupe"] = dedupe
    return identity


def derive_replay_id(identity: dict) -> str:
    """A stable id: the same command against the same clusters gives the same id, so
    re-running it resumes."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
    return f"rp-{digest[:16]}"


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or int(m.group(2)) < 1 or int(m.group(1)) >= int(m.group(2)):
        raise UsageError(f"--shard: '{text}' is not a shard; use K/N with 0 <= K < N (e.g. 0/2).")
    return int(m.group(1)), int(m.group(2))


def in_shard(partition: int, shard: tuple[int, int]) -> bool:
    return partition % shard[1] == shard[0]


def plan_window(spec: WindowSpec, topic: str, topic_partitions: list[int],
                log_start: dict[int, int], stable_end: dict[int, int],
                start_at_time: dict[int, int] | None = None,
                end_at_time: dict[int, int] | None = None) -> dict[int, tuple[int, int]]:
    """Resolve the window to (start, end) offsets per partition, end exclusive.

    `stable_end` holds the last stable offsets (read_committed ends), `start_at_time` and
    `end_at_time` the first offset whose timestamp is at or after --start/--end (-1: none).
    """
    known = set(topic_partitions)
    selected = sorted(known)
    if spec.partitions is not None:
        unknown = sorted(set(spec.partitions) - known)
        if unknown:
            raise NotFoundError(f"partition {_list(unknown)} does not exist in {topic} "
                                f"({len(known)} partitions).")
        selected = sorted(set(spec.partitions))
    for name, value in (("--start-offset", spec.start_offset), ("--end-offset", spec.end_offset)):
        if isinstance(value, dict):
            unknown = sorted(set(value) - known)
            if unknown:
                raise NotFoundError(f"{name} names partition {_list(unknown)}, which does not "
                                    f"exist in {topic} ({len(known)} partitions).")
    if isinstance(spec.start_offset, dict):
        selected = [p for p in selected if p in spec.start_offset]
    if isinstance(spec.end_offset, dict):
        outside = sorted(set(spec.end_offset) - set(selected))
        if outside:
            raise UsageError(f"--end-offset names partition {_list(outside)}, which is not in "
                             "the window; give it a start offset too (or drop it).")

    def stable_at(p: int, found: int) -> int:
        return stable_end[p] if found < 0 else min(found, stable_end[p])

    window: dict[int, tuple[int, int]] = {}
    refusals: list[str] = []
    for p in selected:
        if spec.end_time is not None:
            end = stable_at(p, end_at_time[p])
        else:
            end = _offset_for(spec.end_offset, p)
        if spec.start_time is not None:
            start = stable_at(p, start_at_time[p])
            window[p] = (start, end if end is not None else stable_end[p])
            continue
        start = _offset_for(spec.start_offset, p)
        if end is None:
            # Open end: a partition that has not reached the start yet has nothing to copy.
            end = stable_end[p]
            start = min(start, end)
        if start > end:
            if spec.end_time is not None:
                raise RefusedError(
                    f"partition {p}: the start offset {start} lies after --end (the first "
                    f"offset at or after that time is {end}); choose a later --end.")
            raise UsageError(f"partition {p}: the start offset {start} is after the end "
                             f"offset {end}.")
        if start < log_start[p] and start < end:
            refusals.append(f"partition {p}: offset {start} was deleted by retention "
                            f"(log start is {log_start[p]})")
        if end > stable_end[p]:
            refusals.append(f"partition {p}: end offset {end} is beyond the partition's "
                            f"last stable offset {stable_end[p]}")
        window[p] = (start, end)
    if refusals:
        raise RefusedError(
            f"the window of {topic} cannot be replayed as given; move the offsets inside what "
            "the partitions hold (`ingestctl topics describe` shows log-start and end).",
            details=refusals,
        )
    return window


def _offset_for(value: int | dict[int, int] | None, partition: int) -> int | None:
    if isinstance(value, dict):
        return value.get(partition)
    return value


def _list(partitions: list[int]) -> str:
    return ", ".join(str(p) for p in partitions)

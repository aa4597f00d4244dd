"""Translating a consumer group's place from a migration's source cluster to its target, where
a mirror (MirrorMaker 2, or `ingestctl replay`) copied the records under other offsets.

Three ways, as `--translate` names them:

- **exact**: the very record the group was to read next on the source is found on the target.
  The group's next record (the first record at or after its committed offset), or, when it
  was caught up, its last consumed record (the last *record* before the committed offset:
  transaction markers are not records), whose target position + 1 is then the answer. The
  record is found by its timestamp (ListOffsets), then by content among the records from
  there: key, value, headers (without ingestctl's provenance headers) and timestamp, counting
  repeats, so that the N-th identical record on the source maps to the N-th on the target.
  A record copied by `replay` carries its provenance headers and matches by them directly.
  What cannot be translated exactly (the record not on the target yet, or deleted by
  retention on either side) is a problem, never a guess.
- **mm2**: the downstream offset of MirrorMaker 2's last checkpoint for the group and
  partition (ALIAS.checkpoints.internal on the target).
- **timestamp**: the first target offset at or after the next record's timestamp (just after
  the last consumed record's when caught up), as `rollback --by-timestamp` does.

Nothing here changes a cluster; reads go through kafka/."""

import struct
from dataclasses import dataclass, field

from ..config import Settings
from ..parsing import format_time
from ..partitions import TP, name

TRANSLATIONS = ("exact", "mm2", "timestamp")
PROVENANCE = ("ingestctl-source-topic", "ingestctl-source-partition", "ingestctl-source-offset")
# Headers a copier adds of its own, left out when records are compared by content.
OWN_HEADER_PREFIXES = ("ingestctl-",)
_SCAN_CHUNK = 2000


@dataclass(frozen=True)
class TopicMapping:
    """How the source's topic names appear on the target: ALIAS.topic (MM2's default
    replication policy), explicit SRC=DST pairs, or unchanged (identity)."""

    alias: str | None = None
    explicit: tuple[tuple[str, str], ...] = ()

    def target(self, topic: str) -> str:
        mapped = dict(self.explicit)
        if topic in mapped:
            return mapped[topic]
        return f"{self.alias}.{topic}" if self.alias else topic

    def describe(self) -> str:
        if self.explicit:
            return ", ".join(f"{s}={d}" for s, d in self.explicit)
        return f"alias {self.alias} (ALIAS.topic)" if self.alias else "same names"


@dataclass
class Translation:
    """One group partition: where it is on the source and where it goes on the target."""

    group: str
    topic: str
    partition: int
    target_topic: str
    committed: int | None  # on the source; None: the group never committed there
    target: int | None = None
    note: str = ""
    problem: str | None = None
    # the record the translation went by (the next one, or the last consumed when caught up)
    anchor: object = None
    caught_up: bool = False
    target_record: object = None

    @property
    def tp(self) -> TP:
        return (self.topic, self.partition)

    @property
    def target_tp(self) -> TP:
        return (self.target_topic, self.partition)


def content(record) -> tuple:
    """What makes two records the same record: key, value, headers other than the copier's
    own provenance, and timestamp."""
    headers = tuple((k, v) for k, v in record.headers
                    if not k.startswith(OWN_HEADER_PREFIXES))
    return (record.key, record.value, headers, record.timestamp)


def provenance(record) -> tuple[str, int, int] | None:
    """(source topic, partition, offset) that `replay` wrote into a copied record, if any."""
    found = {k: v for k, v in record.headers if k in PROVENANCE}
    if len(found) < len(PROVENANCE):
        return None
    try:
        return (found[PROVENANCE[0]].decode(), int(found[PROVENANCE[1]]),
                int(found[PROVENANCE[2]]))
    except (AttributeError, ValueError, UnicodeDecodeError):
        return None


# -- MirrorMaker 2's checkpoints -----------------------------------------------------------

def checkpoints_topic(alias: str) -> str:
    """Where MM2 writes its checkpoints on the target, under either replication policy."""
    return f"{alias}.checkpoints.internal"


def _string(data: bytes, at: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">h", data, at)
    at += 2
    return data[at:at + length].decode("utf-8"), at + length


def decode_checkpoint(key: bytes, value: bytes) -> tuple[str, TP, int, int] | None:
    """A record of ALIAS.checkpoints.internal: the key is (group: string, topic: string,
    partition: int32) and the value (version: int16, upstream offset: int64, downstream
    offset: int64, metadata: string), in Kafka's protocol encoding (strings with an int16
    length), as MirrorMaker's Checkpoint class writes them. The topic is the target's name.
    Returns (group, target tp, upstream, downstream), None when not decodable."""
    try:
        group, at = _string(key, 0)
        topic, at = _string(key, at)
        (partition,) = struct.unpack_from(">i", key, at)
        (version,) = struct.unpack_from(">h", value, 0)
        if version != 0:
            return None
        upstream, downstream = struct.unpack_from(">qq", value, 2)
    except (struct.error, UnicodeDecodeError, TypeError):
        return None
    return group, (topic, partition), upstream, downstream


def mm2_checkpoints(target: Settings, topic: str) -> dict[tuple[str, TP], tuple[int, int]]:
    """The latest checkpoint per (group, target tp) in MM2's checkpoints topic: (upstream,
    downstream offset)."""
    from .. import kafka
    from ..kafka import metadata, records

    admin = kafka.Admin(target)
    metas = metadata.topics(admin, [topic])  # NotFoundError when MM2 never ran here
    tps = [(topic, p) for p in sorted(metas[topic].partitions)]
    marks = metadata.watermarks(admin, tps)
    read = records.read_ranges(target, {tp: marks[tp] for tp in tps})
    latest: dict[tuple[str, TP], tuple[int, int]] = {}
    for tp in tps:
        for record in read[tp]:
            if record.key is None or record.value is None:
                continue
            decoded = decode_checkpoint(record.key, record.value)
            if decoded:
                group, target_tp, upstream, downstream = decoded
                latest[(group, target_tp)] = (upstream, downstream)
    return latest


# -- exact ---------------------------------------------------------------------------------

@dataclass
class _Side:
    settings: Settings
    admin: object
    bounds: dict[TP, tuple[int, int]] = field(default_factory=dict)  # (log-start, LSO)


def _side(settings: Settings, tps: list[TP]) -> _Side:
    from .. import kafka
    from ..kafka import metadata

    admin = kafka.Admin(settings)
    return _Side(settings, admin, metadata.watermarks(admin, tps, read_committed=True))


def _first_at_or_after(side: _Side, lookups: dict[TP, int]) -> dict[TP, int]:
    from ..kafka import metadata

    found = metadata.list_offsets(side.admin, lookups, read_committed=True,
                                  what="finding offsets for timestamps")
    return {tp: info.offset for tp, info in found.items()}


def _scan(side: _Side, tp: TP, start: int, stop_at: int | None, want):
    """Read tp from `start` in chunks up to `stop_at` (exclusive; default the end) and feed
    each record to want(record); stop when it returns True. Returns the record it stopped at,
    or None."""
    from ..kafka import records

    end = side.bounds[tp][1] if stop_at is None else min(stop_at, side.bounds[tp][1])
    at = start
    while at < end:
        chunk_end = min(end, at + _SCAN_CHUNK)
        for record in records.read_ranges(side.settings, {tp: (at, chunk_end)})[tp]:
            if want(record):
                return record
        at = chunk_end
    return None


def _cut_by_retention(side: _Side, tp: TP, first: int) -> bool:
    """True when the first offset at or after a record's timestamp is the partition's
    log-start and records were deleted below it: the record, or identical ones before it,
    may be among the deleted, so repeats can no longer be counted."""
    log_start = side.bounds[tp][0]
    return first == log_start and log_start > 0


def _locate(source: _Side, target: _Side, stp: TP, ttp: TP, rec) -> tuple[object, str | None]:
    when = format_time(rec.timestamp)
    first_src = _first_at_or_after(source, {stp: rec.timestamp})[stp]
    if _cut_by_retention(source, stp, first_src):
        return None, (f"records up to the first at or after its timestamp {when} were "
                      f"deleted by retention on the source (log-start {source.bounds[stp][0]}):"
                      " identical records before it may be gone, so it cannot be matched "
                      "exactly")
    wanted = content(rec)
    # How many identical records come before it on the source (all share its timestamp, so
    # all lie at or after the first offset at or after that timestamp).
    repeats = 0
    if first_src < rec.offset:
        def count(r):
            nonlocal repeats
            if content(r) == wanted:
                repeats += 1
            return False
        _scan(source, stp, first_src, rec.offset, count)
    if ttp not in target.bounds or target.bounds[ttp][0] >= target.bounds[ttp][1]:
        return None, f"{name(ttp)} holds no record on the target yet"
    first_tgt = _first_at_or_after(target, {ttp: rec.timestamp})[ttp]
    if first_tgt < 0:
        return None, (f"its copy is not on the target yet: no record at or after {when} "
                      "there (the mirror has not copied it)")
    if _cut_by_retention(target, ttp, first_tgt):
        return None, (f"records up to the first at or after its timestamp {when} were "
                      f"deleted by retention on the target (log-start "
                      f"{target.bounds[ttp][0]}): its copy may be gone, so it cannot be "
                      "matched exactly")
    seen = 0

    def match(r):
        nonlocal seen
        origin = provenance(r)
        if origin is not None:
            return origin == (stp[0], stp[1], rec.offset)
        if content(r) == wanted:
            if seen == repeats:
                return True
            seen += 1
        return False

    found = _scan(target, ttp, first_tgt, None, match)
    if found is None:
        extra = (f" (number {repeats + 1} of the identical records at {when})"
                 if repeats else "")
        return None, (f"its copy{extra} is not on the target yet: the mirror has not copied "
                      "it")
    return found, None


def translate(source_settings: Settings, target_settings: Settings,
              committed: dict[str, dict[TP, int]], tps: list[TP], mapping: TopicMapping,
              how: str, alias: str | None = None) -> list[Translation]:
    """Translate every group's committed offset on each of `tps` (source partitions) to the
    target. Partitions a group never committed are returned with committed None and a note."""
    from ..kafka import around

    source = _side(source_settings, tps)
    target_tps = sorted({(mapping.target(t), p) for t, p in tps})
    from .. import kafka
    from ..kafka import metadata

    target_admin = kafka.Admin(target_settings)
    present = metadata.list_topics(target_admin)
    existing = [tp for tp in target_tps if tp[0] in present and tp[1] in present[tp[0]].partitions]
    target = _Side(target_settings, target_admin,
                   metadata.watermarks(target_admin, existing, read_committed=True)
                   if existing else {})

    out: list[Translation] = []
    points: dict[TP, set[int]] = {}
    for group in sorted(committed):
        for tp in sorted(tps):
            t = Translation(group, tp[0], tp[1], mapping.target(tp[0]), committed[group].get(tp))
            out.append(t)
            if t.committed is None:
                t.note = "never committed on the source: stays uncommitted on the target"
                continue
            if t.target_tp not in target.bounds:
                t.problem = f"{name(t.target_tp)} does not exist on the target"
                continue
            log_start, end = source.bounds[tp]
            if t.committed < log_start:
                t.problem = (f"the group's next record (offset {t.committed}) was deleted by "
                             f"retention on the source (log-start {log_start})")
                continue
            points.setdefault(tp, set()).add(min(t.committed, end))
    arounds = around.records_around(source_settings, points, source.bounds) if points else {}

    for t in out:
        if t.committed is None or t.problem:
            continue
        before, at = arounds[(t.tp, min(t.committed, source.bounds[t.tp][1]))]
        if at is not None:
            t.anchor = at
        elif before is not None:
            t.anchor, t.caught_up = before, True
        elif source.bounds[t.tp][0] == 0:
            t.note = "the source partition holds no record yet"
        else:
            t.problem = ("every record before the group's offset was deleted by retention on "
                         "the source, so its place cannot be matched")

    if how == "exact":
        _exact(source, target, out)
    elif how == "timestamp":
        _by_timestamp(target, out)
    elif how == "mm2":
        _mm2(target_settings, alias, out)
    else:
        raise ValueError(how)
    if how != "exact":
        _compare_with_exact(source, target, out)
    return out


def _exact(source: _Side, target: _Side, out: list[Translation]) -> None:
    cache: dict[tuple[TP, int], tuple[object, str | None]] = {}
    for t in out:
        if t.committed is None or t.problem:
            continue
        if t.anchor is None:  # an empty source partition: the target's start
            t.target = target.bounds[t.target_tp][0]
            continue
        key = (t.tp, t.anchor.offset)
        if key not in cache:
            cache[key] = _locate(source, target, t.tp, t.target_tp, t.anchor)
        found, why = cache[key]
        what = ("its last consumed record" if t.caught_up else "the record it was to read "
                "next")
        if found is None:
            t.problem = f"{what} (source offset {t.anchor.offset}): {why}"
            continue
        t.target_record = found
        if t.caught_up:
            t.target = found.offset + 1
            t.note = (f"caught up: after the copy of its last consumed record (source offset "
                      f"{t.anchor.offset} = target {found.offset})")
        else:
            t.target = found.offset
            t.note = f"the very record it was to read next (source offset {t.anchor.offset})"


def _by_timestamp(target: _Side, out: list[Translation]) -> None:
    lookups: dict[TP, int] = {}
    todo = [t for t in out if t.committed is not None and not t.problem]
    found: dict[tuple[TP, int], int] = {}
    for t in todo:
        if t.anchor is None:
            continue
        when = t.anchor.timestamp + (1 if t.caught_up else 0)
        key = (t.target_tp, when)
        if key not in found:
            lookups = {t.target_tp: when}
            found[key] = _first_at_or_after(target, lookups)[t.target_tp]
    for t in todo:
        if t.anchor is None:
            t.target = target.bounds[t.target_tp][0]
            continue
        when = t.anchor.timestamp + (1 if t.caught_up else 0)
        offset = found[(t.target_tp, when)]
        if offset < 0:
            if t.caught_up:
                t.target = target.bounds[t.target_tp][1]
                t.note = f"caught up: nothing after {format_time(t.anchor.timestamp)}: the end"
            else:
                t.problem = (f"no record at or after {format_time(when)} (the next record's "
                             "time) on the target")
            continue
        t.target = offset
        t.note = (f"caught up: first record after {format_time(t.anchor.timestamp)}"
                  if t.caught_up else f"first record at or after {format_time(when)}")


def _mm2(target_settings: Settings, alias: str | None, out: list[Translation]) -> None:
    latest = mm2_checkpoints(target_settings, checkpoints_topic(alias or "source"))
    for t in out:
        if t.committed is None or t.problem:
            continue
        checkpoint = latest.get((t.group, t.target_tp))
        if checkpoint is None:
            t.problem = (f"MirrorMaker 2 has no checkpoint for group {t.group} on "
                         f"{name(t.target_tp)}")
            continue
        upstream, downstream = checkpoint
        t.target = downstream
        t.note = f"MM2 checkpoint: source offset {upstream} -> target {downstream}"
        if upstream != t.committed:
            t.note += (f" (MM2 last saw the group at {upstream}, it is now at {t.committed}: "
                       "the checkpoint is stale)")


def _compare_with_exact(source: _Side, target: _Side, out: list[Translation]) -> None:
    """Say where a timestamp or mm2 translation differs from the exact one: how many records
    the group would read again, or skip."""
    exact = [Translation(t.group, t.topic, t.partition, t.target_topic, t.committed,
                         anchor=t.anchor, caught_up=t.caught_up) for t in out]
    for e, t in zip(exact, out, strict=True):
        if t.problem or t.target is None or t.anchor is None:
            e.problem = "skip"
    _exact(source, target, exact)
    for e, t in zip(exact, out, strict=True):
        if e.problem or e.target is None or t.target is None:
            continue
        if t.target < e.target:
            t.note += (f"; {e.target - t.target} offset(s) before the exact position "
                       f"{e.target}: the group would read those records again")
        elif t.target > e.target:
            t.note += (f"; {t.target - e.target} offset(s) after the exact position "
                       f"{e.target}: the group would skip those records")
        else:
            t.note += "; same as exact"

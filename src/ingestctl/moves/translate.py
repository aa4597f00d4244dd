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


def first_at_or_after(admin, lookups) -> dict[tuple[TP, int], int]:
    """The first offset at or after each (partition, timestamp) of `lookups` (read_committed;
    -1 when there is none). A ListOffsets request names a partition once: one request per
    round, each round asking every partition for one of its timestamps."""
    from ..kafka import metadata

    rounds: list[dict[TP, int]] = []
    taken: dict[TP, int] = {}
    for tp, when in sorted(set(lookups)):
        index = taken.get(tp, 0)
        taken[tp] = index + 1
        if index == len(rounds):
            rounds.append({})
        rounds[index][tp] = when
    found = {}
    for batch in rounds:
        answers = metadata.list_offsets(admin, batch, read_committed=True,
                                        what="finding offsets for timestamps")
        found.update({(tp, when): answers[tp].offset for tp, when in batch.items()})
    return found


class Seek:
    """What a read looks for in a partition's offsets [start, stop): with `skip` None, it
    counts the records identical to `wanted` (every record when `wanted` is None); else it
    finds the record after `skip` identical ones. With `origin` (source topic, partition,
    offset), a record carrying ingestctl's provenance headers matches by them alone."""

    __slots__ = ("count", "found", "origin", "skip", "start", "stop", "wanted")

    def __init__(self, start: int, stop: int, wanted: tuple | None, skip: int | None = None,
                 origin: tuple[str, int, int] | None = None):
        self.start, self.stop, self.wanted = start, stop, wanted
        self.skip, self.origin = skip, origin
        self.count = 0
        self.found = None


_UNSET = object()


def seek_all(settings: Settings, seeks: dict[TP, list[Seek]]) -> None:
    """Run every seek in one read of all partitions (each from its seeks' lowest start to
    their highest stop, until each of its seeks found its record), each record's content
    compared once however many seeks look at it."""
    from ..kafka import records

    pending = {tp: [s for s in mine if s.start < s.stop] for tp, mine in seeks.items()}
    pending = {tp: mine for tp, mine in pending.items() if mine}

    def visit(record) -> bool:
        tp = (record.topic, record.partition)
        offset = record.offset
        same = origin = _UNSET
        left = []
        for seek in pending[tp]:
            if offset >= seek.stop:
                continue
            if offset < seek.start:
                left.append(seek)
                continue
            if seek.origin is not None:
                if origin is _UNSET:
                    origin = provenance(record)
                if origin is not None:
                    if origin == seek.origin:
                        seek.found = record
                    else:
                        left.append(seek)
                    continue
            if seek.wanted is not None:
                if same is _UNSET:
                    same = content(record)
                if same != seek.wanted:
                    left.append(seek)
                    continue
            if seek.skip is not None and seek.count == seek.skip:
                seek.found = record
                continue
            seek.count += 1
            left.append(seek)
        pending[tp] = left
        return not left

    if pending:
        records.scan_ranges(settings, {tp: (min(s.start for s in mine),
                                            max(s.stop for s in mine))
                                       for tp, mine in pending.items()}, visit)


def _cut_by_retention(side: _Side, tp: TP, first: int) -> bool:
    """True when the first offset at or after a record's timestamp is the partition's
    log-start and records were deleted below it: the record, or identical ones before it,
    may be among the deleted, so repeats can no longer be counted."""
    log_start = side.bounds[tp][0]
    return first == log_start and log_start > 0


def _locate_all(source: _Side, target: _Side, wanted: dict[tuple[TP, int], tuple[TP, object]]
                ) -> dict[tuple[TP, int], tuple[object, str | None]]:
    """The copy on the target of each source record {(source tp, offset): (target tp,
    record)}: (the copy, None), or (None, why not). Every record is found by its timestamp,
    then by content among the records from there, counting the identical records before it
    on the source; all records at once: one ListOffsets per side and round, one read per
    side."""
    located: dict[tuple[TP, int], tuple[object, str | None]] = {}
    firsts = first_at_or_after(source.admin, [(stp, rec.timestamp)
                                              for (stp, _), (_, rec) in wanted.items()])
    # How many identical records come before each on the source (all share its timestamp,
    # so all lie at or after the first offset at or after that timestamp).
    repeats: dict[tuple[TP, int], Seek] = {}
    for key, (_, rec) in wanted.items():
        stp = key[0]
        first_src = firsts[(stp, rec.timestamp)]
        if _cut_by_retention(source, stp, first_src):
            located[key] = (None, (
                f"records up to the first at or after its timestamp {format_time(rec.timestamp)}"
                f" were deleted by retention on the source (log-start {source.bounds[stp][0]}):"
                " identical records before it may be gone, so it cannot be matched exactly"))
            continue
        repeats[key] = Seek(first_src, min(rec.offset, source.bounds[stp][1]), content(rec))
    seeks: dict[TP, list[Seek]] = {}
    for (stp, _), seek in repeats.items():
        seeks.setdefault(stp, []).append(seek)
    seek_all(source.settings, seeks)

    on_target = []
    for key in repeats:
        ttp, rec = wanted[key]
        if ttp not in target.bounds or target.bounds[ttp][0] >= target.bounds[ttp][1]:
            located[key] = (None, f"{name(ttp)} holds no record on the target yet")
        else:
            on_target.append(key)
    firsts = first_at_or_after(target.admin, [(wanted[key][0], wanted[key][1].timestamp)
                                              for key in on_target])
    finds: dict[tuple[TP, int], Seek] = {}
    seeks = {}
    for key in on_target:
        (stp, _), (ttp, rec) = key, wanted[key]
        when = format_time(rec.timestamp)
        first_tgt = firsts[(ttp, rec.timestamp)]
        if first_tgt < 0:
            located[key] = (None, f"its copy is not on the target yet: no record at or after "
                                  f"{when} there (the mirror has not copied it)")
        elif _cut_by_retention(target, ttp, first_tgt):
            located[key] = (None, (
                f"records up to the first at or after its timestamp {when} were deleted by "
                f"retention on the target (log-start {target.bounds[ttp][0]}): its copy may "
                "be gone, so it cannot be matched exactly"))
        else:
            finds[key] = Seek(first_tgt, target.bounds[ttp][1], content(rec),
                              skip=repeats[key].count, origin=(stp[0], stp[1], rec.offset))
            seeks.setdefault(ttp, []).append(finds[key])
    seek_all(target.settings, seeks)
    for key, seek in finds.items():
        if seek.found is not None:
            located[key] = (seek.found, None)
            continue
        count, when = repeats[key].count, format_time(wanted[key][1].timestamp)
        extra = f" (number {count + 1} of the identical records at {when})" if count else ""
        located[key] = (None, f"its copy{extra} is not on the target yet: the mirror has not "
                              "copied it")
    return located


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
    wanted: dict[tuple[TP, int], tuple[TP, object]] = {}
    for t in out:
        if t.committed is not None and not t.problem and t.anchor is not None:
            wanted.setdefault((t.tp, t.anchor.offset), (t.target_tp, t.anchor))
    located = _locate_all(source, target, wanted) if wanted else {}
    for t in out:
        if t.committed is None or t.problem:
            continue
        if t.anchor is None:  # an empty source partition: the target's start
            t.target = target.bounds[t.target_tp][0]
            continue
        found, why = located[(t.tp, t.anchor.offset)]
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
    todo = [t for t in out if t.committed is not None and not t.problem]
    found = first_at_or_after(target.admin, [
        (t.target_tp, t.anchor.timestamp + (1 if t.caught_up else 0))
        for t in todo if t.anchor is not None])
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

"""`topics audit`: the event contract of a topic over a bounded window, read once.

What it counts, read-only and read_committed, with the window's end offsets fixed when it
starts (the replay's window planner resolves it):

- duplicates by an idempotency header K: a record is a duplicate when an earlier record of
  the window has the same K value. "Earlier" is the window's own order, partitions ascending
  and offsets ascending within each, so every run of the audit attributes duplicates to the
  same partitions, whatever order the partitions were fetched in. Also: keys with
  duplicates, keys seen on more than one partition (an ordering hazard), the largest number
  of duplicates of one key, records without K, and examples;
- records missing each required header;
- per partition: records, bytes (key + value + header names and values), duplicates, and
  its share of the window's records;
- every count split by the value of a header (`by`): a record counts under its own value,
  a key (keys, cross-partition keys, largest repeat) under its first record's value;
- with a schema registry: schema ids in the Confluent wire format (magic byte 0, 4-byte
  big-endian id) and their records, values not in the wire format, ids the registry lacks.

This module plans the window, reads it and builds the report; audit_scan.py counts.
"""

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..config import Settings
from ..errors import RefusedError, UsageError
from ..parsing import format_time
from ..replay.window import WindowSpec, plan_window
from .audit_scan import Contract, KeyIndex, Scan

BATCH = 1000


# Fetch tuning as the replay's copy loop (kafka/copy.py): without fetch.queue.backoff.ms
# librdkafka pauses fetching for a second each time its 8 MB queue fills.
CONSUMER_TUNING = {"queued.max.messages.kbytes": 8_192, "fetch.wait.max.ms": 100,
                   "fetch.queue.backoff.ms": 50}


REGISTRY_LOOKUPS = 1_000






@dataclass(frozen=True)
class WindowRequest:
    """The window as the user gave it (for the document) and as a WindowSpec; a spec
    without a start means each partition's log-start."""

    spec: WindowSpec
    given: dict
    checkpoint_cluster: str | None = None


def audit(settings: Settings, topic: str, request: WindowRequest, contract: Contract,
          fail_on: str | None = None,
          progress: Callable[[int, int, int], None] | None = None) -> dict:
    """Audit the window of a topic; the JSON document. `progress(offsets read, offsets in
    the window, records)` is called about 4 times a second."""
    from ..kafka import Admin, cluster_id, metadata
    from ..kafka.records import RangeReader

    contract.validate()
    contract.check_fail_on(fail_on)
    registry = _registry(settings)
    admin = Admin(settings)
    meta = metadata.topics(admin, [topic])[topic]
    if request.checkpoint_cluster is not None:
        here = cluster_id(admin)
        if here != request.checkpoint_cluster:
            raise RefusedError(
                f"the checkpoint is from cluster {request.checkpoint_cluster}, but "
                f"{settings.bootstrap_servers} is cluster {here}: its offsets mean nothing "
                "here; audit by time (--start/--end) instead.")
    partitions = sorted(meta.partitions)
    tps = [(topic, p) for p in partitions]
    marks = metadata.watermarks(admin, tps)  # (log-start, last stable offset)
    fixed_at = format_time(time.time_ns() // 1_000_000)
    log_start = {p: marks[(topic, p)][0] for p in partitions}
    stable_end = {p: marks[(topic, p)][1] for p in partitions}
    spec = request.spec
    if spec.start_time is None and spec.start_offset is None:
        spec = replace(spec, start_offset=dict(log_start))
    spec.validate()
    start_at = end_at = None
    if spec.start_time is not None:
        found = metadata.list_offsets(admin, {tp: spec.start_time for tp in tps})
        start_at = {p: found[(topic, p)].offset for p in partitions}
    if spec.end_time is not None:
        found = metadata.list_offsets(admin, {tp: spec.end_time for tp in tps})
        end_at = {p: found[(topic, p)].offset for p in partitions}
    window = plan_window(spec, topic, partitions, log_start, stable_end, start_at, end_at)
    total_offsets = sum(e - s for s, e in window.values())
    if contract.key_header is not None:
        _check_memory(total_offsets)
    try:
        scan = Scan(contract, window, schema_ids=registry is not None)
    except MemoryError:
        raise _too_large(total_offsets, None) from None
    began = time.monotonic()
    next_report = began
    # The read allocates a few short-lived containers per record and makes no reference
    # cycles: the cyclic collector would only walk them (a fifth of the audit's time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with RangeReader(settings, topic, window, **CONSUMER_TUNING) as reader:
            while reader.pending:
                msgs = reader.batch(BATCH)
                if msgs:
                    finished = scan.feed(msgs)
                    if finished:
                        reader.finish(finished)
                if progress is not None and time.monotonic() >= next_report:
                    progress(scan.offsets_read(), total_offsets, scan.total_records)
                    next_report = time.monotonic() + 0.25
    finally:
        if collecting:
            gc.enable()
    duration = time.monotonic() - began
    if progress is not None:
        progress(total_offsets, total_offsets, scan.total_records)
    counts = scan.result()
    doc = {
        "topic": topic,
        "window": {**request.given, "partitions": sorted(window),
                   "offsets": total_offsets, "ends_fixed_at": fixed_at},
        **counts,
        "schemas": _schemas(registry, scan) if registry is not None else None,
        "duration_seconds": round(duration, 3),
        "rate_records_per_second": round(scan.total_records / duration, 1)
        if duration > 0 else None,
    }
    return doc


def _check_memory(offsets: int) -> None:
    """Refuse before reading a window whose key table would not fit in the memory available
    (a MemoryError an hour into the read would help nobody)."""
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        available = int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return
    if KeyIndex.memory_bytes(offsets) > available * 0.8:
        raise _too_large(offsets, available)


def _too_large(offsets: int, available: int | None) -> UsageError:
    need = KeyIndex.memory_bytes(offsets) / 2**30
    have = f", and {available / 2**30:.1f} GiB are available" if available else ""
    return UsageError(
        f"the window holds {offsets:,} offsets: counting duplicates over it needs about "
        f"{need:.1f} GiB for the key table{have}; narrow it (--start/--end, --partitions) or "
        "leave out --idempotency-header.")


def _registry(settings: Settings):
    """The registry client when one is configured, checked to answer before the window is
    read (unreachable: exit 5 at once, not after the read)."""
    if not settings.schema_registry_url:
        return None
    from ..services.registry import RegistryClient

    client = RegistryClient(settings.schema_registry_url, settings.schema_registry_auth,
                            settings.timeout)
    client.subjects()
    return client


def _schemas(registry, scan: Scan) -> dict:
    from ..errors import UnknownSchemaError

    counts = scan.schema_counts()
    ids = []
    unknown = []
    for rank, (schema_id, records) in enumerate(
            sorted(counts.items(), key=lambda item: (-item[1], item[0]))):
        known = None
        if rank < REGISTRY_LOOKUPS:
            try:
                registry.get_schema(schema_id)
                known = True
            except UnknownSchemaError:
                known = False
                unknown.append(schema_id)
        ids.append({"id": schema_id, "records": records, "known": known})
    ids.sort(key=lambda item: item["id"])
    return {
        "registry": registry.url,
        "ids": ids,
        "unknown_ids": sorted(unknown),
        "unknown_id_records": sum(counts[i] for i in unknown),
        "not_wire_format": scan.not_wire,
        "tombstones": scan.tombstones,
        "other_id_records": scan.other_id_records,
    }


def failures(doc: dict, fail_on: str | None) -> str | None:
    """The sentence for --fail-on when what it names was found, else None."""
    if fail_on is None:
        return None
    found = []
    dups = doc["duplicates"]
    if fail_on in ("duplicates", "any") and dups and dups["records"]:
        found.append(f"{dups['records']} duplicate record(s) of {dups['keys']} key(s) by "
                     f"header {dups['header']}")
    if fail_on in ("missing", "any"):
        for header, n in doc["missing_headers"].items():
            if n:
                found.append(f"{n} record(s) without header {header}")
    if not found:
        return None
    return (f"{doc['topic']} breaks its contract in the window: {'; '.join(found)} "
            f"(--fail-on {fail_on}).")


"""`topics peek`: records from a point in a topic, with headers, keys and values as text or
base64, and Avro values decoded through the schema registry on request."""

import base64
from dataclasses import dataclass

from ..config import Settings
from ..errors import InvalidRecordError, NotFoundError, UsageError
from ..kafka import Admin, metadata, records
from ..kafka.records import Record
from ..parsing import format_time
from ..partitions import TP

DEFAULT_PEEK_COUNT = 5


DECODINGS = ("avro",)


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text_or_base64(data: bytes | None) -> tuple[str | None, str | None]:
    if data is None:
        return None, None
    text = _utf8(data)
    if text is not None:
        return text, "utf-8"
    return base64.b64encode(data).decode("ascii"), "base64"


def record_view(record: Record, registry=None) -> dict:
    """A record as peek shows it: UTF-8 text where the bytes decode, else base64 marked as such
    in `key_encoding`, `value_encoding` and `header_encodings`. A header name that occurs more
    than once maps to the list of its values, all base64 when any of them is not UTF-8.

    With a schema.Registry the value is decoded from Avro in the Confluent wire format (see
    _avro_fields)."""
    key, key_encoding = _text_or_base64(record.key)
    value, value_encoding = _text_or_base64(record.value)
    by_name: dict[str, list[bytes | None]] = {}
    for name, raw in record.headers:
        by_name.setdefault(name, []).append(raw)
    headers: dict[str, object] = {}
    header_encodings: dict[str, str] = {}
    for name, raws in by_name.items():
        if any(raw is not None and _utf8(raw) is None for raw in raws):
            header_encodings[name] = "base64"
            shown = [None if raw is None else base64.b64encode(raw).decode("ascii")
                     for raw in raws]
        else:
            shown = [None if raw is None else raw.decode("utf-8") for raw in raws]
        headers[name] = shown if len(shown) > 1 else shown[0]
    view = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": format_time(record.timestamp),
        "key": key,
        "key_encoding": key_encoding,
        "headers": headers,
        "header_encodings": header_encodings,
        "value": value,
        "value_encoding": value_encoding,
    }
    if registry is not None:
        view.update(_avro_fields(record, registry))
    return view


def _avro_fields(record: Record, registry) -> dict:
    """The decoded value (JSON-safe, `value_encoding` "avro") and its schema's id, subject and
    version. A value that does not decode keeps its raw form and gets `decode_error` (one
    sentence) and `decode_error_reason` (a schema.InvalidRecordError reason) instead, so one
    bad record does not hide the others. A tombstone has nothing to decode: schema null."""
    from ..serde.schema import jsonable

    if record.value is None:
        return {"schema": None, "decode_error": None, "decode_error_reason": None}
    try:
        decoded = registry.decode(record.value)
    except InvalidRecordError as exc:
        return {"schema": _schema_ref(registry, record.topic, exc.schema_id),
                "decode_error": exc.message, "decode_error_reason": exc.reason}
    return {"value": jsonable(decoded.value), "value_encoding": "avro",
            "schema": _schema_ref(registry, record.topic, decoded.schema_id),
            "decode_error": None, "decode_error_reason": None}


def _schema_ref(registry, topic: str, schema_id: int | None) -> dict | None:
    """{id, subject, version}: the topic's value subject when the id is registered under it
    (its newest such version), else the first subject that registered it; subject and version
    are null for an id under no subject (or unknown to the registry)."""
    if schema_id is None:
        return None
    found = sorted(registry.versions_of(schema_id))
    own = [sv for sv in found if sv[0] == f"{topic}-value"]
    subject, version = (own[-1] if own else found[0]) if found else (None, None)
    return {"id": schema_id, "subject": subject, "version": version}


@dataclass(frozen=True)
class PeekResult:
    records: list[dict]
    notes: list[str]  # for the human (stderr): where a requested start was moved


def peek(settings: Settings, topic: str, partitions: list[int] | None = None,
         offset: int | None = None, at_ms: int | None = None, last: int | None = None,
         count: int | None = None, decode: str | None = None) -> PeekResult:
    """Up to `count` records of each partition from a start: `offset`, the first record at or
    after `at_ms`, `last` offsets before the end, or (by default) the newest `count`.
    decode="avro" decodes values through the schema registry of the settings."""
    registry = None
    if decode is not None:
        if decode not in DECODINGS:
            raise UsageError(f"--decode: '{decode}' is not one of {', '.join(DECODINGS)}.")
        from ..serde.schema import Registry

        registry = Registry(settings)  # no registry configured: exit 2 before reading
    admin = Admin(settings)
    meta = metadata.topics(admin, [topic])[topic]
    if partitions is None:
        partitions = sorted(meta.partitions)
    missing = [p for p in partitions if p not in meta.partitions]
    if missing:
        raise NotFoundError(
            f"partition {', '.join(map(str, missing))} of topic {topic} does not exist; "
            f"it has partitions 0-{len(meta.partitions) - 1}."
        )
    if count is None:
        count = last if last is not None else DEFAULT_PEEK_COUNT
    if offset is None and at_ms is None and last is None:
        last = count
    tps = [(topic, p) for p in partitions]
    # Read committed records only, up to the last stable offset: beyond it a read would wait
    # for an open transaction.
    marks = metadata.watermarks(admin, tps)
    notes = []
    starts = {}
    if at_ms is not None:
        found = metadata.list_offsets(admin, {tp: at_ms for tp in tps})
        for tp in tps:
            starts[tp] = found[tp].offset if found[tp].offset >= 0 else marks[tp][1]
    for tp in tps:
        log_start, end = marks[tp]
        if offset is not None:
            starts[tp] = max(offset, log_start)
            if offset < log_start:
                notes.append(f"offset {offset} of {topic}[{tp[1]}] is no longer retained; "
                             f"starting at its log-start {log_start}.")
    if last is not None:
        read = _newest_records(settings, {tp: marks[tp] for tp in tps}, last)
        read = {tp: found[:count] for tp, found in read.items()}
    else:
        read = records.read_ranges(settings, {tp: (starts[tp], marks[tp][1]) for tp in tps},
                                   limit_per_partition=count)
    return PeekResult([record_view(r, registry) for tp in tps for r in read[tp]], notes)


def _newest_records(settings: Settings, marks: dict[TP, tuple[int, int]], want: int
                    ) -> dict[TP, list[Record]]:
    """The newest `want` records of each partition. Transaction markers and aborted records
    occupy offsets without being records, so the look-back widens until it holds enough
    records or reaches log-start."""
    result: dict[TP, list[Record]] = {}
    span = want
    pending = dict(marks)
    while pending:
        ranges = {tp: (max(log_start, end - span), end) for tp, (log_start, end) in
                  pending.items()}
        read = records.read_ranges(settings, ranges)
        for tp, found in read.items():
            if len(found) >= want or ranges[tp][0] <= pending[tp][0]:
                result[tp] = found[-want:]
                del pending[tp]
        span *= 4
    return result


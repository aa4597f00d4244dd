"""Avro in the Confluent wire format, decoded against the schema registry.

A value in the wire format is a magic byte 0, the schema id as 4 bytes big-endian, then the
Avro binary encoding of one datum written with that schema. `Registry` fetches schemas by id
(each parsed once and cached by id), reads subjects' versions, and decodes values with
fastavro. A schema's fingerprint is "sha256:" + the SHA-256 of its Parsing Canonical Form, so
two registrations that differ only in docs, aliases, defaults or formatting share it.

A value that cannot be decoded raises InvalidRecordError with a stable `reason` tag (replay
counts and dead-letters by it); a registry that cannot be reached raises ClusterError (exit 5):
that is no property of the record.
"""

import base64
import datetime
import decimal
import io
import json
import struct
import uuid
from dataclasses import dataclass, field

import fastavro
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

from ..config import Settings
from ..errors import InvalidRecordError, UnknownSchemaError, UnknownSubjectError, UsageError
from ..services.registry import FetchedSchema, RegistryClient
from .avro_guard import excessive_count, needs_guard

MAGIC_BYTE = 0
HEADER_SIZE = 5

# InvalidRecordError.reason values
NULL_VALUE = "null-value"
NO_MAGIC_BYTE = "no-magic-byte"
UNKNOWN_SCHEMA_ID = "unknown-schema-id"
NOT_AVRO = "not-avro"
INVALID_SCHEMA = "invalid-schema"
CORRUPT_PAYLOAD = "corrupt-payload"




def parse_wire(value: bytes | None) -> tuple[int, memoryview]:
    """(schema id, Avro payload) of a value in the Confluent wire format."""
    if value is None:
        raise InvalidRecordError(
            "the record has no value (a tombstone), so it carries no schema id.", NULL_VALUE)
    if len(value) < HEADER_SIZE:
        raise InvalidRecordError(
            f"the value is {len(value)} byte(s), shorter than the Confluent wire format's "
            "5-byte header (magic byte 0 and a 4-byte schema id).", NO_MAGIC_BYTE)
    if value[0] != MAGIC_BYTE:
        raise InvalidRecordError(
            f"the value starts with byte {value[0]:#04x}, not the Confluent wire format's "
            "magic byte 0, so no schema-registry serializer wrote it.", NO_MAGIC_BYTE)
    (schema_id,) = struct.unpack_from(">I", value, 1)
    return schema_id, memoryview(value)[HEADER_SIZE:]


def schema_id_of(value: bytes | None) -> int | None:
    """The schema id of a value in the wire format, None for anything else."""
    if value is None or len(value) < HEADER_SIZE or value[0] != MAGIC_BYTE:
        return None
    return struct.unpack_from(">I", value, 1)[0]


def _deduplicate_named(schema, seen: set[str]):
    """An expanded schema names each named type's definition once, later uses by name only
    (as the Parsing Canonical Form requires)."""
    if isinstance(schema, list):
        return [_deduplicate_named(s, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        name = schema["name"]
        if name in seen:
            return name
        seen.add(name)
    out = dict(schema)
    if "fields" in out:
        out["fields"] = [{**f, "type": _deduplicate_named(f["type"], seen)}
                         for f in out["fields"]]
    for key in ("items", "values"):
        if key in out:
            out[key] = _deduplicate_named(out[key], seen)
    if isinstance(kind, dict | list):
        out["type"] = _deduplicate_named(kind, seen)
    return out


def fingerprint(schema: str | dict | list, named_schemas: dict | None = None) -> str:
    """"sha256:" + hex SHA-256 of the schema's Parsing Canonical Form. named_schemas holds the
    named types its references define (as fastavro.parse_schema fills it)."""
    if isinstance(schema, str):
        schema = json.loads(schema)
    if named_schemas:
        expanded = parse_schema(schema, dict(named_schemas), expand=True, _write_hint=False)
        schema = _deduplicate_named(expanded, set())
    canonical = to_parsing_canonical_form(schema)
    return "sha256:" + _fastavro_fingerprint(canonical, "SHA-256")


@dataclass(frozen=True)
class Schema:
    """A registered schema: its id, type and text; for Avro also its fingerprint and the
    parsed form fastavro decodes with."""

    id: int
    schema_type: str
    schema_str: str
    fingerprint: str | None
    parsed: object = field(default=None, repr=False, compare=False)
    error: str | None = None  # why an Avro schema could not be parsed
    guarded: bool = False  # has arrays of items that take no bytes (see avro_guard)


@dataclass(frozen=True)
class SubjectVersion:
    subject: str
    version: int
    id: int
    schema_type: str
    fingerprint: str | None

    def as_dict(self) -> dict:
        """The checkpoint's `schemas` entry: {id, version, fingerprint}."""
        return {"id": self.id, "version": self.version, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Decoded:
    schema_id: int
    value: object  # as fastavro returns it; jsonable() makes it JSON-safe


class Registry:
    """The schema registry of the settings (--schema-registry or the profile), with schemas
    cached by id for the life of the object (ids are immutable in a registry)."""

    def __init__(self, settings: Settings):
        if not settings.schema_registry_url:
            raise UsageError(
                "no schema registry is configured; pass --schema-registry URL or set "
                "schema_registry.url in the profile."
            )
        self._client = RegistryClient(settings.schema_registry_url,
                                      settings.schema_registry_auth, settings.timeout)
        self._schemas: dict[int, Schema] = {}
        self._unknown: dict[int, UnknownSchemaError] = {}  # a replay may meet one id often
        self._versions: dict[int, list[tuple[str, int]]] = {}

    @property
    def url(self) -> str:
        """The registry's URL without credentials."""
        return self._client.url

    def schema(self, schema_id: int) -> Schema:
        """The schema with this id; UnknownSchemaError (exit 4) when the registry lacks it."""
        cached = self._schemas.get(schema_id)
        if cached is None:
            if schema_id in self._unknown:
                raise self._unknown[schema_id]
            try:
                fetched = self._client.get_schema(schema_id)
            except UnknownSchemaError as exc:
                self._unknown[schema_id] = exc
                raise
            cached = self._schemas[schema_id] = self._load(schema_id, fetched)
        return cached

    def _load(self, schema_id: int, fetched: FetchedSchema) -> Schema:
        if fetched.schema_type != "AVRO":
            return Schema(schema_id, fetched.schema_type, fetched.schema_str, None)
        try:
            named: dict = {}
            self._parse_references(fetched, named, set())
            fp = fingerprint(fetched.schema_str, named)
            parsed = parse_schema(json.loads(fetched.schema_str), named)
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException,
                fastavro.schema.UnknownType) as exc:
            return Schema(schema_id, "AVRO", fetched.schema_str, None,
                          error=f"{exc.__class__.__name__}: {exc}")
        return Schema(schema_id, "AVRO", fetched.schema_str, fp, parsed,
                      guarded=needs_guard(parsed))

    def _parse_references(self, fetched: FetchedSchema, named: dict, done: set) -> None:
        """Parse the named types a schema references (depth first) into `named`."""
        for ref in fetched.references:
            if (ref.subject, ref.version) in done:
                continue
            done.add((ref.subject, ref.version))
            version = self._client.get_version(ref.subject, ref.version)
            self._parse_references(version.schema, named, done)
            parse_schema(json.loads(version.schema.schema_str), named)

    def subjects(self) -> list[str]:
        return self._client.subjects()

    def latest(self, subject: str) -> SubjectVersion | None:
        """The subject's latest version as the registry holds it now; None if no subject."""
        try:
            found = self._client.get_version(subject, "latest")
        except UnknownSubjectError:
            return None
        schema = self._schemas.get(found.schema_id) or self._load(found.schema_id,
                                                                  found.schema)
        self._schemas[found.schema_id] = schema
        return SubjectVersion(subject, found.version, found.schema_id, schema.schema_type,
                              schema.fingerprint)

    def latest_versions(self, subjects: list[str]) -> dict[str, SubjectVersion]:
        """The latest version of each subject that exists (e.g. `<topic>-key`/`-value`)."""
        out = {}
        for subject in subjects:
            found = self.latest(subject)
            if found is not None:
                out[subject] = found
        return out

    def versions_of(self, schema_id: int) -> list[tuple[str, int]]:
        """Every (subject, version) under which the schema id is registered (none for an
        unknown id), asked once per id."""
        if schema_id not in self._versions:
            self._versions[schema_id] = self._client.schema_versions(schema_id)
        return self._versions[schema_id]

    def decode(self, value: bytes | None) -> Decoded:
        """Decode a wire-format value; InvalidRecordError says why it cannot be."""
        schema_id, payload = parse_wire(value)
        try:
            schema = self.schema(schema_id)
        except UnknownSchemaError as exc:
            raise InvalidRecordError(exc.message, UNKNOWN_SCHEMA_ID, schema_id) from None
        if schema.schema_type != "AVRO":
            raise InvalidRecordError(
                f"schema id {schema_id} is a {schema.schema_type} schema; only Avro values are "
                "decoded.", NOT_AVRO, schema_id)
        if schema.parsed is None:
            raise InvalidRecordError(
                f"schema id {schema_id} is not a valid Avro schema ({schema.error}).",
                INVALID_SCHEMA, schema_id)
        if schema.guarded:
            problem = excessive_count(schema.parsed, payload)
            if problem is not None:
                raise InvalidRecordError(
                    f"the value does not decode as Avro with schema id {schema_id}: {problem}.",
                    CORRUPT_PAYLOAD, schema_id)
        stream = io.BytesIO(payload)
        try:
            datum = fastavro.schemaless_reader(stream, schema.parsed, None)
        except Exception as exc:  # fastavro signals corrupt input with many exception types
            detail = str(exc) or "the payload ends too early"
            raise InvalidRecordError(
                f"the value does not decode as Avro with schema id {schema_id} "
                f"({exc.__class__.__name__}: {detail}).", CORRUPT_PAYLOAD, schema_id) from None
        left = len(payload) - stream.tell()
        if left:
            raise InvalidRecordError(
                f"the value does not decode as Avro with schema id {schema_id}: {left} byte(s) "
                "are left over after the record, so it was written with another schema.",
                CORRUPT_PAYLOAD, schema_id)
        return Decoded(schema_id, datum)


def jsonable(value):
    """A decoded Avro value as JSON-safe data: bytes as base64 text, decimals and UUIDs as
    strings, dates and times in ISO-8601."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return value

"""replay --validate avro: every value must carry a schema id the registry knows and decode
with that schema; --on-invalid decides what a record that does not gets.

- fail: the shard stops before the first invalid record (exit 6, naming partition and
  offset); what came before is committed, so a re-run resumes there, with any policy.
- skip: the record is not written; it counts as `invalid`.
- dead-letter TOPIC: the record goes, as it was, to TOPIC on the target cluster (in the same
  transaction under exactly-once) with the provenance headers, `ingestctl-invalid-reason`
  (a schema.InvalidRecordError reason) and `ingestctl-invalid-detail` (the sentence)
  (kafka.copy.INVALID_HEADERS); it counts as `invalid`.

A tombstone (no value) is copied: it carries no schema and Avro deserializers pass it on as
null. The policy is not part of the replay id, so a re-run may change it. Schemas come from
the source's registry (--schema-registry or the profile), fetched once per schema id.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ..config import Settings
from ..errors import InvalidRecordError, NotFoundError, UsageError

FORMATS = ("avro",)
POLICIES = ("fail", "skip", "dead-letter")


@dataclass(frozen=True)
class Validation:
    format: str = "avro"
    on_invalid: str = "fail"
    dead_letter_topic: str | None = None

    @classmethod
    def parse(cls, validate: str | None, on_invalid: str | None,
              dead_letter_topic: str | None) -> "Validation | None":
        """The options as given: `--validate avro --on-invalid dead-letter TOPIC`."""
        if validate is None:
            if on_invalid is not None:
                raise UsageError("--on-invalid needs --validate avro.")
            return None
        if validate not in FORMATS:
            raise UsageError(f"--validate: '{validate}' is not one of {', '.join(FORMATS)}.")
        policy = on_invalid or "fail"
        if policy not in POLICIES:
            raise UsageError(f"--on-invalid: '{policy}' is not one of fail, skip, "
                             "dead-letter TOPIC.")
        if (policy == "dead-letter") != (dead_letter_topic is not None):
            raise UsageError("--on-invalid dead-letter takes the dead-letter topic: "
                             "--on-invalid dead-letter TOPIC (and only it takes one).")
        return cls(validate, policy, dead_letter_topic)

    def as_dict(self) -> dict:
        return {"format": self.format, "on_invalid": self.on_invalid,
                "dead_letter_topic": self.dead_letter_topic}


def check(validation: Validation, source: Settings, source_topic: str, source_cluster: str,
          target_topic: str, target_cluster: str, target_topics) -> None:
    """What can be checked before writing: the registry is configured and answers (exit 5
    if not), and the dead-letter topic exists on the target and is neither the target nor the
    source topic."""
    from ..serde.schema import Registry

    Registry(source).subjects()
    topic = validation.dead_letter_topic
    if topic is None:
        return
    if topic == target_topic or (topic == source_topic and source_cluster == target_cluster):
        raise UsageError(f"the dead-letter topic {topic} is the replay's "
                         f"{'target' if topic == target_topic else 'source'} topic; name a "
                         "topic of its own.")
    if topic not in target_topics:
        raise NotFoundError(f"dead-letter topic {topic} does not exist on the target cluster; "
                            "create it first.")


def checker(source: Settings) -> Callable[[bytes | None], object]:
    """problem(value): None for a value that decodes (or a tombstone), else the
    schema.InvalidRecordError (.reason, .message) that says why not. Schemas are fetched once
    per id (an unknown id is asked once too); an unreachable registry raises ClusterError.

    The hot path: a value whose 5-byte header (magic byte, schema id) decoded before is read
    straight with that schema's parsed form; anything else (a new id, a value that fails)
    goes through schema.Registry.decode, which says what is wrong."""
    import io

    import fastavro

    from ..serde.schema import Registry

    registry = Registry(source)
    read = fastavro.schemaless_reader
    new_stream = io.BytesIO
    parsed_by_header: dict[bytes, object] = {}

    def problem(value: bytes | None):
        if value is None:
            return None
        parsed = parsed_by_header.get(value[:5])
        if parsed is not None:
            stream = new_stream(value)
            stream.seek(5)
            try:
                read(stream, parsed, None)
                if stream.tell() == len(value):
                    return None
            except Exception:  # fastavro signals corrupt input with many types: see below
                pass
        try:
            decoded = registry.decode(value)
        except InvalidRecordError as exc:
            return exc
        parsed_by_header[value[:5]] = registry.schema(decoded.schema_id).parsed
        return None

    return problem

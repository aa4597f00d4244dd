"""What a replay adds to each record it writes: the provenance headers, the headers of a
dead-lettered record, the invalid-record policy, and the bytes a record takes once written."""

from collections.abc import Callable
from dataclasses import dataclass

PROVENANCE_HEADERS = ("ingestctl-replay-id", "ingestctl-source-topic",
                      "ingestctl-source-partition", "ingestctl-source-offset")


# On a dead-lettered record: why it is invalid (a tag), and the sentence that says so.
INVALID_HEADERS = ("ingestctl-invalid-reason", "ingestctl-invalid-detail")


@dataclass(frozen=True)
class InvalidPolicy:
    """What the copy does with invalid values (--validate). problem(value) is None for a
    valid value, else an object with .reason (a tag) and .message (a sentence); on_invalid is
    fail (stop before the record), skip, or dead-letter (to dead_letter_topic)."""

    problem: Callable[[bytes | None], object]
    on_invalid: str
    dead_letter_topic: str | None = None


def written_size(record, replay_id: str, drop_headers: frozenset[str]) -> int:
    """The bytes a Record (kafka.records) takes once written by the copy loop: key + value
    + kept headers + provenance headers. Must match copy_batch's accounting."""
    size = (len(record.key or b"") + len(record.value or b"")
            + sum(len(n.encode()) + len(v or b"") for n, v in record.headers
                  if n not in drop_headers))
    provenance = (replay_id, record.topic, str(record.partition), str(record.offset))
    return size + sum(len(n) + len(v.encode()) for n, v in zip(PROVENANCE_HEADERS, provenance,
                                                               strict=True))


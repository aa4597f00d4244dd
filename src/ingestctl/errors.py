"""The error hierarchy. Each class carries the exit code the README documents for it
(section "Exit codes").

Domain code raises these; the CLI's single error boundary turns them into one line on
stderr and the exit code. Messages are complete sentences that say what to do.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    REFUSED = 3
    NOT_FOUND = 4
    CLUSTER = 5
    INCOMPLETE = 6
    INVALID_FILE = 7
    INTERRUPTED = 130


class IngestError(Exception):
    exit_code = ExitCode.INTERNAL

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def __reduce__(self):
        # Pickled as it is (class, arguments, every attribute), whatever its __init__ takes:
        # a replay worker sends its error to the parent process this way.
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type, args: tuple, state: dict) -> "IngestError":
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class UsageError(IngestError):
    exit_code = ExitCode.USAGE


class RefusedError(IngestError):
    exit_code = ExitCode.REFUSED


class NotFoundError(IngestError):
    exit_code = ExitCode.NOT_FOUND


class ClusterError(IngestError):
    exit_code = ExitCode.CLUSTER


class IncompleteError(IngestError):
    exit_code = ExitCode.INCOMPLETE


class InvalidFileError(IngestError):
    exit_code = ExitCode.INVALID_FILE


class SandboxError(ClusterError):
    """The sandbox could not be set up or started (exit 5: no cluster to talk to)."""


class TransactionExpiredError(IncompleteError):
    """This run stalled (paused, swapped out) longer than transaction.timeout.ms: the broker
    aborted its open transaction and fenced its producer. A re-run re-initialises it."""


class FencedError(IncompleteError):
    """Another run with the same transactional id started: this one must stop."""


class InvalidRecordError(IngestError):
    """A value that does not decode. `reason` is one of the reason constants of serde.schema;
    `schema_id` is set once the header was read. Callers that handle records one by one
    (replay --validate, peek) catch it; uncaught it exits 7, like any unreadable input."""

    exit_code = ExitCode.INVALID_FILE

    def __init__(self, message: str, reason: str, schema_id: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.schema_id = schema_id


class UnknownSchemaError(NotFoundError):
    """The registry does not know a schema id (40403)."""

    def __init__(self, message: str, schema_id: int | None):
        super().__init__(message)
        self.schema_id = schema_id


class UnknownSubjectError(NotFoundError):
    """The registry has no such subject (40401) or subject version (40402)."""


class IncompleteReplay(IncompleteError):
    """The replay stopped before its end; `summary` says how far it got."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary

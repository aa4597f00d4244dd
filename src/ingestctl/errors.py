"""The error hierarchy. Each class carries the exit code DESIGN.md documents for it.

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

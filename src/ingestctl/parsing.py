"""Parsers for everything a user types: times, durations, rates, partition lists, -X pairs.

Each raises UsageError naming the argument, so a bad value exits 2 with one sentence.
"""

import re
from datetime import UTC, datetime, timedelta

from .errors import UsageError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*(?:/s)?\s*$", re.IGNORECASE)
_RATE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}


def parse_duration_ms(text: str, arg: str = "duration") -> int:
    """'500ms', '10s', '90m', '2h', '1d' -> milliseconds."""
    m = _DURATION.match(text or "")
    if not m:
        raise UsageError(
            f"{arg}: '{text}' is not a duration; use a number with ms, s, m, h or d (e.g. 90m)."
        )
    return int(float(m.group(1)) * _DURATION_MS[m.group(2)])


def parse_time_ms(text: str, arg: str = "time") -> int:
    """ISO-8601 with an offset or Z, or epoch milliseconds -> epoch milliseconds."""
    raw = (text or "").strip()
    if re.fullmatch(r"\d{10,16}", raw):
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise UsageError(
            f"{arg}: '{text}' is not a time; use ISO-8601 with an offset or Z "
            "(2026-11-26T02:10:00Z) or epoch milliseconds."
        )
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def parse_rate(text: str, arg: str = "--rate") -> float:
    """'5MiB/s', '500KB/s', '2000' -> bytes per second."""
    m = _RATE.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise UsageError(
            f"{arg}: '{text}' is not a rate; use bytes per second such as 5MiB/s, 500KB/s or 2000."
        )
    unit = (m.group(2) or "B").lower()
    return float(m.group(1)) * _RATE_UNITS[unit]


def parse_partitions(text: str, arg: str = "--partitions") -> list[int]:
    """'0,2,5' or '0-3,7' -> sorted unique partition numbers."""
    result: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise UsageError(
                f"{arg}: '{text}' is not a partition list; use numbers and ranges like 0,2,4-7."
            )
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) else low
        result.update(range(low, high + 1))
    return sorted(result)


def parse_partition_offsets(text: str, arg: str) -> int | dict[int, int]:
    """'N' (every partition) or 'P:O,P:O' (per partition)."""
    raw = (text or "").strip()
    if re.fullmatch(r"\d+", raw):
        return int(raw)
    result: dict[int, int] = {}
    for part in raw.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", part)
        if not m or int(m.group(1)) in result:
            raise UsageError(
                f"{arg}: '{text}' is not an offset; use N for every partition or P:O,P:O."
            )
        result[int(m.group(1))] = int(m.group(2))
    return result


def parse_kv(text: str, arg: str = "-X") -> tuple[str, str]:
    """'key=value' -> (key, value); the value may itself contain '='."""
    key, sep, value = (text or "").partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{arg}: '{text}' is not key=value.")
    return key.strip(), value


def format_time(ms: int | None) -> str | None:
    """Epoch milliseconds -> ISO-8601 UTC with milliseconds, the JSON contract's time format."""
    if ms is None or ms < 0:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{ms % 1000:03d}Z"
    )

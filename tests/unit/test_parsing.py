"""Parsers of user input: exact values for known inputs, and properties over generated ones."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestctl.errors import UsageError
from ingestctl.parsing import (
    format_time,
    parse_duration_ms,
    parse_kv,
    parse_partition_offsets,
    parse_partitions,
    parse_rate,
    parse_time_ms,
)


@pytest.mark.parametrize("text,ms", [
    ("500ms", 500), ("10s", 10_000), ("90m", 5_400_000), ("2h", 7_200_000),
    ("1d", 86_400_000), ("1.5s", 1500),
])
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "10", "10x", "-5s", "s", "1 week", "P1D"])
def test_bad_durations_name_the_argument(text):
    with pytest.raises(UsageError, match="--timeout"):
        parse_duration_ms(text, "--timeout")


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["ms", "s", "m", "h", "d"]))
def test_duration_roundtrip(n, unit):
    factor = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[unit]
    assert parse_duration_ms(f"{n}{unit}") == n * factor


def test_times():
    expected = int(datetime(2026, 11, 26, 2, 10, tzinfo=UTC).timestamp() * 1000)
    assert parse_time_ms("2026-11-26T02:10:00Z") == expected
    assert parse_time_ms("2026-11-26T03:10:00+01:00") == expected
    assert parse_time_ms("2026-11-26T02:10:00.000Z") == expected
    assert parse_time_ms(str(expected)) == expected
    assert format_time(expected) == "2026-11-26T02:10:00.000Z"
    assert format_time(expected + 7) == "2026-11-26T02:10:00.007Z"


@pytest.mark.parametrize("text", ["yesterday", "2026-11-26T02:10:00", "2026-13-01T00:00:00Z",
                                  "", "12345"])
def test_bad_times(text):
    with pytest.raises(UsageError, match="--start"):
        parse_time_ms(text, "--start")


@given(st.integers(min_value=0, max_value=253402300799999))
def test_time_format_roundtrip(ms):
    assert parse_time_ms(format_time(ms)) == ms


@pytest.mark.parametrize("text,rate", [
    ("5MiB/s", 5 * 1024 * 1024), ("500KB/s", 500_000), ("2000", 2000), ("1.5MB/s", 1_500_000),
    ("10KiB", 10240), ("1GB/s", 10**9),
])
def test_rates(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "0", "5 MiB/h", "-1", "MiB/s"])
def test_bad_rates(text):
    with pytest.raises(UsageError, match="--rate"):
        parse_rate(text)


def test_partitions():
    assert parse_partitions("0,2,4-6,2") == [0, 2, 4, 5, 6]
    for bad in ["", "a", "3-1", "1,,2", "-1"]:
        with pytest.raises(UsageError, match="--partitions"):
            parse_partitions(bad)


@given(st.sets(st.integers(min_value=0, max_value=5000), min_size=1))
def test_partitions_roundtrip(parts):
    assert parse_partitions(",".join(map(str, parts))) == sorted(parts)


def test_partition_offsets():
    assert parse_partition_offsets("42", "--start-offset") == 42
    assert parse_partition_offsets("0:5, 3:7", "--start-offset") == {0: 5, 3: 7}
    for bad in ["0:5,0:6", "x", "0:-1", "1:"]:
        with pytest.raises(UsageError, match="--start-offset"):
            parse_partition_offsets(bad, "--start-offset")


@given(st.text(alphabet=st.characters(blacklist_characters="=", blacklist_categories=["Cs"]),
               min_size=1).filter(str.strip),
       st.text(alphabet=st.characters(blacklist_categories=["Cs"])))
def test_kv_roundtrip(key, value):
    assert parse_kv(f"{key}={value}") == (key.strip(), value)


@given(st.text(alphabet=st.characters(blacklist_characters="=", blacklist_categories=["Cs"])))
def test_kv_without_equals_is_refused(text):
    with pytest.raises(UsageError, match="-X"):
        parse_kv(text)

"""Replay's pure logic: window resolution, selection, identity, shards, the quota's token
buckets (on an injected clock) and the progress records' format."""

import bisect
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestctl.errors import NotFoundError, RefusedError, UsageError
from ingestctl.replay import progress as prog
from ingestctl.replay.quota import Limiter, Quota, TokenBucket
from ingestctl.replay.window import (
    Selection,
    WindowSpec,
    check_replay_id,
    derive_replay_id,
    in_shard,
    parse_shard,
    plan_window,
    replay_identity,
)

PARTS = [0, 1, 2]
LOG_START = {0: 10, 1: 0, 2: 5}
STABLE_END = {0: 100, 1: 50, 2: 5}


def window(spec, start_at=None, end_at=None):
    return plan_window(spec, "t", PARTS, LOG_START, STABLE_END, start_at, end_at)


# -- window -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    (WindowSpec(), "give a window"),
    (WindowSpec(start_time=1, start_offset=0), "by time .* or by offsets .*, not both"),
    (WindowSpec(start_offset=0, end_time=5, end_offset=9), "end by time .*, not both"),
    (WindowSpec(end_time=5), "an end but no start"),
    (WindowSpec(end_offset=5), "an end but no start"),
    (WindowSpec(start_time=1, end_offset=5), "--end-offset needs --start-offset"),
    (WindowSpec(start_time=5, end_time=5), "after --start"),
])
def test_window_spec_rejects_incomplete_or_mixed_windows(spec, message):
    with pytest.raises(UsageError, match=message):
        spec.validate()


def test_offsets_for_every_partition_end_defaults_to_the_stable_end():
    # partition 2 ends at 5: with an open end it has nothing to copy
    assert window(WindowSpec(start_offset=20)) == {0: (20, 100), 1: (20, 50), 2: (5, 5)}
    assert window(WindowSpec(start_offset=10, partitions=(0, 1))) == {0: (10, 100), 1: (10, 50)}
    with pytest.raises(UsageError, match="partition 0: the start offset 30 is after"):
        window(WindowSpec(start_offset=30, end_offset=20, partitions=(0, 1)))


def test_offsets_per_partition_select_those_partitions():
    spec = WindowSpec(start_offset={0: 10, 1: 3}, end_offset={1: 40})
    assert window(spec) == {0: (10, 100), 1: (3, 40)}
    narrowed = WindowSpec(start_offset={0: 10, 1: 3}, partitions=(1,))
    assert window(narrowed) == {1: (3, 50)}


def test_offsets_outside_what_the_partition_holds_are_refused():
    with pytest.raises(RefusedError) as err:
        window(WindowSpec(start_offset={0: 9, 1: 0}, end_offset={1: 51}))
    assert err.value.details == [
        "partition 0: offset 9 was deleted by retention (log start is 10)",
        "partition 1: end offset 51 is beyond the partition's last stable offset 50",
    ]


def test_unknown_partitions_are_not_found():
    with pytest.raises(NotFoundError, match="partition 7"):
        window(WindowSpec(start_offset=0, partitions=(7,)))
    with pytest.raises(NotFoundError, match="--start-offset names partition 4"):
        window(WindowSpec(start_offset={4: 0}))
    with pytest.raises(UsageError, match="not in the window"):
        window(WindowSpec(start_offset={0: 10}, end_offset={1: 4}))


def test_times_resolve_through_lookups_and_none_found_means_the_stable_end():
    spec = WindowSpec(start_time=1000, end_time=2000)
    got = window(spec, start_at={0: 30, 1: -1, 2: 5}, end_at={0: 60, 1: -1, 2: -1})
    assert got == {0: (30, 60), 1: (50, 50), 2: (5, 5)}
    open_end = WindowSpec(start_time=1000)
    assert window(open_end, start_at={0: 30, 1: 7, 2: -1}) == {0: (30, 100), 1: (7, 50),
                                                               2: (5, 5)}


def test_offsets_start_and_a_time_ends_the_window():
    """--start-offset (or --from-checkpoint) with --end TIME: the end is the first offset at
    or after the time, the stable end where none is."""
    spec = WindowSpec(start_offset={0: 20, 1: 3}, end_time=2000)
    assert window(spec, end_at={0: 60, 1: -1, 2: 5}) == {0: (20, 60), 1: (3, 50)}
    with pytest.raises(RefusedError, match="partition 0: the start offset 20 lies after --end"):
        window(spec, end_at={0: 15, 1: 4, 2: 5})
    with pytest.raises(RefusedError) as err:
        window(WindowSpec(start_offset=4, end_time=2000), end_at={0: 40, 1: 9, 2: -1})
    assert err.value.details == [
        "partition 0: offset 4 was deleted by retention (log start is 10)",
        "partition 2: offset 4 was deleted by retention (log start is 5)"]


@given(st.data())
def test_resolved_offsets_always_lie_within_the_partitions(data):
    count = data.draw(st.integers(1, 5))
    parts = list(range(count))
    log_start = {p: data.draw(st.integers(0, 100)) for p in parts}
    stable = {p: log_start[p] + data.draw(st.integers(0, 100)) for p in parts}
    start = {p: data.draw(st.integers(log_start[p], stable[p])) for p in parts}
    end = {p: data.draw(st.integers(start[p], stable[p])) for p in parts}
    got = plan_window(WindowSpec(start_offset=start, end_offset=end), "t", parts, log_start,
                      stable)
    assert got == {p: (start[p], end[p]) for p in parts}
    # by time: lookups are monotone (a later bound finds a later or equal offset)
    found_start = {p: data.draw(st.sampled_from([-1, start[p]])) for p in parts}
    found_end = {p: -1 if found_start[p] == -1 else data.draw(st.sampled_from([-1, end[p]]))
                 for p in parts}
    got = plan_window(WindowSpec(start_time=1, end_time=2), "t", parts, log_start, stable,
                      found_start, found_end)
    for p, (s, e) in got.items():
        assert log_start[p] <= s <= e <= stable[p]


# -- selection, identity, shards -------------------------------------------------------------------

def test_selection_needs_every_header_name_and_any_of_its_values():
    sel = Selection.parse([("tenant", "acme"), ("tenant", "globex"), ("kind", "refund")],
                          None, [])
    assert sel.accepts(None, [("tenant", b"acme"), ("kind", b"refund")])
    assert sel.accepts(b"k", [("kind", b"refund"), ("tenant", b"globex")])
    assert not sel.accepts(b"k", [("tenant", b"acme")])
    assert not sel.accepts(b"k", [("tenant", b"initech"), ("kind", b"refund")])
    assert not sel.accepts(b"k", None)
    assert not sel.accepts(b"k", [("tenant", None), ("kind", b"refund")])


def test_selection_key_regex_is_searched_and_null_keys_never_match():
    sel = Selection.parse([], r"acct-1\d$", [])
    assert sel.accepts(b"acct-17", None) and sel.accepts(b"eu/acct-12", [])
    assert not sel.accepts(b"acct-170", None) and not sel.accepts(None, None)
    assert not Selection.parse([], None, ["x"]).filters
    with pytest.raises(UsageError, match="--filter-key"):
        Selection.parse([], "(", [])


def identity(**changes):
    base = dict(source_cluster="c1", source_topic="a", window=WindowSpec(start_time=1),
                selection=Selection(), partitioning="preserve", target_cluster="c1",
                target_topic="b")
    return replay_identity(**{**base, **changes})


def test_replay_id_is_stable_and_depends_on_every_part_of_the_identity():
    first = derive_replay_id(identity())
    assert first == derive_replay_id(identity()) and first.startswith("rp-")
    variants = [
        identity(source_cluster="c2"), identity(source_topic="x"),
        identity(window=WindowSpec(start_time=2)),
        identity(window=WindowSpec(start_time=1, end_time=9)),
        identity(window=WindowSpec(start_time=1, partitions=(0,))),
        identity(selection=Selection.parse([("a", "b")], None, [])),
        identity(selection=Selection.parse([], "k", [])),
        identity(selection=Selection.parse([], None, ["h"])),
        identity(partitioning="key"), identity(target_cluster="c2"), identity(target_topic="y"),
    ]
    ids = {derive_replay_id(v) for v in variants}
    assert first not in ids and len(ids) == len(variants)
    # the order filters were given in does not matter
    assert derive_replay_id(identity(selection=Selection.parse(
        [("a", "1"), ("b", "2")], None, ["x", "y"]))) == derive_replay_id(identity(
            selection=Selection.parse([("b", "2"), ("a", "1")], None, ["y", "x"])))


def test_ids_and_shards_are_checked():
    assert check_replay_id("nightly-2026.11") == "nightly-2026.11"
    for bad in ("", "-x", "a b", "a/b", "x" * 101):
        with pytest.raises(UsageError):
            check_replay_id(bad)
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "1", "a/2", "0/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)
    assert [p for p in range(7) if in_shard(p, (1, 3))] == [1, 4]


# -- quota --------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_turns_debt_into_waiting():
    bucket = TokenBucket(1000.0, now=0.0)
    assert bucket.take(500, 0.0) == pytest.approx(0.5)
    assert bucket.take(100, 0.5) == pytest.approx(0.1)
    # an idle second refills at most 50 ms worth
    assert bucket.take(50, 1.6) == pytest.approx(0.0)
    assert bucket.take(100, 1.6) == pytest.approx(0.1)


def simulate(quota: Quota, record_sizes, seconds: float, seed: int):
    """The engine's loop on a fake clock: batches within the limiter's limits (a batch ends
    with the record that reaches the byte limit), some processing time per batch, a commit
    pause every second, and sleeps in slices that overshoot a little, as real sleeps do."""
    rng = random.Random(seed)
    clock = FakeClock()
    limiter = Limiter(quota, clock, max_batch=5000)
    mean = sum(record_sizes) / len(record_sizes)
    events = []
    next_commit = 1.0
    while clock.now < seconds:
        if clock.now >= next_commit:  # a transaction commit pauses the loop for a while
            clock.now += rng.uniform(0, 0.04)
            next_commit += 1.0
        max_records, max_bytes = limiter.batch_limits()
        if max_bytes is None:
            n, size = max_records, max_records * record_sizes[0]
        else:
            size = min(max_records * max(record_sizes),
                       max_bytes + rng.random() * rng.choice(record_sizes))
            n = max(1, round(size / mean))
        events.append((clock.now, size, n))
        clock.now += rng.uniform(0, 0.002) + n * 2e-7
        wait = limiter.wait_after(size, n)
        while wait > 0:
            step = min(wait, 0.1)
            clock.sleep(step + rng.uniform(0, 0.0005))
            wait -= step
    return events


def worst_window_deviation(events, rate: float, index: int, span: float = 10.0) -> float:
    """The largest relative deviation from `rate` over windows of `span` seconds starting
    every quarter second (prefix sums: the simulations hold many events)."""
    times = [e[0] for e in events]
    prefix = [0]
    for e in events:
        prefix.append(prefix[-1] + e[index])
    worst, t = 0.0, times[0]
    while t + span <= times[-1]:
        amount = prefix[bisect.bisect_left(times, t + span)] - prefix[bisect.bisect_left(times, t)]
        worst = max(worst, abs(amount / span - rate) / rate)
        t += 0.25
    return worst


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(20_000, 50_000_000), low=st.integers(80, 400),
       spread=st.integers(0, 4000), seed=st.integers(0, 2**32))
def test_byte_quota_holds_within_two_percent_over_every_10_seconds(rate, low, spread, seed):
    # Records carry at least the provenance headers (~80 bytes); a record larger than a
    # batch's slice of the quota (20 ms) cannot be smoothed below its own size.
    sizes = [s for s in (low, low + spread // 3, low + spread) if s <= rate * 0.02] or [low]
    events = simulate(Quota(bytes_per_second=rate), sizes, 30.0, seed)
    assert worst_window_deviation(events, rate, index=1) <= 0.02


@settings(max_examples=15, deadline=None)
@given(rate=st.floats(50, 200_000), seed=st.integers(0, 2**32))
def test_record_quota_holds_within_two_percent_over_every_10_seconds(rate, seed):
    events = simulate(Quota(records_per_second=rate), [100], 30.0, seed)
    assert worst_window_deviation(events, rate, index=2) <= 0.02


def test_quota_shares_and_estimates():
    quota = Quota(bytes_per_second=1000.0, records_per_second=10.0)
    assert quota.share(4) == Quota(250.0, 2.5)
    assert quota.estimated_seconds(5000, 20) == 5.0
    assert quota.estimated_seconds(100, 50) == 5.0
    assert Quota().estimated_seconds(10, 10) is None


# -- progress records ---------------------------------------------------------------------------

def test_progress_records_round_trip_and_foreign_records_are_skipped():
    plan = {"replay_id": "r1", "mode": "exactly-once", "shards": 1,
            "partitions": [{"partition": 0, "start": 5, "end": 9},
                           {"partition": 1, "start": 0, "end": 4}]}
    state = prog.PartitionState(0, 5, 9, 9, records=3, bytes=300, filtered=1)
    records = {
        prog.plan_key("r1"): prog.encode_plan(plan),
        prog.partition_key("r1", 0): prog.encode_partition("r1", state, "0/1", 0),
        b"replay/r2/plan": b"not json",
        b"replay/r3/plan": b'{"format": "other/v9", "kind": "plan"}',
        b"something-else": b"{}",
        prog.plan_key("r4"): None,
    }
    stored = prog.decode(records)
    assert set(stored) == {"r1"}
    records[prog.plan_key("r5")] = prog.encode_plan({**plan, "replay_id": "r5"})
    assert set(prog.decode(records)) == {"r1", "r5"}
    assert set(prog.decode(records, "r5")) == {"r5"} and prog.decode(records, "r9") == {}
    replay = stored["r1"]
    assert replay.window == {0: (5, 9), 1: (0, 4)}
    assert replay.state(0).done and replay.state(0).records == 3
    assert replay.state(1).next == 0 and not replay.state(1).done
    described = prog.describe(replay)
    assert described["status"] == "incomplete"
    assert (described["records"], described["filtered"], described["remaining_offsets"]) == (
        3, 1, 4)


def test_replay_list_selects_by_status_and_topic_newest_first():
    from ingestctl.replay.status import select

    def row(replay_id, status, source, target, created):
        return {"replay_id": replay_id, "status": status, "source": {"topic": source},
                "target": {"topic": target}, "created_at": created}

    rows = [row("rp-a", "completed", "orders", "orders.repair", "2026-11-01T00:00:00.000Z"),
            row("rp-b", "incomplete", "payments", "payments.repair",
                "2026-11-03T00:00:00.000Z"),
            row("rp-c", "completed", "payments", "orders", "2026-11-02T00:00:00.000Z"),
            {**row("rp-d", "incomplete", None, None, None), "source": None, "target": None}]
    ids = lambda chosen: [r["replay_id"] for r in chosen]  # noqa: E731
    assert ids(select(rows)) == ["rp-b", "rp-c", "rp-a", "rp-d"]
    assert ids(select(rows, status="completed")) == ["rp-c", "rp-a"]
    assert ids(select(rows, topic="orders")) == ["rp-c", "rp-a"]  # as source or as target
    assert ids(select(rows, status="incomplete", topic="payments")) == ["rp-b"]
    assert select(rows, topic="orders.repai") == []


def test_workers_are_suggested_from_the_window_size_on_one_per_core(monkeypatch):
    from ingestctl.replay.plan import WORKERS_PAY_OFF_RECORDS, suggested_workers

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    below = WORKERS_PAY_OFF_RECORDS - 1
    assert suggested_workers(below, 12, None) == 1
    assert suggested_workers(WORKERS_PAY_OFF_RECORDS, 12, None) == 8  # one per core
    assert suggested_workers(WORKERS_PAY_OFF_RECORDS, 3, None) == 3  # no more than partitions
    assert suggested_workers(10 * WORKERS_PAY_OFF_RECORDS, 12, (0, 2)) == 1  # a shard: one
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert suggested_workers(WORKERS_PAY_OFF_RECORDS, 12, None) == 1

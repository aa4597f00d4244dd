"""The dedupe state of `replay --dedupe-header` against a naive model (every written key and
timestamp in a list), including a resume that seeds a fresh state from what was written, in
any order; its settings in the replay's identity; its counts in the progress records."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestctl.errors import UsageError
from ingestctl.replay import progress as prog
from ingestctl.replay.dedupe import Dedupe, seen_keys
from ingestctl.replay.window import Selection, WindowSpec, derive_replay_id, replay_identity

KEYS = [b"", b"a", b"b", b"req-1", b"req-2", bytes(range(8))]

events = st.lists(st.tuples(st.sampled_from(KEYS), st.integers(-5, 10_000)), max_size=80)
horizons = st.one_of(st.none(), st.integers(1, 4_000))


class Naive:
    """The rule as the README states it: a record is a duplicate when a record with the same
    key was written with a timestamp within the horizon of its own (no horizon: ever)."""

    def __init__(self, horizon):
        self.horizon = horizon
        self.written: list[tuple[bytes, int]] = []

    def admit(self, key: bytes, ts: int) -> bool:
        if any(k == key and (self.horizon is None or abs(ts - t) <= self.horizon)
               for k, t in self.written):
            return False
        self.written.append((key, ts))
        return True


@settings(max_examples=300, deadline=None)
@given(events, horizons)
def test_decisions_match_the_naive_model(records, horizon):
    state, model = seen_keys(Dedupe("k", horizon)), Naive(horizon)
    for key, ts in records:
        assert state.admit(key, ts) == model.admit(key, ts)
    assert len(state) == len(model.written)
    if horizon is None:
        assert len(model.written) == len({k for k, _ in records})


@settings(max_examples=300, deadline=None)
@given(events, horizons, st.data())
def test_a_state_seeded_from_what_was_written_decides_as_the_uninterrupted_one(
        records, horizon, data):
    """A resume: a fresh state seeded with the copies an earlier run wrote (read back from
    the target in whatever order its partitions give them) goes on exactly as one that was
    never interrupted."""
    cut = data.draw(st.integers(0, len(records)))
    model = Naive(horizon)
    for key, ts in records[:cut]:
        model.admit(key, ts)
    resumed = seen_keys(Dedupe("k", horizon))
    for key, ts in data.draw(st.permutations(model.written)):
        resumed.add(key, ts)
    for key, ts in records[cut:]:
        assert resumed.admit(key, ts) == model.admit(key, ts)


def test_the_horizon_is_inclusive_and_counts_from_every_written_copy():
    state = seen_keys(Dedupe("k", 100))
    assert state.admit(b"x", 1000)
    assert not state.admit(b"x", 1100) and not state.admit(b"x", 900)  # exactly 100 ms
    assert state.admit(b"x", 1101)  # a second copy
    assert not state.admit(b"x", 1150) and not state.admit(b"x", 1201)  # near either copy
    assert state.admit(b"x", 1202)
    forever = seen_keys(Dedupe("k"))
    assert forever.admit(b"x", 0) and not forever.admit(b"x", 10**12)


def test_settings_are_checked():
    with pytest.raises(UsageError):
        Dedupe("")
    with pytest.raises(UsageError):
        Dedupe("k", 0)


def test_dedupe_settings_change_the_id_and_their_absence_keeps_the_old_one():
    base = dict(source_cluster="c1", source_topic="a", window=WindowSpec(start_time=1),
                selection=Selection(), partitioning="preserve", target_cluster="c1",
                target_topic="b")
    plain = replay_identity(**base)
    assert "dedupe" not in plain  # replays planned before --dedupe-header keep their ids
    ids = {derive_replay_id(replay_identity(**base, dedupe=d.identity()))
           for d in (Dedupe("k"), Dedupe("k2"), Dedupe("k", 60_000), Dedupe("k", 3_600_000))}
    assert len(ids) == 4 and derive_replay_id(plain) not in ids


def test_progress_records_carry_the_dedupe_counts_and_the_shard_record():
    state = prog.PartitionState(0, 0, 10, 10, records=6, filtered=1, duplicates=3,
                                missing_key=2)
    records = {
        prog.partition_key("r1", 0): prog.encode_partition("r1", state, "0/2", 0),
        prog.shard_key("r1", (0, 2)): prog.encode_shard("r1", (0, 2), {0: 7, 2: 0}),
        # a partition record written before dedupe existed
        prog.partition_key("r1", 2): b'{"format": "ingestctl.replay-progress/v1", '
        b'"kind": "partition", "partition": 2, "start": 0, "end": 4, "next": 4, '
        b'"records": 4, "bytes": 40, "filtered": 0, "invalid": 0}',
    }
    stored = prog.decode(records)["r1"]
    assert stored.shards == {"0/2": {"dedupe_from": {0: 7, 2: 0}}}
    assert (stored.state(0).duplicates, stored.state(0).missing_key) == (3, 2)
    assert (stored.state(2).duplicates, stored.state(2).missing_key) == (0, 0)
    described = prog.describe(stored)
    assert (described["duplicates"], described["missing_key"]) == (3, 2)
    assert described["records"] + described["filtered"] + described["invalid"] + described[
        "duplicates"] == described["window_records"]

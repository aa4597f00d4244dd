"""The pure offset planners shared by rollback and groups reset: no broker, fast."""

from hypothesis import given
from hypothesis import strategies as st

from ingestctl.moves.drift import drift
from ingestctl.moves.plan import TopicFacts
from ingestctl.moves.planners import (
    Bounds,
    by_timestamp_wanted,
    place,
    place_all,
    reset_wanted,
    timestamp_to_find,
)

TP = ("payments", 3)


@st.composite
def bounds(draw):
    log_start = draw(st.integers(0, 10**6))
    return Bounds(log_start, log_start + draw(st.integers(0, 10**6)))


currents = st.one_of(st.none(), st.integers(0, 3 * 10**6))


@given(bounds(), currents, st.integers(0, 3 * 10**6))
def test_place_refuses_or_keeps_the_target_without_clamping(b, current, wanted):
    move, problem = place(TP, current, wanted, b, allow_clamp=False)
    inside = b.log_start <= wanted <= b.end
    assert (move is not None) == inside and (problem is None) == inside
    if inside:
        assert move.target == wanted and "clamped" not in move.note
        assert move.delta == (None if current is None else current - wanted)
        assert ("unchanged" in move.note) == (current == wanted)
        assert ("no committed offset yet" in move.note) == (current is None)
    else:
        assert "payments[3]" in problem and str(wanted) in problem
        assert ("below the log-start" in problem) == (wanted < b.log_start)


@given(bounds(), currents, st.integers(0, 3 * 10**6))
def test_place_with_clamp_lands_on_the_nearest_retained_offset(b, current, wanted):
    move, problem = place(TP, current, wanted, b, allow_clamp=True)
    assert problem is None
    assert move.target == min(max(wanted, b.log_start), b.end)
    assert ("clamped" in move.note) == (move.target != wanted)
    assert move.changes == (current != move.target)


def test_place_all_keeps_partition_order_and_collects_every_refusal():
    b = {("t", p): Bounds(10, 20) for p in range(4)}
    moves, problems = place_all({("t", 3): 15, ("t", 0): 5, ("t", 1): 25, ("t", 2): 20},
                                {("t", 2): 20}, b, allow_clamp=False)
    assert [(m.partition, m.target, m.note) for m in moves] == \
        [(2, 20, "unchanged"), (3, 15, "no committed offset yet")]
    assert problems == ["t[0]: target 5 is below the log-start 10 (those records were deleted).",
                        "t[1]: target 25 is above the end 20 (no such record yet)."]


TPS = [("t", 0), ("t", 1)]
BOUNDS = {("t", 0): Bounds(5, 50), ("t", 1): Bounds(0, 8)}


def test_reset_kinds():
    current = {("t", 0): 30}
    assert reset_wanted("to-earliest", None, TPS, current, BOUNDS) == \
        ({("t", 0): 5, ("t", 1): 0}, [])
    assert reset_wanted("to-latest", None, TPS, current, BOUNDS) == \
        ({("t", 0): 50, ("t", 1): 8}, [])
    assert reset_wanted("to-offset", 7, TPS, current, BOUNDS) == \
        ({("t", 0): 7, ("t", 1): 7}, [])
    wanted, problems = reset_wanted("shift-by", -4, TPS, current, BOUNDS)
    assert wanted == {("t", 0): 26}
    assert problems == ["t[1]: the group has no committed offset to shift; use --to-offset, "
                        "--to-datetime, --to-earliest or --to-latest."]
    at = 1_795_000_000_000
    wanted, problems = reset_wanted("to-datetime", at, TPS, current, BOUNDS,
                                    {("t", 0): 12, ("t", 1): -1}, now_ms=at + 1)
    assert wanted == {("t", 0): 12}
    assert problems == ["t[1]: no record at or after 2026-11-18T11:06:40.000Z (its end is 8)."]
    assert reset_wanted("to-datetime", at, TPS, current, BOUNDS, None, now_ms=at - 1) == \
        ({}, ["the time 2026-11-18T11:06:40.000Z is in the future; nothing is at or after it "
              "yet."])


@given(st.dictionaries(st.sampled_from(TPS), st.integers(0, 100)), st.integers(-200, 200))
def test_shift_by_moves_exactly_the_committed_partitions(current, shift):
    wanted, problems = reset_wanted("shift-by", shift, TPS, current, BOUNDS)
    assert wanted == {tp: o + shift for tp, o in current.items()}
    assert len(problems) == len(TPS) - len(current)


def test_timestamp_to_find():
    assert timestamp_to_find(1000, 900) == 1000
    assert timestamp_to_find(None, 900) == 901
    assert timestamp_to_find(None, None) is None


def test_by_timestamp_wanted():
    recorded = {("t", 0): (1000, 990), ("t", 1): (None, 2000), ("t", 2): (None, 3000),
                ("t", 3): (None, None), ("t", 4): (5000, None), ("t", 5): (7000, 7000)}
    found = {("t", 0): 17, ("t", 1): 40, ("t", 2): -1, ("t", 3): -1, ("t", 4): -1,
             ("t", 5): 3}
    b = {tp: Bounds(0, 99) for tp in recorded}
    wanted, notes, problems = by_timestamp_wanted(recorded, found, b)
    assert wanted == {("t", 0): 17, ("t", 1): 40, ("t", 2): 99, ("t", 5): 3}
    assert notes[("t", 1)].startswith("caught up") and notes[("t", 2)].startswith("caught up")
    assert "share this timestamp" in notes[("t", 5)] and "share" not in notes[("t", 0)]
    assert [p.split(":")[0] for p in problems] == ["t[3]", "t[4]"]
    assert "neither the next nor the last" in problems[0]
    assert "no record at or after" in problems[1]


def test_drift_names_every_change_and_nothing_else():
    states = {"g": "Empty"}
    current = {"g": {("t", 0): 5, ("t", 1): None}}
    targets = {"g": {("t", 0): 2, ("t", 1): 3}}
    b = {("t", 0): Bounds(0, 10), ("t", 1): Bounds(0, 3)}
    topics = {"t": TopicFacts("id-1", 2)}
    assert drift(states, {"g": "Empty"}, current, {"g": {("t", 0): 5}}, b, dict(b), targets,
                 topics, dict(topics)) == []
    # New records, and log-start moving while the targets stay retained: not drift.
    assert drift(states, {"g": "Empty"}, current, {"g": {("t", 0): 5}}, b,
                 {("t", 0): Bounds(2, 900), ("t", 1): Bounds(3, 4)}, targets, topics,
                 dict(topics)) == []
    problems = drift(states, {"g": "Stable"}, current,
                     {"g": {("t", 0): 6, ("t", 1): 2}},
                     b, {("t", 0): Bounds(4, 12)}, targets, topics, {"t": TopicFacts("id-2", 1)})
    assert problems == [
        "group g was Empty, now Stable.",
        "group g t[0]: committed offset was 5, now 6.",
        "group g t[1]: committed offset was None, now 2.",
        "topic t was recreated (deleted and created again) since the plan was made: its topic "
        "id was id-1, now id-2.",
        "topic t had 2 partitions when planned, now 1 (removed 1).",
        "t[1] no longer exists.",
        "group g t[0]: target 2 is now below the log-start 4 (those records were deleted).",
    ]
    # A plan file without topic facts: offsets tell a recreated or truncated topic.
    assert drift(states, {"g": "Empty"}, current, {"g": {("t", 0): 5}}, b,
                 {("t", 0): Bounds(0, 1), ("t", 1): Bounds(0, 3)}, targets) == [
        "t[0]: its end went down from 10 to 1, so the topic was recreated or truncated since "
        "the plan was made.",
        "group g t[0]: target 2 is now past the end 1."]
    assert drift(states, {"g": "Empty"}, current, {"g": {("t", 0): 5}},
                 {("t", 0): Bounds(4, 10)}, {("t", 0): Bounds(0, 10)}) == [
        "t[0]: its log-start went down from 4 to 0, so the topic was recreated since the plan "
        "was made."]
    assert drift(states, {"g": "Empty"}, current, {"g": {("t", 0): 5}}, b, {}, targets,
                 topics, {}) == ["topic t no longer exists."]

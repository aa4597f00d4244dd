"""The connectors section of checkpoints: its round trip through the file format (property
test), damaged sections rejected with file and field (exit 7), the diff of connectors, and,
on a real Kafka Connect worker, `checkpoint create --connector`/wave plans recording a sink
and a source connector, the refusals, and `diff --live`."""

import dataclasses
import json
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.connectutil import FILE_SINK, FILE_SOURCE, connector, offsets_of, wait_for
from support.kafkautil import create_topic, produce
from support.names import unique
from support.strategies import checkpoints, names, offsets, texts

from ingestctl import checkpoints as cps
from ingestctl.checkpoints.connectors import diff_connectors
from ingestctl.errors import ExitCode, InvalidFileError
from ingestctl.files import documents
from ingestctl.services.connect import ConnectorStatus, TaskStatus

STATES = ["RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED", "RESTARTING"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=6)
json_maps = st.dictionaries(st.text(max_size=8), json_values, max_size=3)


@st.composite
def connector_states(draw):
    kind = draw(st.sampled_from(["sink", "source", None]))
    tasks = tuple(TaskStatus(i, draw(st.sampled_from(STATES)), draw(st.none() | texts))
                  for i in sorted(draw(st.sets(st.integers(0, 20), max_size=3))))
    if kind == "sink":
        tps = draw(st.lists(st.tuples(names, st.integers(0, 50)), unique=True, max_size=4))
        entries = tuple({"partition": {"kafka_topic": t, "kafka_partition": p},
                         "offset": {"kafka_offset": draw(offsets)}} for t, p in tps)
        group, topics = draw(texts), tuple(draw(st.lists(names, max_size=2)))
    else:
        partitions = draw(st.lists(json_maps, max_size=3,
                                   unique_by=lambda m: json.dumps(m, sort_keys=True)))
        entries = tuple({"partition": p, "offset": draw(st.none() | json_maps)}
                        for p in partitions)
        group, topics = None, ()
    return recorded("", kind, draw(st.none() | texts), draw(st.sampled_from(STATES)), tasks,
                    group, topics, entries)


def recorded(name, kind, connector_class, state, tasks, group, topics, offsets):
    """A connector as a checkpoint records it."""
    return ConnectorStatus(name, kind, state, tasks, connector_class=connector_class,
                           group=group, topics=topics, offsets=offsets)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checkpoints(), st.dictionaries(texts, connector_states(), max_size=3))
def test_round_trip_with_connectors(cp, connectors):
    connectors = {name: dataclasses.replace(c, name=name) for name, c in connectors.items()}
    cp = cps.Checkpoint(cp.wave, cp.created_at, cp.cluster_id, cp.note, cp.topics, cp.groups,
                        cp.schemas, connectors)
    assert cps.loads(cps.dumps(cp)) == cp


def sample() -> cps.Checkpoint:
    sink = recorded(
        "s", "sink", FILE_SINK, "STOPPED", (TaskStatus(0, "RUNNING", "w1:8083"),
                                       TaskStatus(1, "FAILED", None)),
        "connect-s", ("t",),
        ({"partition": {"kafka_topic": "t", "kafka_partition": 0},
          "offset": {"kafka_offset": 1100}},
         {"partition": {"kafka_topic": "t", "kafka_partition": 1},
          "offset": {"kafka_offset": 900}}))
    source = recorded("src", "source", FILE_SOURCE, "RUNNING", (TaskStatus(0, "RUNNING"),), None,
                            (), ({"partition": {"filename": "/in.txt"},
                                  "offset": {"position": 6}},))
    return cps.Checkpoint("wave-3", 1795734000123, "Jc9t2abc", None, {}, {},
                          connectors={"s": sink, "src": source})


def _rewrite(path, edit) -> None:
    """Edit the loaded document and write it back with a correct checksum, as a buggy writer
    would: the field checks (not the checksum) must catch it."""
    document = yaml.safe_load(path.read_text())
    edit(document["connectors"])
    document["checksum"] = documents.checksum(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


DAMAGE = {
    "negative-offset": (lambda c: c["s"]["offsets"][0]["offset"].update(kafka_offset=-1),
                        r"field connectors\.s\.offsets\[0\]\.offset\.kafka_offset is negative"),
    "missing-topic": (lambda c: c["s"]["offsets"][0]["partition"].pop("kafka_topic"),
                      r"field connectors\.s\.offsets\[0\]\.partition\.kafka_topic is missing"),
    "repeated-partition": (
        lambda c: c["s"]["offsets"][1]["partition"].update(kafka_partition=0),
        r"field connectors\.s\.offsets\[1\]\.partition repeats t\[0\]"),
    "mistyped-partition": (
        lambda c: c["s"]["offsets"][0]["partition"].update(kafka_partition="0"),
        r"field connectors\.s\.offsets\[0\]\.partition\.kafka_partition must be a whole"),
    "unknown-type": (lambda c: c["s"].update(type="mirror"),
                     r"field connectors\.s\.type \('mirror'\) must be sink, source or null"),
    "repeated-task": (lambda c: c["s"]["tasks"][1].update(id=0),
                      r"field connectors\.s\.tasks\[1\]\.id repeats task 0"),
    "sink-without-group": (lambda c: c["s"].update(group=None),
                           r"field connectors\.s\.group must name the sink's consumer group"),
    "missing-state": (lambda c: c["src"].pop("state"), r"field connectors\.src\.state is missing"),
    "source-offset-not-a-mapping": (
        lambda c: c["src"]["offsets"][0].update(offset=[6]),
        r"field connectors\.src\.offsets\[0\]\.offset must be a mapping or null"),
    "not-a-mapping": (lambda c: c.update(src=["RUNNING"]),
                      r"field connectors\.src must be a connector name mapped to its state"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_connectors_section_exits_7_naming_the_field(tmp_path, cli, kind):
    path = cps.write(sample(), tmp_path)
    assert cps.load(path) == sample()
    edit, expected = DAMAGE[kind]
    _rewrite(path, edit)
    with pytest.raises(InvalidFileError) as caught:
        cps.load(path)
    assert str(path) in caught.value.message
    assert re.search(expected, caught.value.message), caught.value.message
    result = cli("checkpoint", "show", path, "--dir", tmp_path)
    assert result.code == ExitCode.INVALID_FILE and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_a_hand_edited_connector_state_fails_the_checksum(tmp_path):
    path = cps.write(sample(), tmp_path)
    text = path.read_text()
    assert text.count("state: STOPPED") == 1
    path.write_text(text.replace("state: STOPPED", "state: RUNNING"))
    with pytest.raises(InvalidFileError, match="field checksum does not match"):
        cps.load(path)


def test_diff_connectors():
    before = sample().connectors
    after = {
        "s": recorded("s", "sink", FILE_SINK, "RUNNING", (TaskStatus(0, "RUNNING"),),
                            "connect-s", ("t",),
                            ({"partition": {"kafka_topic": "t", "kafka_partition": 0},
                              "offset": {"kafka_offset": 1150}},
                             {"partition": {"kafka_topic": "t", "kafka_partition": 2},
                              "offset": {"kafka_offset": 5}})),
        "new": recorded("new", "source", None, "PAUSED", (), None, (), ()),
    }
    changes = {c["connector"]: c for c in diff_connectors(before, after)}
    assert sorted(changes) == ["new", "s", "src"]
    s = changes["s"]
    assert (s["from_state"], s["to_state"]) == ("STOPPED", "RUNNING")
    assert s["from_tasks"] == [{"id": 0, "state": "RUNNING"}, {"id": 1, "state": "FAILED"}]
    assert s["to_tasks"] == [{"id": 0, "state": "RUNNING"}]
    assert [(p["partition"], p["from_offset"], p["to_offset"], p["consumed"])
            for p in s["partitions"]] == [(0, 1100, 1150, 50), (1, 900, None, None),
                                          (2, None, 5, None)]
    assert (changes["src"]["to_state"], changes["src"]["to_tasks"]) == (None, None)
    assert changes["src"]["source_offsets_changed"] == [
        {"partition": {"filename": "/in.txt"}, "from": {"position": 6}, "to": None}]
    assert (changes["new"]["from_state"], changes["new"]["to_state"]) == (None, "PAUSED")
    assert diff_connectors(before, before)[0]["partitions"][0]["consumed"] == 0


# --- on a real Kafka Connect worker --------------------------------------------------------

@pytest.fixture(scope="module")
def worker(services):
    return services.connect()


def test_wave_plan_records_a_sink_and_a_source(cli, worker, tmp_path, monkeypatch):
    topic, sink, source = unique("cp-topic"), unique("cp-sink"), unique("cp-source")
    directory, source_file = tmp_path / "cps", tmp_path / "in.txt"
    source_file.write_text("alpha\nbeta\n")  # 11 bytes
    create_topic(worker.bootstrap, topic, partitions=2)
    produce(worker.bootstrap, topic, [{"partition": 1, "value": b"x"} for _ in range(3)])
    plan = tmp_path / "waves.yaml"
    plan.write_text(f"waves:\n  wave-1:\n    connectors: [{sink}, {source}]\n")
    opts = ["--connect-url", worker.url, "-b", worker.bootstrap, "--timeout", "30"]
    with connector(worker, sink, {"connector.class": FILE_SINK, "topics": topic,
                                  "file": str(tmp_path / "out.txt")}), \
            connector(worker, source, {"connector.class": FILE_SOURCE, "topic": topic,
                                       "file": str(source_file)}) as connect:
        # The source's two lines land on one partition, the sink delivers all five.
        wait_for("the source's offsets", lambda: connect.offsets(source) == [
            {"partition": {"filename": str(source_file)}, "offset": {"position": 11}}])
        wait_for("the sink's offsets", lambda: sum(offsets_of(worker, sink).values()) == 5)
        committed = offsets_of(worker, sink)

        created = cli(*opts, "checkpoint", "create", "wave-1", "--plan", plan,
                      "--connector", sink, "--dir", directory, "-o", "json")
        assert created.code == 0, created.stderr
        data = created.json()
        assert sorted(data["connectors"]) == sorted([sink, source])
        recorded = data["connectors"][source]
        assert (recorded["type"], recorded["class"], recorded["state"]) == (
            "source", FILE_SOURCE, "RUNNING")
        assert (recorded["group"], recorded["topics"]) == (None, [])
        assert recorded["offsets"] == [{"partition": {"filename": str(source_file)},
                                        "offset": {"position": 11}}]
        assert {(o["partition"]["kafka_topic"], o["partition"]["kafka_partition"]):
                o["offset"]["kafka_offset"] for o in data["connectors"][sink]["offsets"]} == \
            committed
        assert list(data["groups"]) == [f"connect-{sink}"]
        assert list(data["topics"]) == [topic]
        assert cps.load(data["path"]).connectors[sink].sink_offsets() == committed

        monkeypatch.setenv("COLUMNS", "400")  # no folding of the table's cells
        shown = cli(*opts, "checkpoint", "show", "wave-1", "--dir", directory)
        assert shown.code == 0 and f"connect-{sink}" in shown.stdout
        assert f"{topic}[1]" in shown.stdout and '{"position": 11}' in shown.stdout
        listed = cli("checkpoint", "list", "--dir", directory, "-o", "json").json()
        assert listed[0]["connectors"] == 2

        # --live: connectors compared with a Connect URL, left out (and said so) without.
        live = cli(*opts, "checkpoint", "diff", "wave-1", "--live", "--dir", directory,
                   "-o", "json")
        assert live.code == 0, live.stderr
        states = {c["connector"]: (c["from_state"], c["to_state"])
                  for c in live.json()["connectors"]}
        assert states == {sink: ("RUNNING", "RUNNING"), source: ("RUNNING", "RUNNING")}
        blind = cli("-b", worker.bootstrap, "checkpoint", "diff", "wave-1", "--live", "--dir",
                    directory, "-o", "json")
        assert blind.code == 0, blind.stderr
        assert blind.json()["connectors"] == [] and blind.json()["connectors_compared"] is False
        assert "connectors not compared: no Kafka Connect URL" in blind.stderr

        # A source connector's offsets are recorded, not rolled back.
        refused = cli(*opts, "rollback", "--connector", source, "--to-checkpoint", "wave-1",
                      "--dir", directory)
        assert refused.code == ExitCode.REFUSED
        assert "moves a sink connector's offsets only" in refused.stderr


def test_create_refusals_write_nothing(cli, worker, second_bootstrap, tmp_path):
    directory = tmp_path / "cps"
    absent = unique("absent")
    missing = cli("--connect-url", worker.url, "-b", worker.bootstrap, "checkpoint", "create",
                  "w", "--connector", absent, "--dir", directory)
    assert missing.code == ExitCode.NOT_FOUND
    assert f"connector {absent} does not exist on Kafka Connect" in missing.stderr

    no_url = cli("-b", worker.bootstrap, "checkpoint", "create", "w", "--connector", absent,
                 "--dir", directory)
    assert no_url.code == ExitCode.USAGE and "--connect-url" in no_url.stderr

    other = cli("--connect-url", worker.url, "-b", second_bootstrap, "checkpoint", "create",
                "w", "--connector", absent, "--dir", directory)
    assert other.code == ExitCode.REFUSED
    assert "works against Kafka cluster" in other.stderr and "-b" in other.stderr
    for result in (missing, no_url, other):
        assert result.stdout == "" and "Traceback" not in result.stderr
    assert not directory.exists() or cps.waves(directory) == []

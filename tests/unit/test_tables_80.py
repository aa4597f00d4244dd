"""Every list, describe, show, status and plan table in an 80-column terminal, with long
names: identifiers, states, numbers and times are never split across lines (times may take
a documented shorter form), free text gives way with an ellipsis, and JSON keeps it all.

The view builders' output goes through the real printer (render.emit) at COLUMNS=80; a few
commands run for real against the broker."""

import json

import pytest
from support.tables import WIDTH, check

from ingestctl.cli import checkpoint_views, render, replay_views, views

TOPIC = "payments.authorized.eu-west-1.v2"     # free text: may be cut
TARGET = "payments.repair.eu-west-1.v2"
GROUP = "warehouse-sink-payments-eu-west-1"
WAVE = "wave-3-payments-eu-west"
REF = f"{WAVE}@12"
CLUSTER = "Jc9t2Xb0RpWq3xLmN5aZ7Q"
CLUSTER2 = "Qz8Lm3Pq0WxYt5RnB7cK2A"
REPLAY = "rp-4fc1490f1a44ea8a"
CONNECTOR = "warehouse-sink-payments-eu-west"
CLIENT = "warehouse-sink-payments-7f9c"
T1, T2, T3 = "2026-11-30T03:42:17.123Z", "2026-11-30T03:40:05.000Z", "2026-11-29T22:10:00.000Z"
NOTE = "before the cutover of wave 3, once the payments team signed off the dry run"
BIG = 123_456_789



@pytest.fixture
def shown(capsys, monkeypatch):
    """Render a command's data with its view builder, as `emit` does on a terminal."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))

    def run(builder, data) -> list[str]:
        capsys.readouterr()
        render.emit("table", data, builder)
        return capsys.readouterr().out.splitlines()

    return run



# -- topics ----------------------------------------------------------------------------------

def test_topics_list_and_describe(shown):
    check(shown(views.topics_list, [
        {"topic": TOPIC, "partitions": 120, "replication_factor": 3, "records": BIG},
        {"topic": TOPIC + ".dead-letter-queue-of-the-repair-pipeline", "partitions": 6,
         "replication_factor": 3, "records": 0}]),
        whole=[TOPIC, BIG, 120], cut=[TOPIC + ".dead-letter-queue-of-the-repair-pipeline"])
    lines = shown(views.topics_describe, [{
        "topic": TOPIC,
        "partitions": [{"partition": p, "leader": 1, "replicas": [1, 2, 3],
                        "isr": [1, 2, 3], "log_start": BIG, "end": BIG + 5000,
                        "records": 5000, "first_timestamp": T3, "last_timestamp": T1}
                       for p in range(12)],
        "configs": {"retention.ms": "604800000", "cleanup.policy": "delete"},
        "replay_window": {"oldest_timestamp": T3, "age_seconds": 19937.1}}])
    check(lines, whole=[TOPIC, "1,2,3", BIG, BIG + 5000, "604800000"],
          times=[T1, T3])


def test_topics_peek(shown):
    records = [{"topic": TOPIC, "partition": 11, "offset": BIG, "timestamp": T1,
                "key": "acct-1700023", "key_encoding": None,
                "headers": {"tenant": "acme", "idempotency-key": "9f1c" * 8},
                "value": {"id": 42, "account": "acct-1700023", "amount": 1250,
                          "note": "x" * 80}, "value_encoding": "avro",
                "schema": {"id": 7, "subject": f"{TOPIC}-value", "version": 3}}]
    check(shown(lambda r: views.peek(r, True), records), whole=[BIG], times=[T1])


# -- groups ----------------------------------------------------------------------------------

def group_document(state="Stable"):
    return {"group": GROUP, "state": state,
            "members": [{"client_id": CLIENT, "host": "/10.12.144.201",
                         "member_id": f"{CLIENT}-1b7f2c8e-4d0a-4f4e-9a53-0e9b8c1d2f3a",
                         "assignment": [{"topic": TOPIC, "partition": p} for p in range(6)]}],
            "partitions": [{"topic": TOPIC, "partition": p, "committed": BIG,
                            "end": BIG + 880, "lag": 880, "lag_seconds": 5412.3,
                            "next_timestamp": T3} for p in range(3)]
            + [{"topic": TOPIC, "partition": 3, "committed": None, "end": BIG, "lag": None,
                "lag_seconds": None, "next_timestamp": None}],
            "total_lag": 2640}


def test_groups_list_and_describe(shown):
    check(shown(views.groups_list, [
        {"group": GROUP, "state": "Stable", "members": 12, "topics": [TOPIC, TARGET],
         "total_lag": BIG}]), whole=[GROUP, "Stable", BIG])
    check(shown(views.groups_describe, [group_document()]),
          whole=[GROUP, CLIENT, "/10.12.144.201", BIG, BIG + 880, "1h 30m"], times=[T3])


def test_groups_wait(shown):
    check(shown(views.pairs, {"group": GROUP, "total_lag": 0, "max_lag": 100,
                              "waited_seconds": 12.5}), whole=[GROUP, "12.5"])


# -- connectors, cluster, config, sandbox ----------------------------------------------------

def test_connectors_list_and_describe(shown):
    check(shown(views.connectors_list, [
        {"connector": CONNECTOR, "type": "sink", "state": "RUNNING",
         "tasks": [{"id": 0, "state": "RUNNING"}, {"id": 1, "state": "FAILED"}],
         "group": f"connect-{CONNECTOR}", "total_lag": BIG, "lag_seconds": 5412.3}]),
        whole=[CONNECTOR, "RUNNING", "0:RUNNING, 1:FAILED", BIG, "5412.3"])
    trace = "org.apache.kafka.connect.errors.ConnectException: " + "the sink refused " * 10
    lines = shown(views.connectors_describe, [{
        "connector": CONNECTOR, "type": "sink",
        "class": "io.confluent.connect.jdbc.JdbcSinkConnector", "state": "RUNNING",
        "worker_id": "10.12.144.201:8083", "topics": [TOPIC], "group": f"connect-{CONNECTOR}",
        "group_state": "Stable", "total_lag": BIG, "lag_seconds": 5412.3, "trace": trace,
        "tasks": [{"id": 0, "state": "FAILED", "worker_id": "10.12.144.201:8083",
                   "trace": trace}],
        "partitions": [{"topic": TOPIC, "partition": 7, "committed": BIG, "end": BIG + 880,
                        "lag": 880, "lag_seconds": 5412.3, "next_timestamp": T3}]}])
    check(lines, whole=[CONNECTOR, "io.confluent.connect.jdbc.JdbcSinkConnector",
                        f"connect-{CONNECTOR}", "10.12.144.201:8083", BIG, BIG + 880],
          times=[T3], cut=[trace.strip()])


def test_cluster_config_and_sandbox(shown):
    check(shown(views.cluster_info, {
        "cluster_id": CLUSTER, "controller": {"id": 1, "host": "broker-1.kafka.internal",
                                              "port": 9093},
        "brokers": [{"id": 1, "host": "broker-1.kafka.internal", "port": 9093,
                     "rack": "eu-west-1a"}]}),
        whole=[CLUSTER, "1 (broker-1.kafka.internal:9093)", "eu-west-1a"])
    check(shown(views.config_show, {
        "profile": "prod-eu-west-1", "bootstrap_servers": "broker-1:9093,broker-2:9093",
        "schema_registry_url": "https://registry.internal:8081", "checkpoint_dir": "/srv/cp",
        "kafka": {"security.protocol": "SASL_SSL", "sasl.password": "[redacted]"},
        "sources": {}}), whole=["broker-1:9093,broker-2:9093", "SASL_SSL"])
    check(shown(views.sandbox_status, {
        "running": True, "bootstrap": "127.0.0.1:39092", "pid": 4194303, "port": 39092,
        "data_dir": "/home/oncall/.local/state/ingestctl/sandbox",
        "log": "/home/oncall/.local/state/ingestctl/sandbox/broker.log",
        "kafka_version": "4.3.1", "cluster_id": CLUSTER,
        "registry_url": "http://127.0.0.1:38081/apis/ccompat/v7"}),
        whole=["127.0.0.1:39092", 4194303, CLUSTER, "http://127.0.0.1:38081/apis/ccompat/v7",
               "/home/oncall/.local/state/ingestctl/sandbox/broker.log"])


# -- checkpoints -----------------------------------------------------------------------------

def checkpoint_document():
    return {
        "path": f"checkpoints/{WAVE}/2026-11-30T03:42:17.123Z.yaml", "format": "v1",
        "wave": WAVE, "created_at": T1, "cluster_id": CLUSTER, "note": NOTE,
        "topics": {TOPIC: {"partitions": [
            {"partition": p, "log_start": BIG, "end": BIG + 1200, "first_timestamp": T3,
             "last_timestamp": T2, "schema_ids": [42, 43]} for p in range(12)]}},
        "groups": {GROUP: {"state": "Empty", "members": 0, "offsets": {TOPIC: [
            {"partition": p, "offset": BIG + 1100, "next_timestamp": T3, "last_timestamp": T2}
            for p in range(12)]}}},
        "schemas": {f"{TOPIC}-value": {"id": 42, "version": 3,
                                       "fingerprint": "sha256:" + "0f3a9c" * 10 + "beef"}},
        "connectors": {CONNECTOR: {
            "type": "sink", "state": "RUNNING", "tasks": [{"id": 0, "state": "RUNNING"}],
            "group": f"connect-{CONNECTOR}", "offsets": [
                {"partition": {"kafka_topic": TOPIC, "kafka_partition": 3},
                 "offset": {"kafka_offset": BIG}}]}},
    }


def test_checkpoint_create_show_list(shown):
    document = checkpoint_document()
    check(shown(lambda d: [checkpoint_views.summary(d)], document),
          whole=[document["path"], WAVE, T1, CLUSTER], cut=[NOTE])
    check(shown(checkpoint_views.show, document),
          whole=[WAVE, CLUSTER, GROUP, "Empty", CONNECTOR, BIG, BIG + 1100, BIG + 1200,
                 "42,43", "0:RUNNING"], times=[T1, T2, T3])
    check(shown(checkpoint_views.listing, [
        {"wave": WAVE, "ref": REF, "path": "p", "created_at": T1, "cluster_id": CLUSTER,
         "note": NOTE, "topics": 12, "groups": 40, "connectors": 3},
        {"wave": WAVE, "ref": f"{WAVE}@13", "path": "q",
         "error": "checksum mismatch: the file was changed after it was written"}]),
        whole=[REF, f"{WAVE}@13", CLUSTER], times=[T1], cut=[NOTE])


def test_checkpoint_diff_and_verify(shown):
    lines = shown(checkpoint_views.diff, {
        "from": f"checkpoints/{WAVE}/2026-11-29T22:10:00.000Z.yaml", "to": "live",
        "topics": [{"topic": TOPIC, "partition": 11, "produced": BIG, "log_start_moved": 0}],
        "groups": [{"group": GROUP, "topic": TOPIC, "partition": 11, "consumed": None,
                    "from_offset": BIG, "to_offset": BIG + 7}],
        "partitions_added": [{"topic": TOPIC, "partition": 12}], "partitions_removed": [],
        "schemas_changed": [{"subject": f"{TOPIC}-value", "from": {"id": 42, "version": 3},
                             "to": {"id": 43, "version": 4}}],
        "connectors": [{"connector": CONNECTOR, "from_state": "RUNNING",
                        "to_state": "STOPPED", "from_tasks": [{"id": 0, "state": "RUNNING"}],
                        "to_tasks": [], "partitions": [
                            {"topic": TOPIC, "partition": 3, "from_offset": BIG,
                             "to_offset": BIG + 5, "consumed": 5}],
                        "source_offsets_changed": []}]})
    check(lines, whole=[f"checkpoints/{WAVE}/2026-11-29T22:10:00.000Z.yaml", GROUP, BIG,
                        f"{BIG} -> {BIG + 7}", f"{TOPIC}[12]", f"{TOPIC}-value", CONNECTOR])
    check(shown(checkpoint_views.verified, {"path": f"checkpoints/{WAVE}/x.yaml",
                                            "intact": True, "applicable": True,
                                            "cluster_id": CLUSTER}), whole=[CLUSTER])


# -- rollback and groups reset ---------------------------------------------------------------

def test_move_plans(shown):
    moves = [{"topic": TOPIC, "partition": p, "current": BIG + 880, "target": BIG,
              "delta": 880, "note": "clamped to the log-start: the checkpoint's offset is no "
              "longer retained"} for p in range(3)]
    check(shown(views.move_plan, {"executed": False, "cluster_id": CLUSTER, "groups": [
        {"group": GROUP, "state": "Empty", "partitions": moves}]}),
        whole=[GROUP, "Empty", BIG, BIG + 880], cut=[moves[0]["note"]])
    check(shown(views.connector_move_plan, {"connectors": [
        {"connector": CONNECTOR, "state": "RUNNING", "final_state": "RUNNING",
         "group": f"connect-{CONNECTOR}", "partitions": moves}]}),
        whole=[CONNECTOR, f"connect-{CONNECTOR}", BIG, BIG + 880])


# -- replay ----------------------------------------------------------------------------------

def replay_ends(exists=True):
    return {"source": {"topic": TOPIC, "cluster_id": CLUSTER},
            "target": {"topic": TARGET, "cluster_id": CLUSTER2, "exists": exists}}


DEDUPE = {"header": "idempotency-key", "horizon_seconds": None, "scope": "shard", "shards": 2}


def test_replay_plan_summary_status_list(shown):
    partitions = [{"partition": p, "start": BIG, "end": BIG + 3000, "next": BIG + 3000,
                   "records": 3000, "bytes": 612_000_000, "filtered": 0, "invalid": 0}
                  for p in range(12)]
    check(shown(replay_views.plan, {
        "replay_id": REPLAY, **replay_ends(exists=False), "mode": "exactly-once",
        "partitioning": "preserve", "records": BIG, "bytes": 61_200_000_000,
        "bytes_sampled_records": 200, "quota": {"bytes_per_second": 5 * 2**20,
                                                "records_per_second": None},
        "estimated_duration_seconds": 11672.3, "resumes": True,
        "validation": {"format": "avro", "on_invalid": "dead-letter",
                       "dead_letter_topic": TARGET + ".dlq"},
        "dedupe": DEDUPE, "partitions": partitions}),
        whole=[REPLAY, CLUSTER, CLUSTER2, BIG, BIG + 3000, "exactly-once", "5.0 MiB/s"])
    deduped = [{**p, "duplicates": 7, "missing_key": 2} for p in partitions]
    summary = {"replay_id": REPLAY, "status": "incomplete", **replay_ends(),
               "guarantee": "exactly-once", "records": BIG, "bytes": 61_200_000_000,
               "filtered": 12, "invalid": 3, "validation": None, "dedupe": DEDUPE,
               "duplicates": 84, "missing_key": 24,
               "this_run": {"records": 3000, "bytes": 612_000}, "duration_seconds": 1.9,
               "rate_bytes_per_second": 32210.5,
               "resumed_from": [{"partition": p, "offset": BIG} for p in range(12)],
               "partitions": deduped}
    check(shown(replay_views.summary, summary),
          whole=[REPLAY, CLUSTER, CLUSTER2, BIG, BIG + 3000, "incomplete", 84, 24])
    status = {"replay_id": REPLAY, "mode": "exactly-once", "status": "incomplete",
              **replay_ends(), "shards": 4, "created_at": T3, "updated_at": T1,
              "records": BIG, "bytes": 61_200_000_000, "filtered": 0, "invalid": 0,
              "window_records": BIG, "remaining_offsets": 4200, "partitions": partitions}
    check(shown(replay_views.status, status),
          whole=[REPLAY, "incomplete", T1, T3, BIG, BIG + 3000], cut=[])
    rows = [{"replay_id": REPLAY, "status": status, "mode": "exactly-once",
             "source": {"topic": TOPIC, "cluster_id": CLUSTER},
             "target": {"topic": TARGET, "cluster_id": CLUSTER2}, "created_at": T3,
             "updated_at": T1, "records": BIG, "filtered": 0, "invalid": 0, "bytes": 1,
             "window_records": BIG, "remaining_offsets": 0}
            for status in ("completed", "incomplete")]
    lines = shown(replay_views.listing, rows)
    check(lines, whole=[REPLAY, "completed", "incomplete", BIG], times=[T1],
          cut=[TOPIC, TARGET])


def test_json_keeps_every_value_whole(capsys):
    render.emit("json", [{"note": NOTE, "topic": TOPIC, "created_at": T1}])
    assert json.loads(capsys.readouterr().out) == [{"note": NOTE, "topic": TOPIC,
                                                    "created_at": T1}]


def test_tables_by_header_alone_take_the_kind_their_names_suggest(shown):
    """make_table with plain headers, as commands that build their own tables call it."""
    def views_of(rows):
        table = render.make_table("audit", ["group", "state", "topic", "lag", "created at"],
                                  rows[:1])
        table.add_row(*rows[1])
        return [table, render.key_values(None, [("cluster id", CLUSTER),
                                                ("note", NOTE + NOTE, render.TEXT)])]

    row = (GROUP, "Stable", TOPIC, BIG, T1)
    check(shown(views_of, [row, row]), whole=[GROUP, "Stable", BIG, CLUSTER], times=[T1],
          cut=[TOPIC, NOTE])


def test_a_table_too_wide_for_any_form_runs_on_rather_than_split(shown):
    """Identifiers alone wider than the terminal: the line runs on, nothing is split."""
    ids = [f"{GROUP}-{n}" for n in range(3)]
    lines = shown(lambda rows: [render.Table(None, [render.Col(f"id {n}") for n in range(3)],
                                             rows)], [tuple(ids)])
    assert any(all(i in line for i in ids) for line in lines), "\n".join(lines)

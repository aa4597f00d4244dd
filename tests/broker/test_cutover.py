"""`cutover groups` and `cutover check` on two real sandboxes that MirrorMaker 2 mirrors the
session's broker into (default and identity replication policies): bursts of records sharing
one timestamp with runs of identical payloads, producer clocks out of order, transactions
(markers take offsets on the source, not on the target), and groups at different positions.
"""

import json
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource
from support.kafkautil import commit, committed, create_topic, produce, read_all
from support.names import unique
from support.waiting import wait_for

T0 = 1_700_000_000_000
BURST_TS = T0 + 1_000


def content(msg) -> tuple:
    return (msg.key(), msg.value(), tuple(msg.headers() or ()), msg.timestamp()[1])


def _transaction(bootstrap, topic, records, tid):
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid})
    producer.init_transactions(30)
    producer.begin_transaction()
    for r in records:
        producer.produce(topic, key=r.get("key"), value=r["value"], partition=0,
                         timestamp=r["timestamp"])
    producer.commit_transaction(30)


def _count(bootstrap, topic, partitions) -> int | None:
    try:
        return len(read_all(bootstrap, topic, partitions))
    except Exception:  # noqa: BLE001 - not created by the mirror yet
        return None


@pytest.fixture(scope="module")
def scenario(kafka_bootstrap, mirrors, tmp_path_factory):
    """A mirrored topic with every hard case on partition 0, a plain partition 1, and five
    groups at different positions; returned once both mirrors have copied it all."""
    b = kafka_bootstrap
    topic = unique("mirror-cut")
    create_topic(b, topic, partitions=2)
    burst_headers = [("h", b"x")]
    produce(b, topic, [{"key": f"k{i}".encode(), "value": f"d{i}".encode(),
                        "timestamp": T0 + 10 * i} for i in range(10)])
    # 50 records on one timestamp, in runs of 5 identical ones.
    produce(b, topic, [{"key": b"burst", "value": f"run{j // 5}".encode(),
                        "timestamp": BURST_TS, "headers": burst_headers} for j in range(50)])
    # A producer whose clock is behind, then one identical to the burst's first run.
    produce(b, topic, [{"key": f"o{i}".encode(), "value": f"o{i}".encode(),
                        "timestamp": T0 + 500 + i} for i in range(5)])
    produce(b, topic, [{"key": b"burst", "value": b"run0", "timestamp": BURST_TS,
                        "headers": burst_headers}])
    _transaction(b, topic, [{"value": f"t{i}".encode(), "timestamp": T0 + 2_000 + i}
                            for i in range(3)], unique("tx"))
    produce(b, topic, [{"value": f"z{i}".encode(), "timestamp": T0 + 3_000 + i}
                       for i in range(2)])
    # It ends with a transaction marker: a caught-up group's last record is not at end - 1.
    _transaction(b, topic, [{"value": f"e{i}".encode(), "timestamp": T0 + 4_000 + i}
                            for i in range(2)], unique("tx"))
    produce(b, topic, [{"partition": 1, "value": f"q{i}".encode(), "timestamp": T0 + i}
                       for i in range(5)])

    p0 = [m for m in read_all(b, topic, [0]) if m.partition() == 0]
    values = [m.value() for m in p0]
    burst = values.index(b"run0")
    late_dup = [i for i, v in enumerate(values) if v == b"run0"][-1]
    assert late_dup == burst + 55
    reader = Consumer({"bootstrap.servers": b, "group.id": "x"})
    ends = {p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=20)[1]
            for p in (0, 1)}
    reader.close()
    assert ends[0] > p0[-1].offset() + 1  # the marker after the last record
    groups = {
        "caught": {0: ends[0], 1: ends[1]},
        "midburst": {0: p0[burst + 23].offset(), 1: 2},
        "firstrun": {0: p0[burst + 3].offset(), 1: 0},
        "latedup": {0: p0[late_dup].offset()},  # never committed on partition 1
        "ooo": {0: p0[burst + 50].offset(), 1: 5},
    }
    names = {g: unique(f"cut-{g}") for g in groups}
    for g, offsets in groups.items():
        commit(b, names[g], topic, offsets)
    total = len(read_all(b, topic, [0, 1]))
    for policy, name in (("default", f"source.{topic}"), ("identity", topic)):
        wait_for(f"{name} fully mirrored ({policy})",
                 lambda bs=mirrors[policy].bootstrap, n=name: _count(bs, n, [0, 1]) == total,
                 timeout=180, interval=1)
    plan = tmp_path_factory.mktemp("cutover") / "waves.yaml"
    plan.write_text(json.dumps({"waves": {"w": {"topics": [topic],
                                                "groups": sorted(names.values())}}}))
    return {"topic": topic, "groups": groups, "names": names, "plan": plan}


def _target(mirrors, policy, topic):
    status = mirrors[policy]
    if policy == "default":
        return status.bootstrap, f"source.{topic}", ["--source-alias", "source"]
    return status.bootstrap, topic, []


def _tail(bootstrap, topic, partition, start):
    return [content(m) for m in read_all(bootstrap, topic, [partition])
            if m.offset() >= start]


@pytest.mark.parametrize("policy", ["default", "identity"])
def test_exact_puts_every_group_at_the_very_record(cli, kafka_bootstrap, mirrors, scenario,
                                                   policy, tmp_path):
    bootstrap, target_topic, mapping = _target(mirrors, policy, scenario["topic"])
    result = cli("-b", kafka_bootstrap, "-o", "json", "cutover", "groups", "--wave", "w",
                 "--plan", scenario["plan"], "--to-bootstrap-servers", bootstrap, *mapping,
                 "--translate", "exact", "--dir", tmp_path, "--execute")
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["executed"] is True and document["translate"] == "exact"
    assert {g["source_state"] for g in document["groups"]} == {"Empty"}
    for group, offsets in scenario["groups"].items():
        name = scenario["names"][group]
        on_target = committed(bootstrap, name, target_topic, [0, 1])
        for partition, offset in offsets.items():
            # The record at the target's committed offset is the one at the source's, and
            # so is every record after it: same content, same repeats, same order.
            assert _tail(bootstrap, target_topic, partition, on_target[partition]) == \
                _tail(kafka_bootstrap, scenario["topic"], partition, offset), (group, partition)
    # Transaction markers shift the source's offsets only: exact is not "same offset".
    caught = scenario["names"]["caught"]
    assert committed(bootstrap, caught, target_topic, [0])[0] < scenario["groups"]["caught"][0]
    latedup = next(g for g in document["groups"] if g["group"] == scenario["names"]["latedup"])
    assert [(u["topic"], u["partition"]) for u in latedup["uncommitted"]] == \
        [(target_topic, 1)]
    assert "stays uncommitted" in latedup["uncommitted"][0]["note"]
    assert {p["partition"] for p in latedup["partitions"]} == {0}
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {a["group"] for a in audit} <= set(scenario["names"].values())
    assert all(a["action"] == "cutover groups" for a in audit)

    again = cli("-b", kafka_bootstrap, "cutover", "groups", "--wave", "w", "--plan",
                scenario["plan"], "--to-bootstrap-servers", bootstrap, *mapping)
    assert again.code == 0 and "already at target" in again.stderr


def _plan(cli, kafka_bootstrap, bootstrap, scenario, mapping, how):
    result = cli("-b", kafka_bootstrap, "-o", "json", "cutover", "groups", "--wave", "w",
                 "--plan", scenario["plan"], "--to-bootstrap-servers", bootstrap, *mapping,
                 "--translate", how)
    return result


def _moves(document):
    return {(g["group"], p["partition"]): p for g in document["groups"]
            for p in g["partitions"]}


@pytest.mark.parametrize("policy", ["default", "identity"])
def test_timestamp_and_mm2_say_where_they_differ_from_exact(cli, kafka_bootstrap, mirrors,
                                                            scenario, policy):
    bootstrap, _, mapping = _target(mirrors, policy, scenario["topic"])
    names = scenario["names"]
    exact = _moves(_plan(cli, kafka_bootstrap, bootstrap, scenario, mapping, "exact").json())
    by_time = _plan(cli, kafka_bootstrap, bootstrap, scenario, mapping, "timestamp")
    assert by_time.code == 0, by_time.stderr
    by_time = _moves(by_time.json())
    # Mid-burst: the burst's first record is the first at its timestamp: 23 read again.
    mid = by_time[(names["midburst"], 0)]
    assert exact[(names["midburst"], 0)]["target"] - mid["target"] == 23
    assert "23 offset(s) before the exact position" in mid["note"]
    assert "read those records again" in mid["note"]
    # The late copy of the burst's first run shares its timestamp: back to the burst.
    late = by_time[(names["latedup"], 0)]
    assert exact[(names["latedup"], 0)]["target"] - late["target"] == 55
    # Behind a slow clock: the first record at or after an older time is far earlier.
    assert by_time[(names["ooo"], 0)]["target"] < exact[(names["ooo"], 0)]["target"]
    assert "same as exact" in by_time[(names["caught"], 0)]["note"]

    # MM2 checkpoints a group partition only once it holds an offset sync at or below the
    # group's offset, and its sync store keeps few old syncs: some partitions may never get
    # one. Each either has a checkpoint, or is named as having none (and the plan refused).
    from ingestctl.config import Settings
    from ingestctl.moves.translate import TopicMapping, translate

    topic = scenario["topic"]
    offsets = {names[g]: {(topic, p): o for p, o in parts.items()}
               for g, parts in scenario["groups"].items()}
    alias = "source" if policy == "default" else None

    def mm2_translations():
        found = translate(Settings(bootstrap_servers=kafka_bootstrap),
                          Settings(bootstrap_servers=bootstrap), offsets,
                          [(topic, 0), (topic, 1)], TopicMapping(alias), "mm2", "source")
        mine = [t for t in found if t.committed is not None]
        rereads = [t for t in mine if t.target is not None
                   and t.target < exact[(t.group, t.partition)]["target"]]
        return mine if rereads else None

    mm2 = wait_for("an MM2 checkpoint that re-reads", mm2_translations, timeout=120,
                   interval=2)
    missing = []
    for t in mm2:
        if t.problem:
            assert t.problem == (f"MirrorMaker 2 has no checkpoint for group {t.group} on "
                                 f"{t.target_topic}[{t.partition}]")
            missing.append(t)
            continue
        target = exact[(t.group, t.partition)]["target"]
        assert t.target <= target, (t.group, t.partition)  # MM2 only ever re-reads
        assert t.note.startswith("MM2 checkpoint: source offset")
        if t.target < target:
            assert "read those records again" in t.note
        else:
            assert "same as exact" in t.note
    result = _plan(cli, kafka_bootstrap, bootstrap, scenario, mapping, "mm2")
    if missing:
        assert result.code == 3
        assert all(f"group {t.group} {topic}[{t.partition}]: MirrorMaker 2 has no checkpoint"
                   in result.stderr for t in missing)
    else:
        assert result.code == 0, result.stderr


def test_refusals_name_each_partition_that_cannot_be_translated(
        cli, kafka_bootstrap, mirrors, tmp_path):
    """A target copy that lags, and retention on either side: each partition named, exit 3,
    nothing changed. (A topic copied by hand stands in for a mirror that lags.)"""
    target = mirrors["default"].bootstrap
    source_topic, copy = unique("cutref"), unique("cutref-copy")
    records = [{"partition": p, "key": f"k{i}".encode(), "value": f"v{i}".encode(),
                "timestamp": T0 + i} for p in range(3) for i in range(10)]
    create_topic(kafka_bootstrap, source_topic, partitions=3)
    produce(kafka_bootstrap, source_topic, records)
    create_topic(target, copy, partitions=3)
    produce(target, copy, [r for r in records if r["partition"] != 0 or int(r["key"][1:]) < 5])
    src_admin, dst_admin = AdminClient({"bootstrap.servers": kafka_bootstrap}), \
        AdminClient({"bootstrap.servers": target})
    for f in dst_admin.delete_records([TopicPartition(copy, 1, 4)]).values():
        f.result(30)
    for f in src_admin.delete_records([TopicPartition(source_topic, 2, 4)]).values():
        f.result(30)
    group = unique("cutref-g")
    commit(kafka_bootstrap, group, source_topic, {0: 7, 1: 2, 2: 2})
    plan = tmp_path / "waves.yaml"
    plan.write_text(json.dumps({"waves": {"w": {"topics": [source_topic], "groups": [group]}}}))
    result = cli("-b", kafka_bootstrap, "cutover", "groups", "--wave", "w", "--plan", plan,
                 "--to-bootstrap-servers", target, "--topic-map", f"{source_topic}={copy}",
                 "--execute")
    assert result.code == 3, result.stderr
    assert "3 partition(s) cannot be translated exactly" in result.stderr
    assert f"{source_topic}[0]" in result.stderr and "not on the target yet" in result.stderr
    assert f"{source_topic}[1]" in result.stderr and "retention on the target" in result.stderr
    assert f"{source_topic}[2]" in result.stderr and "retention on the source" in result.stderr
    assert committed(target, group, copy, [0, 1, 2]) == {0: -1001, 1: -1001, 2: -1001}


def test_a_group_with_members_on_the_target_is_refused(cli, kafka_bootstrap, mirrors,
                                                       scenario):
    bootstrap, target_topic, mapping = _target(mirrors, "identity", scenario["topic"])
    name = scenario["names"]["midburst"]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": name,
                         "enable.auto.commit": False})
    consumer.subscribe([target_topic])
    try:
        wait_for("the consumer joined", lambda: consumer.poll(0.5) is not None
                 or consumer.assignment(), timeout=60, interval=0)
        result = cli("-b", kafka_bootstrap, "cutover", "groups", "--wave", "w", "--plan",
                     scenario["plan"], "--to-bootstrap-servers", bootstrap, *mapping,
                     "--execute")
        assert result.code == 3
        assert f"group {name} is Stable" in result.stderr
        check = cli("-b", kafka_bootstrap, "-o", "json", "cutover", "check", "--wave", "w",
                    "--plan", scenario["plan"], "--to-bootstrap-servers", bootstrap, *mapping)
        assert check.code == 3
        assert any(f"group {name} is Stable" in b for b in check.json()["blockers"])
    finally:
        consumer.close()


@pytest.mark.parametrize("policy", ["default", "identity"])
def test_check_is_ready_on_a_caught_up_mirror(cli, kafka_bootstrap, mirrors, scenario, policy):
    bootstrap, target_topic, mapping = _target(mirrors, policy, scenario["topic"])
    result = cli("-b", kafka_bootstrap, "-o", "json", "cutover", "check", "--wave", "w",
                 "--plan", scenario["plan"], "--to-bootstrap-servers", bootstrap, *mapping)
    assert result.code == 0, result.stderr
    document = result.json()
    assert document["ready"] is True and document["blockers"] == []
    (topic,) = document["topics"]
    assert topic["target_topic"] == target_topic and topic["target_partitions"] == 2
    assert [x["records"] for x in topic["lag"]] == [0, 0]
    assert set(topic["configs"]) == {"retention.ms", "retention.bytes", "cleanup.policy",
                                     "min.insync.replicas", "max.message.bytes",
                                     "compression.type"}
    rows = [p for g in document["groups"] for p in g["partitions"]
            if p["source_committed"] is not None]
    assert len(rows) == 9 and all(p["same_record"] is True for p in rows)
    assert all("target_committed" in p for p in rows)


def test_check_lists_every_blocker(cli, kafka_bootstrap, mirrors, tmp_path):
    """Each blocker alone exits 3 naming it; fixed, the same wave exits 0."""
    target = mirrors["default"].bootstrap
    dst_admin = AdminClient({"bootstrap.servers": target})
    src, copy = unique("chk"), unique("chk-copy")
    records = [{"partition": p, "value": f"v{p}-{i}".encode(), "timestamp": T0 + i}
               for p in range(2) for i in range(6)]
    create_topic(kafka_bootstrap, src, partitions=2)
    produce(kafka_bootstrap, src, records)
    group = unique("chk-g")
    commit(kafka_bootstrap, group, src, {0: 3, 1: 6})
    plan = tmp_path / "waves.yaml"
    plan.write_text(json.dumps({"waves": {"w": {"topics": [src], "groups": [group]}}}))

    def check(*extra):
        return cli("-b", kafka_bootstrap, "-o", "json", "cutover", "check", "--wave", "w",
                   "--plan", plan, "--to-bootstrap-servers", target,
                   "--topic-map", f"{src}={copy}", *extra)

    missing = check()
    assert missing.code == 3
    assert missing.json()["blockers"] == [
        f"topic {copy} does not exist on the target (mirror of {src})."]

    create_topic(target, copy, partitions=2)
    produce(target, copy, [r for r in records if not (r["partition"] == 0 and
                                                      r["value"].endswith(b"-5"))])
    lagging = check()
    assert lagging.code == 3
    blockers = lagging.json()["blockers"]
    assert f"{src}[0]: the mirror is 1 record(s) behind (more than --max-mirror-lag 0)." \
        in blockers and len(blockers) == 1
    assert check("--max-mirror-lag", "1").code == 0

    change = ConfigResource("topic", copy, incremental_configs=[
        ConfigEntry("max.message.bytes", "2000",
                    incremental_operation=AlterConfigOpType.SET)])
    for f in dst_admin.incremental_alter_configs([change]).values():
        f.result(30)
    config = check()
    assert config.code == 3
    assert f"topic {copy}: max.message.bytes is 2000 on the target, 1048588 on the source." \
        in config.json()["blockers"]

    short = unique("chk-short")
    create_topic(target, short, partitions=1)
    fewer = cli("-b", kafka_bootstrap, "-o", "json", "cutover", "check", "--wave", "w",
                "--plan", plan, "--to-bootstrap-servers", target, "--topic-map", f"{src}={short}")
    assert fewer.code == 3
    blockers = fewer.json()["blockers"]
    assert f"topic {short} has 1 partition(s) on the target, fewer than {src}'s 2." in blockers
    # The record the group reads next is not there: the partition is named.
    assert any(b.startswith(f"group {group} {src}[0]:") for b in blockers)
    assert any("lag unknown" in b or "behind" in b for b in blockers)


def test_check_flags_a_record_that_is_not_the_same(cli, kafka_bootstrap, mirrors, tmp_path):
    """A target whose records differ (another payload at the same time) is not a copy."""
    target = mirrors["identity"].bootstrap
    src, copy = unique("chk-diff"), unique("chk-diff-copy")
    create_topic(kafka_bootstrap, src)
    create_topic(target, copy)
    produce(kafka_bootstrap, src, [{"value": f"v{i}".encode(), "timestamp": T0 + i}
                                   for i in range(4)])
    produce(target, copy, [{"value": (f"v{i}" if i != 2 else "other").encode(),
                            "timestamp": T0 + i} for i in range(4)])
    group = unique("chk-diff-g")
    commit(kafka_bootstrap, group, src, {0: 2})
    plan = tmp_path / "waves.yaml"
    plan.write_text(json.dumps({"waves": {"w": {"topics": [src], "groups": [group]}}}))
    result = cli("-b", kafka_bootstrap, "-o", "json", "cutover", "check", "--wave", "w",
                 "--plan", plan, "--to-bootstrap-servers", target, "--topic-map",
                 f"{src}={copy}")
    assert result.code == 3
    assert any(b.startswith(f"group {group} {src}[0]:") and "not on the target" in b
               for b in result.json()["blockers"])
    assert Path(plan).is_file()


def test_rollback_translate_exact_from_a_source_checkpoint(cli, kafka_bootstrap, mirrors,
                                                           scenario, tmp_path):
    """A checkpoint taken on the source, rolled back onto the mirror by record: each group
    at the copy of the very record it was to read next when the checkpoint was taken."""
    bootstrap, target_topic, mapping = _target(mirrors, "identity", scenario["topic"])
    made = cli("-b", kafka_bootstrap, "-o", "json", "checkpoint", "create", "w", "--plan",
               scenario["plan"], "--dir", tmp_path)
    assert made.code == 0, made.stderr
    # The groups read on to the end on the target. (Forward: MirrorMaker 2's group offset
    # sync only ever moves a group forward, so it leaves them there.)
    end = len(read_all(bootstrap, target_topic, [0]))
    for name in scenario["names"].values():
        commit(bootstrap, name, target_topic, {0: end})
    args = ["-b", bootstrap, "-o", "json", "rollback", "--to-checkpoint", "w", "--dir",
            tmp_path]
    assert cli(*args, "--translate", "exact").code == 2  # needs the checkpoint's cluster
    other = cli(*args, "--translate", "exact", "--from-bootstrap-servers", bootstrap,
                *mapping)
    assert other.code == 3 and "give the cluster the checkpoint was taken on" in other.stderr
    by_time = cli(*args, "--translate", "timestamp")  # = --by-timestamp
    assert by_time.code == 0, by_time.stderr
    assert "by timestamp" in by_time.json()["source"]
    result = cli(*args, "--translate", "exact", "--from-bootstrap-servers", kafka_bootstrap,
                 *mapping, "--execute")
    assert result.code == 0, result.stderr
    assert result.json()["executed"] is True and result.json()["command"] == "rollback"
    for group, offsets in scenario["groups"].items():
        on_target = committed(bootstrap, scenario["names"][group], target_topic, [0, 1])
        for partition, offset in offsets.items():
            assert _tail(bootstrap, target_topic, partition, on_target[partition]) == \
                _tail(kafka_bootstrap, scenario["topic"], partition, offset), (group, partition)

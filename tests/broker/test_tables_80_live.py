"""`replay list` and `checkpoint list` on the broker, in an 80-column terminal."""

from support.kafkautil import commit, create_topic, produce
from support.names import unique
from support.tables import WIDTH, check

NOTE = "before the cutover of wave 3, once the payments team signed off the dry run"


def test_replay_list_and_checkpoint_list_in_80_columns(cli, kafka_bootstrap, tmp_path,
                                                      monkeypatch):
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    source = unique("payments.authorized.eu-west-1.tenant-acme")
    target = unique("payments.repair.eu-west-1.tenant-acme")
    group = unique("warehouse-sink-payments-eu-west-1")
    create_topic(kafka_bootstrap, source, partitions=2)
    create_topic(kafka_bootstrap, target, partitions=2)
    produce(kafka_bootstrap, source, [{"partition": p, "key": b"k", "value": b"v" * 10}
                                      for p in range(2) for _ in range(5)])
    commit(kafka_bootstrap, group, source, {0: 2, 1: 5})
    ids = []
    for start in ("0", "1"):  # two windows: two replays
        copied = cli("-b", kafka_bootstrap, "replay", "--from-topic", source, "--to-topic",
                     target, "--start-offset", start, "--execute", "-o", "json")
        assert copied.code == 0, copied.stderr
        ids.append(copied.json()["replay_id"])

    listed = cli("-b", kafka_bootstrap, "replay", "list", "--topic", source)
    assert listed.code == 0, listed.stderr
    lines = listed.stdout.splitlines()
    check(lines, whole=[*ids, "completed"], cut=[source, target])
    rows = cli("-b", kafka_bootstrap, "replay", "list", "--topic", target, "-o", "json").json()
    assert [r["replay_id"] for r in rows] == ids[::-1]  # newest first
    check(lines, times=[r["updated_at"] for r in rows])

    # --limit: the newest N on stdout (still one document), how many more on stderr
    newest = cli("-b", kafka_bootstrap, "replay", "list", "--topic", source, "--limit", "1",
                 "-o", "json")
    assert [r["replay_id"] for r in newest.json()] == [ids[1]]
    assert "1 more replay(s) not shown (the newest 1 of 2)" in newest.stderr
    none = cli("-b", kafka_bootstrap, "replay", "list", "--topic", source, "--status",
               "incomplete", "-o", "json")
    assert none.code == 0 and none.json() == [] and none.stderr == ""
    bad = cli("-b", kafka_bootstrap, "replay", "list", "--status", "done")
    assert bad.code == 2 and "--status: 'done' is not one of completed, incomplete" in bad.stderr

    directory = tmp_path / "cps"
    wave = "wave-3-payments-eu-west-1-tenant-acme"
    for _ in range(2):
        made = cli("-b", kafka_bootstrap, "checkpoint", "create", wave, "--group", group,
                   "--note", NOTE, "--dir", directory)
        assert made.code == 0, made.stderr
    listing = cli("-b", kafka_bootstrap, "checkpoint", "list", "--dir", directory)
    assert listing.code == 0, listing.stderr
    entries = cli("checkpoint", "list", "--dir", directory, "-o", "json").json()
    check(listing.stdout.splitlines(),
          whole=[f"{wave}@1", f"{wave}@2", entries[0]["cluster_id"]],
          times=[e["created_at"] for e in entries])
    assert NOTE not in listing.stdout  # cut, or left out beside refs this long
    assert [e["note"] for e in entries] == [NOTE, NOTE]  # JSON keeps it whole

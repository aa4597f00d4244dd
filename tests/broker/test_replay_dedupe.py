"""`replay --dedupe-header` on the real broker: API events with an idempotency-key header,
retried on the same partition, on another partition and minutes later, some without the
header, replayed so that the target holds every key once (per shard when sharded), in source
order, with counts that add up; the same after SIGKILL at seeded random points and resumes;
the horizon; the replay's identity."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict

from support.kafkautil import create_topic, produce, read_all
from support.names import unique
from support.replay import copies, freeze_inside_a_transaction, source_of, wait_for_progress

from ingestctl.errors import ExitCode

KEY = "idempotency-key"
PARTITIONS = 4
SEED = 20261130
KILLS = 10


def api_events(count: int, seed: int, base_ts: int) -> list[dict]:
    """`count` API events in production order: 15 % retried on the same partition a moment
    later, 10 % retried on another partition, 5 % retried 3–5 minutes later, 5 % without
    the idempotency key, 5 % pings (kind=ping, filtered out by the tests)."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        ts = base_ts + i * 50
        p = rng.randrange(PARTITIONS)
        kind = b"ping" if rng.random() < 0.05 else b"api"
        headers = [("kind", kind), ("trace", b"%d" % i)]
        if rng.random() >= 0.05:
            headers.insert(0, (KEY, f"req-{seed}-{i:06d}".encode()))
        event = {"partition": p, "key": f"acct-{rng.randrange(50)}".encode(),
                 "value": b'{"n": %d, "body": "%s"}' % (i, b"x" * rng.randrange(100, 200)),
                 "timestamp": ts, "headers": headers}
        events.append(event)
        roll = rng.random()
        if roll < 0.15:
            events.append({**event, "timestamp": ts + rng.randrange(1, 2000)})
        elif roll < 0.25:
            other = (p + rng.randrange(1, PARTITIONS)) % PARTITIONS
            events.append({**event, "partition": other, "timestamp": ts + rng.randrange(1, 2000)})
        elif roll < 0.30:
            events.append({**event, "partition": rng.randrange(PARTITIONS),
                           "timestamp": ts + rng.randrange(180_000, 300_000)})
    return sorted(events, key=lambda e: e["timestamp"])


def setup(bootstrap: str, count: int, seed: int = SEED) -> tuple[str, str]:
    src, dst = unique("rp-dd"), unique("rp-dd-dst")
    create_topic(bootstrap, src, PARTITIONS)
    create_topic(bootstrap, dst, PARTITIONS)
    produce(bootstrap, src, api_events(count, seed, int(time.time() * 1000) - 3_600_000))
    return src, dst


def header(msg, name: str) -> bytes | None:
    return next((v for k, v in msg.headers() or [] if k == name), None)


def check_target(bootstrap: str, src: str, dst: str, summary: dict, shards: int = 1,
                 preserve: bool = True) -> None:
    """The target holds every key of the window once per shard, each a faithful copy in
    source order, every keyless record, nothing else; the counts add up."""
    source = {(m.partition(), m.offset()): m for m in read_all(bootstrap, src, range(PARTITIONS))}
    got = copies(bootstrap, dst, range(PARTITIONS))  # fails on a source record written twice
    api = {k: m for k, m in source.items() if header(m, "kind") == b"api"}
    shard_of = {p: p % shards for p in range(PARTITIONS)}
    per_shard = Counter((shard_of[k[0]], header(m, KEY)) for k, m in got.items()
                        if header(m, KEY) is not None)
    expected = {(shard_of[k[0]], header(m, KEY)) for k, m in api.items()
                if header(m, KEY) is not None}
    assert set(per_shard) == expected
    twice = [key for key, n in per_shard.items() if n > 1]
    assert not twice, f"written more than once: {twice[:5]}"
    keyless = {k for k, m in api.items() if header(m, KEY) is None}
    assert keyless <= set(got) and set(got) <= set(api)
    for k, copy in got.items():
        assert copy.value() == source[k].value() and copy.timestamp() == source[k].timestamp()
        assert copy.partition() == k[0] or not preserve
    for p in range(PARTITIONS):
        for q in range(PARTITIONS):  # source partition p's copies in target partition q
            order = [source_of(m)[1] for m in sorted(
                (m for k, m in got.items() if k[0] == p and m.partition() == q),
                key=lambda m: m.offset())]
            assert order == sorted(order), f"partition {p} is out of source order in {q}"
    rows = {r["partition"]: r for r in summary["partitions"]}
    for p in range(PARTITIONS):
        row = rows[p]
        in_window = [k for k in source if k[0] == p]
        assert row["records"] + row["filtered"] + row["invalid"] + row["duplicates"] == len(
            in_window) == row["end"] - row["start"]
        assert row["records"] == sum(1 for k in got if k[0] == p)
        assert row["filtered"] == sum(1 for k in in_window if k not in api)
        assert row["missing_key"] == sum(1 for k in keyless if k[0] == p)
    assert summary["records"] == len(got) and summary["missing_key"] == len(keyless)
    assert summary["duplicates"] == len(api) - len(keyless) - len(expected)
    assert (summary["records"] + summary["filtered"] + summary["invalid"]
            + summary["duplicates"]) == len(source)


def wait_for_records(cli, bootstrap: str, replay_id: str, more_than: int) -> int:
    """Until both shards of the replay have committed records past `more_than` in all."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = cli("-b", bootstrap, "replay", "status", replay_id, "-o", "json")
        if status.code == 0:
            rows = status.json()["partitions"]
            done = [r["next"] - r["start"] for r in rows]
            if sum(done) > more_than and all(
                    any(r["records"] for r in rows if r["partition"] % 2 == k) for k in (0, 1)):
                return sum(done)
        time.sleep(0.2)
    raise AssertionError(f"replay {replay_id} made no progress in 60 s")


def dedupe_args(src: str, dst: str, *extra: str) -> list[str]:
    return ["--from-topic", src, "--to-topic", dst, "--start-offset", "0",
            "--filter-header", "kind=api", "--dedupe-header", KEY, *extra]


def test_every_key_is_written_once_and_the_counts_add_up(cli, kafka_bootstrap):
    src, dst = setup(kafka_bootstrap, 1500)
    args = dedupe_args(src, dst)
    plan = cli("-b", kafka_bootstrap, "replay", *args)
    assert plan.code == 0 and f"by header {KEY}, over the whole window" in plan.stdout
    result = cli("-b", kafka_bootstrap, "replay", *args, "--execute", "-o", "json")
    assert result.code == 0, result.stderr
    summary = result.json()
    assert summary["status"] == "completed" and summary["duplicates"] > 100
    assert summary["dedupe"] == {"header": KEY, "horizon_seconds": None, "scope": "replay",
                                 "shards": 1}
    check_target(kafka_bootstrap, src, dst, summary)
    status = cli("-b", kafka_bootstrap, "replay", "status", summary["replay_id"], "-o", "json")
    assert status.json()["duplicates"] == summary["duplicates"]
    assert status.json()["missing_key"] == summary["missing_key"]
    again = cli("-b", kafka_bootstrap, "replay", *args, "--execute", "-o", "json")
    assert again.code == 0 and again.json()["already_completed"] is True
    assert again.json()["duplicates"] == summary["duplicates"]


def test_with_workers_a_key_is_written_once_per_shard(cli, kafka_bootstrap):
    src, dst = setup(kafka_bootstrap, 1200, seed=SEED + 1)
    args = dedupe_args(src, dst, "--workers", "2")
    plan = cli("-b", kafka_bootstrap, "replay", *args, "-o", "json")
    assert plan.code == 0
    assert plan.json()["dedupe"] == {"header": KEY, "horizon_seconds": None, "scope": "shard",
                                     "shards": 2}
    text = cli("-b", kafka_bootstrap, "replay", *args)
    assert "per shard (2 shards)" in " ".join(text.stdout.split())
    result = cli("-b", kafka_bootstrap, "replay", *args, "--execute", "-o", "json")
    assert result.code == 0, result.stderr
    check_target(kafka_bootstrap, src, dst, result.json(), shards=2)
    # retries on another shard's partition were written once in each shard
    got = copies(kafka_bootstrap, dst, range(PARTITIONS))
    by_key = defaultdict(set)
    for k, m in got.items():
        by_key[header(m, KEY)].add(k[0] % 2)
    assert any(len(shards) == 2 for key, shards in by_key.items() if key is not None)


def test_exactly_once_across_kill_9_and_resumes(kafka_bootstrap):
    src, dst = setup(kafka_bootstrap, 2400, seed=SEED + 2)
    args = [sys.executable, "-m", "ingestctl", "-b", kafka_bootstrap, "replay",
            *dedupe_args(src, dst), "--rate", "40KB/s", "--execute", "-o", "json"]
    rng = random.Random(SEED)
    for kill in range(KILLS):
        run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.0, 3.5))  # start-up takes ~1 s, commits come every 1 s
        run.send_signal(signal.SIGKILL)
        _, err = run.communicate(timeout=30)
        assert run.returncode == -signal.SIGKILL, (
            f"run {kill} ended by itself before its kill (seed {SEED}): {err.decode()}")
    final = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert final.returncode == 0, final.stderr
    assert "resuming replay" in final.stderr and "dedupe: read back" in final.stderr
    check_target(kafka_bootstrap, src, dst, json.loads(final.stdout))


def test_sharded_and_keyed_exactly_once_across_kill_9(cli, kafka_bootstrap):
    """--workers 2 --partitioning key: both shards write into every target partition, so
    each shard's resume must keep only the keys of its own source partitions."""
    src, dst = setup(kafka_bootstrap, 1600, seed=SEED + 4)
    options = dedupe_args(src, dst, "--workers", "2", "--partitioning", "key")
    replay_id = cli("-b", kafka_bootstrap, "replay", *options, "-o", "json").json()["replay_id"]
    args = [sys.executable, "-m", "ingestctl", "-b", kafka_bootstrap, "replay", *options,
            "--rate", "40KB/s", "--execute", "-o", "json"]
    rng = random.Random(SEED + 4)
    copied = 0
    for _ in range(3):
        run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        # Once this run has committed in both shards (workers start slowly), a random moment.
        copied = wait_for_records(cli, kafka_bootstrap, replay_id, more_than=copied)
        time.sleep(rng.uniform(0.0, 1.5))
        os.killpg(run.pid, signal.SIGKILL)  # the parent and both workers, as a crash would
        run.wait(timeout=30)
    final = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert final.returncode == 0, final.stderr
    assert "worker 0: dedupe: read back" in final.stderr
    assert "worker 1: dedupe: read back" in final.stderr
    check_target(kafka_bootstrap, src, dst, json.loads(final.stdout), shards=2,
                 preserve=False)


def test_a_run_frozen_past_its_transaction_timeout_forgets_the_aborted_keys(cli,
                                                                          kafka_bootstrap):
    """SIGSTOP inside an open transaction for longer than transaction.timeout.ms: the broker
    aborts it, and the run goes on with a new producer from the committed progress. The keys
    of the aborted transaction must be forgotten with it (or their records would now count
    as duplicates and never be written): the new producer's run reads back the keys anew."""
    src, dst = setup(kafka_bootstrap, 1200, seed=SEED + 5)
    options = dedupe_args(src, dst)
    replay_id = cli("-b", kafka_bootstrap, "replay", *options, "-o", "json").json()["replay_id"]
    run = subprocess.Popen([sys.executable, "-m", "ingestctl", "-b", kafka_bootstrap,
                            "-X", "transaction.timeout.ms=2000", "replay", *options,
                            "--rate", "20KB/s", "--execute", "-o", "json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_progress(cli, kafka_bootstrap, replay_id)
        freeze_inside_a_transaction(kafka_bootstrap, dst, [run.pid], [set(range(PARTITIONS))])
        time.sleep(16)  # transaction.timeout.ms plus the broker's abort interval (10 s)
        run.send_signal(signal.SIGCONT)
        out, err = run.communicate(timeout=300)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert "starting a new producer" in err and "dedupe: read back" in err, err
    check_target(kafka_bootstrap, src, dst, json.loads(out))


def test_a_repeat_later_than_the_horizon_is_written_again(cli, kafka_bootstrap):
    src, dst = unique("rp-hz"), unique("rp-hz-dst")
    create_topic(kafka_bootstrap, src, 2)
    create_topic(kafka_bootstrap, dst, 2)
    t = int(time.time() * 1000) - 3_600_000
    minute = 60_000

    def event(p, key, ts):
        return {"partition": p, "value": b"%s@%d" % (key, ts - t), "timestamp": ts,
                "headers": [(KEY, key)]}

    produce(kafka_bootstrap, src, [
        event(0, b"a", t), event(0, b"a", t + 1 * minute),  # within 5 m: once
        event(0, b"b", t), event(0, b"b", t + 10 * minute),  # 10 m later: again
        event(0, b"b", t + 10 * minute + 1000),  # within 5 m of the second copy
        event(1, b"c", t + 20 * minute), event(1, b"c", t + 25 * minute),  # exactly 5 m: once
        event(1, b"c", t + 25 * minute + 1),  # 5 m + 1 ms after the first copy: again
    ])
    args = ["--from-topic", src, "--to-topic", dst, "--start-offset", "0",
            "--dedupe-header", KEY, "--dedupe-horizon", "5m"]
    result = cli("-b", kafka_bootstrap, "replay", *args, "--execute", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["dedupe"]["horizon_seconds"] == 300
    got = sorted(m.value() for m in copies(kafka_bootstrap, dst, range(2)).values())
    assert got == [b"a@0", b"b@0", b"b@600000", b"c@1200000", b"c@1500001"]
    assert result.json()["duplicates"] == 3


def test_dedupe_settings_are_part_of_the_identity(cli, kafka_bootstrap):
    src, dst = setup(kafka_bootstrap, 20, seed=SEED + 3)
    base = ["-b", kafka_bootstrap, "replay", "--from-topic", src, "--to-topic", dst,
            "--start-offset", "0", "-o", "json"]
    ids = set()
    for extra in ([], ["--dedupe-header", KEY], ["--dedupe-header", "other"],
                  ["--dedupe-header", KEY, "--dedupe-horizon", "10m"],
                  ["--dedupe-header", KEY, "--dedupe-horizon", "1h"]):
        result = cli(*base, *extra)
        assert result.code == 0, result.stderr
        ids.add(result.json()["replay_id"])
    assert len(ids) == 5
    assert cli(*base, "--dedupe-horizon", "10m").code == ExitCode.USAGE
    dropped = cli(*base, "--dedupe-header", KEY, "--drop-header", KEY)
    assert dropped.code == ExitCode.USAGE and "--drop-header" in dropped.stderr
    stamped = unique("rp-dd-lat")
    create_topic(kafka_bootstrap, stamped, PARTITIONS,
                 {"message.timestamp.type": "LogAppendTime"})
    horizon = ["--dedupe-header", KEY, "--dedupe-horizon", "10m"]
    refused = cli("-b", kafka_bootstrap, "replay", "--from-topic", src, "--to-topic", stamped,
                  "--start-offset", "0", *horizon)
    assert refused.code == ExitCode.REFUSED and "LogAppendTime" in refused.stderr
    assert cli("-b", kafka_bootstrap, "replay", "--from-topic", src, "--to-topic", stamped,
               "--start-offset", "0", "--dedupe-header", KEY).code == 0

"""`make demo` runs end to end: on a sandbox of its own (broker and registry), every step
exits 0, the story fits 80 columns, and the cluster ends as the story says."""

import json
import os
import re
import subprocess
import sys

from support.process import REPO, run_process

from ingestctl import sandbox


def test_demo_runs_end_to_end_in_80_columns(tmp_path):
    state = tmp_path / "demo-state"
    env = {**os.environ, "COLUMNS": "80"}
    try:
        done = subprocess.run([sys.executable, str(REPO / "demo" / "demo.py"),
                               "--state-dir", str(state)],
                              capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        bootstrap = sandbox.status(state / "sandbox").bootstrap
        status = run_process("-b", bootstrap, "-o", "json", "replay", "status", "outage-repair")
        group = run_process("-b", bootstrap, "-o", "json", "groups", "describe",
                            "warehouse-sink")
    finally:
        sandbox.stop(state / "sandbox")

    too_wide = [line for line in done.stdout.splitlines() if len(line) > 80]
    assert too_wide == []
    # librdkafka's own log lines (%6|…|BGQUEUE|…) show only with -v, the demo's clients too
    assert not re.findall(r"^%\d\|.*$", done.stdout + done.stderr, re.M)
    # commands as the reader would copy them: lines continued with a backslash joined
    text = re.sub(r" \\\n +", " ", done.stdout) + done.stderr
    for shown in ["$ ingestctl groups describe warehouse-sink", "replay window",
                  "nothing changed; add --execute to copy.", "replay completed",
                  "replay outage-repair: completed", "value_encoding: avro",
                  "subject: payments.authorized-value", "ingestctl-source-offset",
                  "applied and read back: warehouse-sink", "$ ingestctl topics audit",
                  "0 records of 0 keys (by idempotency-key)",
                  "sandbox stop --data-dir"]:
        assert shown in text, shown

    replay = json.loads(status.stdout)
    assert replay["status"] == "completed" and replay["invalid"] == 0
    assert replay["records"] == replay["window_records"] > 1000
    # the sink was moved to the outage's end: the replay's end offsets, partition by partition
    ends = {p["partition"]: p["end"] for p in replay["partitions"]}
    sink = json.loads(group.stdout)[0]
    assert {p["partition"]: p["committed"] for p in sink["partitions"]} == ends

"""`wave status` at scale: a wave of 1,000 partitions (10 topics x 100) and 20 consumer
groups, each with a committed offset on every partition, compared with a checkpoint taken
just before. Goal: under 1 s of client time per view.

A benchmark, not a test: prints the median of a few views (wall time, and the CPU time of
this process), the first view of a run (which also resolves the cluster and the checkpoint)
apart from the later ones (--watch's samples). Reuses bench/checkpoint.py's data set. Uses
INGESTCTL_BENCH_BOOTSTRAP when set, else starts its own sandbox broker.

    .venv/bin/python bench/wave_status.py
"""

import os
import statistics
import tempfile
import time
from pathlib import Path

from checkpoint import prepare

from ingestctl import checkpoints, sandbox
from ingestctl.checkpoints.waves import WaveScope
from ingestctl.config import Settings
from ingestctl.inspection import wave

RUNS = 5


def measure(bootstrap: str) -> None:
    topics, groups = prepare(bootstrap)
    settings = Settings(bootstrap_servers=bootstrap, timeout=30)
    with tempfile.TemporaryDirectory() as directory:
        checkpoints.write(checkpoints.capture(settings, "bench", topics, groups),
                          Path(directory))
        scope, baseline = wave.resolve_scope("bench", None, Path(directory))
        assert baseline is not None
        scope = WaveScope(topics, groups, [])
        firsts, walls, cpus = [], [], []
        for _ in range(RUNS):
            wall, cpu = time.perf_counter(), time.process_time()
            view = wave.WaveStatus(settings, "bench", scope, baseline)
            doc = view.sample()
            firsts.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            began = time.perf_counter()
            view.sample()
            walls.append(time.perf_counter() - began)
    partitions = sum(t["partitions"] for t in doc["topics"])
    print(f"wave status of {partitions} partitions and {len(doc['groups'])} groups, since a "
          f"checkpoint, {RUNS} runs:")
    print(f"  first view  median {statistics.median(firsts):.2f} s wall (min {min(firsts):.2f},"
          f" max {max(firsts):.2f}), {statistics.median(cpus):.2f} s CPU  goal < 1 s")
    print(f"  next views  median {statistics.median(walls):.2f} s wall (min {min(walls):.2f}, "
          f"max {max(walls):.2f})  (--watch)")


def main() -> None:
    bootstrap = os.environ.get("INGESTCTL_BENCH_BOOTSTRAP")
    if bootstrap:
        measure(bootstrap)
        return
    with tempfile.TemporaryDirectory() as tmp:
        status = sandbox.start(data_dir=tmp, port=sandbox.free_port())
        try:
            measure(status.bootstrap)
        finally:
            sandbox.stop(tmp)


if __name__ == "__main__":
    main()

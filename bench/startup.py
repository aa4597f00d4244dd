"""Start-up speed: `ingestctl --help`, `--version`, and `sandbox start` with cached jars.

A benchmark, not a test: prints medians. Goals: --help and --version under 0.3 s; a sandbox
start (fresh data dir, jars cached) under 10 s on the 2-core machine.
"""

import statistics
import subprocess
import sys
import tempfile
import time

from ingestctl import sandbox


def timed(args, runs=7):
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ingestctl", *args], capture_output=True,
                       check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    print(f"ingestctl --help     median {timed(['--help']):.3f} s  (goal < 0.3 s)")
    print(f"ingestctl --version  median {timed(['--version']):.3f} s  (goal < 0.3 s)")
    sandbox.resolve_kafka_jars(sandbox.DEFAULT_KAFKA_VERSION)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        status = sandbox.start(data_dir=tmp, port=sandbox.free_port())
        fresh = time.perf_counter() - began
        sandbox.stop(tmp)
        began = time.perf_counter()
        sandbox.start(data_dir=tmp)
        restart = time.perf_counter() - began
        sandbox.stop(tmp)
    print(f"sandbox start (fresh data dir, cached jars)  {fresh:.1f} s  (goal < 10 s)")
    print(f"sandbox start (restart, existing data dir)    {restart:.1f} s")
    print(f"broker: {status.kafka_version}")


if __name__ == "__main__":
    main()

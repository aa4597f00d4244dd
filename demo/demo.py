"""The demo: start a sandbox broker and show the tool working against it.

Run with `make demo`. It grows as capabilities land; every step is a real ingestctl command.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "demo-state" / "sandbox"


def step(title: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    print(f"\n\033[1m== {title}\033[0m")
    print(f"$ ingestctl {shlex.join(args)}")
    sys.stdout.flush()
    result = subprocess.run([sys.executable, "-m", "ingestctl", *args], env=os.environ)
    if check and result.returncode != 0:
        sys.exit(f"demo step failed with exit code {result.returncode}")
    return result


def main() -> None:
    step("Start a local Apache Kafka (KRaft) sandbox", "sandbox", "start",
         "--data-dir", str(DATA_DIR))
    status = subprocess.run(
        [sys.executable, "-m", "ingestctl", "sandbox", "status", "--data-dir", str(DATA_DIR),
         "-o", "json"], capture_output=True, text=True, check=True)
    import json

    bootstrap = json.loads(status.stdout)["bootstrap"]
    os.environ["INGESTCTL_BOOTSTRAP_SERVERS"] = bootstrap
    step("What cluster is this?", "cluster", "info")
    print(f"\nThe sandbox keeps running at {bootstrap}. Stop it with:\n"
          f"  .venv/bin/ingestctl sandbox stop --data-dir {DATA_DIR}")


if __name__ == "__main__":
    main()

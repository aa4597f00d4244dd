"""ingestctl as a real process, and where the repository is."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def run_process(*args: str, timeout: float = 60, env: dict | None = None,
                **kwargs) -> subprocess.CompletedProcess:
    """ingestctl as a real process (exit codes, signals, stray output of librdkafka)."""
    return subprocess.run(
        [sys.executable, "-m", "ingestctl", *[str(a) for a in args]],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, **kwargs,
    )

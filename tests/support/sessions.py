"""The sandboxes this test session began, by name (sandbox-a, sandbox-b): their data dirs."""

from pathlib import Path

SESSION_SANDBOXES: dict[str, Path] = {}

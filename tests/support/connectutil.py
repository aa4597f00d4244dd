"""Helpers for tests on the real Kafka Connect worker: a client, file sink connectors that are
deleted afterwards, and polling for what the worker does on its own schedule."""

from contextlib import contextmanager
from pathlib import Path

from ingestctl.config import Settings
from ingestctl.services import connect

from .waiting import wait_for  # noqa: F401  (the worker delivers and commits every second)

FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
FILE_SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"


def client(worker, timeout: float = 30) -> connect.Connect:
    return connect.Connect(Settings(connect_url=worker.url, bootstrap_servers=worker.bootstrap,
                                    timeout=timeout))


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def offsets_of(worker, name: str) -> dict[tuple[str, int], int]:
    return connect.sink_offsets(client(worker).offsets(name))


@contextmanager
def connector(worker, name: str, config: dict[str, str]):
    """A connector that is RUNNING, deleted when the block ends."""
    c = client(worker)
    c.put_config(name, {"tasks.max": "1", **config})
    try:
        c.wait_for_state(name, "RUNNING")
        yield c
    finally:
        if name in c.connectors():  # a test may have deleted it
            c.delete(name)

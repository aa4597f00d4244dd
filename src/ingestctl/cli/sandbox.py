"""`ingestctl sandbox start|stop|status`: a local Apache Kafka for trying the tool."""

from pathlib import Path
from typing import Annotated

import typer

from .. import sandbox
from .context import app_context
from .render import emit, key_values, note

app = typer.Typer(
    help="A local single-node Apache Kafka (KRaft) from Maven Central jars, no Docker.",
    no_args_is_help=True,
)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="The sandbox's directory (default: the user state dir).")]


def _show(output: str, status: sandbox.Status) -> None:
    emit(output, status.as_dict(),
         lambda d: [key_values(None, [(k, v) for k, v in d.items() if v is not None])])


@app.command("start")
def start(
    ctx: typer.Context,
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(
        "--port", help="Broker port on 127.0.0.1 (default 9092, or a free one if taken).")] = None,
    kafka_version: Annotated[str, typer.Option(
        "--kafka-version", help="Apache Kafka version to resolve from Maven Central.")
    ] = sandbox.DEFAULT_KAFKA_VERSION,
    kafka_home: Annotated[str | None, typer.Option(
        "--kafka-home", envvar="KAFKA_HOME",
        help="Use an unpacked Apache Kafka distribution instead of Maven jars.")] = None,
) -> None:
    """Start (or restart, keeping its data) a sandbox broker and wait until it answers."""
    state = app_context(ctx)
    status = sandbox.start(
        data_dir=data_dir, port=port, kafka_version=kafka_version, kafka_home=kafka_home,
        progress=lambda msg: note(msg),
    )
    if status.already_running:
        note(f"the sandbox in {status.data_dir} is already running at {status.bootstrap}.")
    else:
        note(f"sandbox ready at {status.bootstrap} in {status.started_in_seconds:.1f} s; "
             f"log: {status.log}")
    _show(state.output, status)


@app.command("stop")
def stop(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """Stop every process this sandbox's start began; its data stays for a restart."""
    state = app_context(ctx)
    status = sandbox.stop(data_dir)
    note(f"sandbox in {status.data_dir} stopped.")
    _show(state.output, status)


@app.command("status")
def status(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """Whether the sandbox runs, and where."""
    state = app_context(ctx)
    _show(state.output, sandbox.status(data_dir))

"""`ingestctl sandbox start|stop|status`: a local Apache Kafka for trying the tool."""

from pathlib import Path
from typing import Annotated

import typer

from .. import sandbox
from ..errors import UsageError
from . import views
from .context import app_context
from .render import emit, note

app = typer.Typer(
    help="A local single-node Apache Kafka (KRaft) from Maven Central jars, no Docker.",
    no_args_is_help=True,
)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="The sandbox's directory (default: the user state dir).")]


def _show(output: str, status: sandbox.Status) -> None:
    emit(output, status.as_dict(), views.sandbox_status)


@app.command("start")
def start(
    ctx: typer.Context,
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(
        "--port", help="Broker port on 127.0.0.1 (default 9092, or a free one if taken).")] = None,
    kafka_version: Annotated[str | None, typer.Option(
        "--kafka-version", help="Apache Kafka version to resolve from Maven Central: "
        f"{', '.join(sandbox.SUPPORTED_KAFKA_VERSIONS)} (default {sandbox.DEFAULT_KAFKA_VERSION}"
        ", or the one a restarted data dir was formatted with).")] = None,
    kafka_home: Annotated[str | None, typer.Option(
        "--kafka-home", envvar="KAFKA_HOME",
        help="Use an unpacked Apache Kafka distribution instead of Maven jars.")] = None,
    with_registry: Annotated[bool, typer.Option(
        "--with-registry",
        help="Also run an Apicurio Registry (Confluent-compatible API; needs Java 21+).")
    ] = False,
    registry_port: Annotated[int | None, typer.Option(
        "--registry-port", help="Registry port on 127.0.0.1 (default 8081, or a free one).")
    ] = None,
    with_connect: Annotated[bool, typer.Option(
        "--with-connect", help="Also run a one-worker Kafka Connect cluster.")] = False,
    connect_port: Annotated[int | None, typer.Option(
        "--connect-port", help="Connect REST port on 127.0.0.1 (default 8083, or a free one).")
    ] = None,
    security: Annotated[bool, typer.Option(
        "--security", help="Also listen with SASL (SCRAM-SHA-512, PLAIN) and TLS (a CA and "
        "certificates made here), and enforce ACLs; super user 'admin'. Kept on restarts.")
    ] = False,
    mirror_from: Annotated[str | None, typer.Option(
        "--mirror-from", help="Also run MirrorMaker 2 mirroring the cluster at BOOTSTRAP into "
        "this sandbox (topics, and groups' offsets). Resumed on restarts.")] = None,
    mirror_alias: Annotated[str, typer.Option(
        "--mirror-alias", help="The source cluster's alias: topics arrive as ALIAS.topic.")
    ] = "source",
    mirror_topics: Annotated[str, typer.Option(
        "--mirror-topics", help="Regex of the topics to mirror (default: all but internal "
        "ones).")] = ".*",
    mirror_identity: Annotated[bool, typer.Option(
        "--mirror-identity", help="Keep topic names (IdentityReplicationPolicy) instead of "
        "prefixing them with the alias.")] = False,
) -> None:
    """Start (or restart, keeping its data) a sandbox broker, and the schema registry or Kafka
    Connect when asked, and wait until each answers. On a running sandbox, starts only the
    requested components it lacks."""
    state = app_context(ctx)
    if registry_port and not with_registry:
        raise UsageError("--registry-port needs --with-registry.")
    if connect_port and not with_connect:
        raise UsageError("--connect-port needs --with-connect.")
    if not mirror_from and (mirror_alias != "source" or mirror_topics != ".*"
                            or mirror_identity):
        raise UsageError("--mirror-alias, --mirror-topics and --mirror-identity need "
                         "--mirror-from.")
    status = sandbox.start(
        data_dir=data_dir, port=port, kafka_version=kafka_version, kafka_home=kafka_home,
        progress=lambda msg: note(msg), with_registry=with_registry,
        registry_port=registry_port, with_connect=with_connect, connect_port=connect_port,
        security=security, mirror_from=mirror_from, mirror_alias=mirror_alias,
        mirror_topics=mirror_topics, mirror_identity=mirror_identity,
    )
    if status.already_running:
        note(f"the sandbox in {status.data_dir} is already running at {status.bootstrap}.")
    else:
        note(f"sandbox ready at {status.bootstrap} in {status.started_in_seconds:.1f} s; "
             f"log: {status.log}")
    for name, wanted, url in (("registry", with_registry, status.registry_url),
                              ("connect", with_connect, status.connect_url)):
        if name in status.started:
            note(f"started {sandbox.COMPONENTS[name]} at {url} "
                 f"in {status.started[name]:.1f} s.")
        elif wanted:
            note(f"{sandbox.COMPONENTS[name]} is already running at {url}.")
    if "mirror" in status.started and status.mirror:
        note(f"MirrorMaker 2 mirrors {status.mirror['from']} (alias {status.mirror['alias']}, "
             f"{status.mirror['policy']} policy) in {status.started['mirror']:.1f} s; log: "
             f"{status.mirror['log']}")
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

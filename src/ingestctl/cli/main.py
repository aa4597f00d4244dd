"""The entry point: global options, sub-command registration, and the single error boundary
that turns IngestError into one line on stderr and its documented exit code."""

import inspect
import logging
import sys
import traceback
from typing import Annotated

import typer
from typer.exceptions import TyperException

from .. import __version__, secrets
from ..errors import ExitCode, IngestError
from . import checkpoint as checkpoint_cmd
from . import cluster, config_cmd, replay, sandbox
from . import connectors as connectors_cmd
from . import cutover as cutover_cmd
from . import groups as groups_cmd
from . import rehearse as rehearse_cmd
from . import rollback as rollback_cmd
from . import topics as topics_cmd
from . import wave as wave_cmd
from .context import AppContext, refuse_empty

app = typer.Typer(
    name="ingestctl",
    help="Inspect, checkpoint, replay and roll back Kafka ingestion pipelines.\n\n"
    "Commands that change a cluster print a plan and change nothing without --execute.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(config_cmd.app, name="config")
app.add_typer(cluster.app, name="cluster")
app.add_typer(connectors_cmd.app, name="connectors")
app.add_typer(checkpoint_cmd.app, name="checkpoint")
app.add_typer(topics_cmd.app, name="topics")
app.add_typer(groups_cmd.app, name="groups")
app.command("rollback")(rollback_cmd.rollback)
app.add_typer(replay.app, name="replay")
app.add_typer(wave_cmd.app, name="wave")
app.add_typer(rehearse_cmd.app, name="rehearse")
app.add_typer(cutover_cmd.app, name="cutover")


def _reflowed(text: str | None) -> str | None:
    """A docstring with each paragraph's lines joined: Typer's help keeps the line breaks,
    so in an 80-column terminal every long line wrapped again, ragged. Paragraphs with
    indented lines (examples) stay as written."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if any(line.startswith(" ") for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs)


def _reflow_help(typer_app: typer.Typer) -> None:
    infos = [*typer_app.registered_commands, typer_app.registered_callback]
    for info in filter(None, infos):
        info.help = _reflowed(info.help)  # given as help=, else the docstring is used
        info.callback.__doc__ = _reflowed(info.callback.__doc__)
    for group in typer_app.registered_groups:
        group.typer_instance.info.help = _reflowed(group.typer_instance.info.help)
        _reflow_help(group.typer_instance)


_reflow_help(app)

_OUTPUTS = ("table", "json", "yaml")


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return secrets.scrub(super().format(record))


def _configure_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ScrubbingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("ingestctl")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(
        logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    )
    # librdkafka's own log lines are noise at 3 a.m. unless asked for with -v.
    logging.getLogger("ingestctl.librdkafka").setLevel(
        logging.CRITICAL + 1 if verbose == 0 else logging.DEBUG
    )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ingestctl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            envvar="INGESTCTL_PROFILE",
            metavar="NAME",
            help="Profile from the config file.",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="INGESTCTL_CONFIG",
            metavar="FILE",
            help="Config file (YAML with profiles).",
        ),
    ] = None,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers",
            "-b",
            envvar="INGESTCTL_BOOTSTRAP_SERVERS",
            metavar="SERVERS",
            help="Kafka bootstrap servers, host:port[,host:port].",
        ),
    ] = None,
    x_props: Annotated[
        list[str] | None,
        typer.Option(
            "-X", metavar="KEY=VALUE", help="Any librdkafka property as key=value (repeatable)."
        ),
    ] = None,
    command_config: Annotated[
        str | None,
        typer.Option("--command-config", metavar="FILE", help="Java-style client.properties file."),
    ] = None,
    schema_registry: Annotated[
        str | None, typer.Option("--schema-registry", metavar="URL", help="Schema registry URL.")
    ] = None,
    connect_url: Annotated[
        str | None, typer.Option("--connect-url", metavar="URL", help="Kafka Connect REST URL.")
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            envvar="INGESTCTL_OUTPUT",
            metavar="FORMAT",
            help="table, json or yaml.",
        ),
    ] = "table",
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            show_default=False,
            help="More detail on stderr (-vv for debug).",
        ),
    ] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", metavar="SECONDS", help="Seconds to wait for the cluster (default 10)."
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    if output not in _OUTPUTS:
        raise typer.BadParameter(
            f"'{output}' is not one of table, json, yaml.", param_hint="--output"
        )
    refuse_empty(("--profile", profile), ("--config", config),
                 ("--bootstrap-servers", bootstrap_servers),
                 ("--command-config", command_config), ("--schema-registry", schema_registry),
                 ("--connect-url", connect_url))
    _configure_logging(verbose)
    ctx.obj = AppContext(
        output=output,
        verbose=verbose,
        debug=debug,
        config=config,
        profile=profile,
        bootstrap_servers=bootstrap_servers,
        x_props=list(x_props or []),
        command_config=command_config,
        schema_registry=schema_registry,
        connect_url=connect_url,
        timeout=timeout,
    )
    _state["debug"] = debug


_state = {"debug": False}


def _hoist_output(argv: list[str]) -> list[str]:
    """Let -o/--output appear anywhere (`topics list -o json`): move it before the command."""
    hoisted, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in ("-o", "--output") and i + 1 < len(argv):
            hoisted += [arg, argv[i + 1]]
            i += 2
            continue
        if arg.startswith("--output="):
            hoisted.append(arg)
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


def _error(message: str, details: list[str] | None = None) -> None:
    sys.stderr.write(secrets.scrub(f"ingestctl: error: {message}") + "\n")
    for line in details or []:
        sys.stderr.write(secrets.scrub(f"  - {line}") + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code. All errors end here."""
    _state["debug"] = False
    secrets.forget_all()
    args = _hoist_output(list(sys.argv[1:] if argv is None else argv))
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="ingestctl", standalone_mode=False)
        return result if isinstance(result, int) else ExitCode.OK
    except typer.Exit as exc:
        return exc.exit_code
    except TyperException as exc:  # usage errors: bad flag or value
        exc.show(file=sys.stderr)
        return ExitCode.USAGE
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("ingestctl: interrupted; nothing was left half-done.\n")
        return ExitCode.INTERRUPTED
    except IngestError as exc:
        if _state["debug"]:
            sys.stderr.write(secrets.scrub(traceback.format_exc()))
        _error(exc.message, exc.details)
        return exc.exit_code
    except Exception as exc:  # a bug: one line, and the traceback only when asked for
        if _state["debug"]:
            sys.stderr.write(secrets.scrub(traceback.format_exc()))
        _error(
            f"internal error: {exc.__class__.__name__}: {exc}. This is a bug; rerun with "
            "--debug for the traceback."
        )
        return ExitCode.INTERNAL


def run() -> None:
    sys.exit(main())

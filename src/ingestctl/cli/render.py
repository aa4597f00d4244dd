"""Rendering: one data structure, shown as a rich table on a terminal or as exactly one JSON
or YAML document on stdout. Hints, warnings and progress always go to stderr."""

import json
import sys
from collections.abc import Callable, Iterable

from rich.console import Console
from rich.table import Table

from .. import secrets


def stdout() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


def emit(output: str, data, table: Callable[[object], Iterable] | None = None) -> None:
    """Print data in the chosen format. `table` turns data into rich renderables."""
    if output == "json":
        sys.stdout.write(secrets.scrub(json.dumps(data, indent=2, default=str)) + "\n")
    elif output == "yaml":
        import yaml

        sys.stdout.write(secrets.scrub(yaml.safe_dump(data, sort_keys=False, allow_unicode=True)))
    else:
        console = stdout()
        renderables = table(data) if table else [json.dumps(data, indent=2, default=str)]
        for item in renderables:
            console.print(item)


def note(message: str, style: str | None = None) -> None:
    """A hint or warning for the human: stderr, never mixed into the data on stdout."""
    stderr().print(secrets.scrub(message), style=style, markup=False, soft_wrap=True)


def make_table(title: str | None, columns: list[str], rows: Iterable[Iterable]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        justify = "right" if column.lower() in _NUMERIC else "left"
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


def key_values(title: str | None, pairs: Iterable[tuple[str, object]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, show_edge=False,
                  pad_edge=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in pairs:
        table.add_row(key, "" if value is None else str(value))
    return table


_NUMERIC = {
    "partition", "partitions", "p", "offset", "records", "lag", "end", "log-start", "start",
    "committed", "current", "target", "delta", "members", "rf", "bytes", "filtered",
    "lag (s)", "leader", "total lag", "consumed", "produced", "port", "pid", "invalid",
}

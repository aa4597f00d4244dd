"""Rendering: one data structure, shown as a rich table on a terminal or as exactly one JSON
or YAML document on stdout. Hints, warnings and progress always go to stderr."""

import json
import sys
from collections.abc import Callable, Iterable

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

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
    # No vertical rules: columns separated by spaces keep wide tables inside 80 columns.
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False,
                  box=box.SIMPLE_HEAD, collapse_padding=True, title_style="bold")
    for column in columns:
        justify = "right" if column.lower() in _NUMERIC else "left"
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    return table


def key_values(title: str | None, pairs: Iterable[tuple[str, object]]):
    table = Table(show_header=False, show_edge=False, pad_edge=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in pairs:
        table.add_row(key, "" if value is None else str(value))
    # A title on its own line: as the table's title it would wrap at the table's width.
    return Group(Text(title, style="bold"), table) if title else table


_NUMERIC = {
    "partition", "behind", "partitions", "p", "offset", "records", "lag", "end", "log-start",
    "start",
    "committed", "current", "target", "delta", "members", "rf", "bytes", "filtered",
    "lag (s)", "leader", "total lag", "consumed", "produced", "port", "pid", "invalid",
}


def table_time(iso: str | None) -> str:
    """'2026-11-26T22:41:19.000Z' -> '11-26 22:41:19' for a table cell (UTC; JSON keeps the
    full ISO-8601 form)."""
    if not iso:
        return ""
    return f"{iso[5:10]} {iso[11:19]}"


def duration(seconds: float | None) -> str:
    """4219.2 -> '1h 10m', 42.5 -> '42s', 0.3 -> '0.3s': two units at most."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s" if seconds % 1 else f"{int(seconds)}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    while units and units[0][0] == 0:
        units.pop(0)
    return " ".join(f"{n}{u}" for n, u in units[:2] if n) or "0s"

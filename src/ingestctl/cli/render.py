"""Printers: one data structure, shown as a rich table on a terminal or as exactly one JSON or
YAML document on stdout. Hints, warnings and progress always go to stderr.

View builders (cli/views.py) turn a command's data into views: `Table` (title, typed columns,
rows), `Pairs` (key and value lines) and `Line` (a sentence). This module lays them out for
the terminal's width. Identifiers, numbers, states and times are never split across lines
(times take a shorter form where space is short: `11-30 03:42`); only free text (topics,
notes) gives way, cut with an ellipsis. JSON and YAML always carry every value whole.
"""

import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.table import Table as RichTable
from rich.text import Text

from .. import secrets

# -- column kinds -------------------------------------------------------------------------

IDENT = "ident"    # ids, names, refs, cluster ids: whole, on one line
NUMBER = "number"  # right-aligned, whole
STATE = "state"    # Stable, RUNNING, completed: whole
TIME = "time"      # an ISO-8601 UTC string; shown in the longest form that fits
PATH = "path"      # a file path: whole where it fits, else folded (JSON has it whole)
TEXT = "text"      # free text (topics, notes, errors): cut with an ellipsis where space is short


@dataclass(frozen=True)
class Col:
    header: str
    kind: str = IDENT
    # TIME: the first form tried (0: full ISO-8601, 1: `11-26 02:10:00`, 2: `11-26 02:10`).
    time_form: int = 0
    # 0: always shown; 1: left out when the table does not fit otherwise (JSON and the
    # describe views keep the value); 2: left out only as the last resort.
    optional: int = 0


@dataclass
class Table:
    """A table view: typed columns and rows of plain values (None shows as empty)."""
    title: str | None
    columns: list[Col]
    rows: list[tuple]

    def add_row(self, *values) -> None:
        self.rows.append(tuple(values))

    def __rich_console__(self, console, options):
        yield from _render_table(self, console, options)


@dataclass
class Pairs:
    """Key and value lines under an optional title; each pair is (key, value) or
    (key, value, kind), the kind IDENT unless given: only TEXT is ever cut."""
    title: str | None
    pairs: list[tuple] = field(default_factory=list)

    def __rich_console__(self, console, options):
        yield from _render_pairs(self, options)


@dataclass
class Line:
    """A sentence: wrapped between words, never inside one."""
    text: str

    def __rich_console__(self, console, options):
        yield from _flowed(self.text, options.max_width)


def _flowed(text: str, width: int, style: str | None = None):
    """Lines of at most `width` cells, broken between words only: a word longer than a line
    (an identifier) stands whole on a line of its own."""
    line = ""
    for word in text.split(" "):
        if line and cell_len(line) + 1 + cell_len(word) > width:
            yield Text(line, style=style or "", no_wrap=True, overflow="ignore")
            line = word
        else:
            line = f"{line} {word}" if line else word
    yield Text(line, style=style or "", no_wrap=True, overflow="ignore")


# -- printing --------------------------------------------------------------------------------

def stdout() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False)


def emit(output: str, data, table: Callable[[object], Iterable] | None = None) -> None:
    """Print data in the chosen format. `table` turns data into views (or rich renderables)."""
    if output == "json":
        sys.stdout.write(json.dumps(secrets.scrub_data(data), indent=2) + "\n")
    elif output == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(secrets.scrub_data(data), sort_keys=False,
                                        allow_unicode=True))
    else:
        console = stdout()
        renderables = table(data) if table else [json.dumps(data, indent=2, default=str)]
        for item in renderables:
            if isinstance(item, str):
                item = Line(item)
            # Not cropped: a line holding an identifier longer than the terminal runs on
            # (the terminal shows the rest) rather than lose its end.
            console.print(item, crop=False)


def note(message: str, style: str | None = None) -> None:
    """A hint or warning for the human: stderr, never mixed into the data on stdout."""
    stderr().print(secrets.scrub(message), style=style, markup=False, soft_wrap=True)


def make_table(title: str | None, columns: Iterable[str | Col], rows: Iterable[Iterable]
               ) -> Table:
    """A table view; a column given by its header alone takes the kind its name suggests."""
    return Table(title, [c if isinstance(c, Col) else _guess(c) for c in columns],
                 [tuple(row) for row in rows])


def key_values(title: str | None, pairs: Iterable[tuple]) -> Pairs:
    return Pairs(title, list(pairs))


def dash(value):
    """A value a table shows as '-' when it is unknown (null in JSON)."""
    return "-" if value is None else value


_NUMERIC = {
    "partition", "behind", "partitions", "p", "offset", "records", "lag", "end", "log-start",
    "start", "next", "remaining", "task", "id", "version",
    "committed", "current", "target", "delta", "members", "rf", "bytes", "filtered",
    "lag (s)", "leader", "total lag", "consumed", "produced", "port", "pid", "invalid",
}
_STATES = {"state", "status", "group state", "type"}
_TEXTS = {"topic", "topics", "note", "error", "value", "headers", "key", "schema", "source",
          "target topic", "from", "to"}


def _guess(header: str) -> Col:
    name = header.lower()
    if name in _NUMERIC:
        return Col(header, NUMBER)
    if name in _STATES:
        return Col(header, STATE)
    if name in _TEXTS:
        return Col(header, TEXT)
    if "timestamp" in name or "(utc)" in name or name in ("created at", "updated", "created"):
        return Col(header, TIME)
    return Col(header, IDENT)


# -- times and durations ---------------------------------------------------------------------

def table_time(iso: str | None) -> str:
    """'2026-11-26T22:41:19.000Z' -> '11-26 22:41:19' for a table cell (UTC; JSON keeps the
    full ISO-8601 form)."""
    return time_form(iso, 1)


def time_form(iso: str | None, form: int) -> str:
    """Form 0: the ISO-8601 string as it is; 1: '11-26 22:41:19'; 2: '11-26 22:41'."""
    if not iso:
        return ""
    iso = str(iso)
    if len(iso) < 16 or iso[10] != "T":  # not an ISO-8601 time: shown as it is
        return iso
    if form <= 0:
        return iso
    if form == 1:
        return f"{iso[5:10]} {iso[11:19]}"
    return f"{iso[5:10]} {iso[11:16]}"


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


# -- table layout ----------------------------------------------------------------------------

ELLIPSIS = "…"
_TEXT_COMFORT = 16  # free text keeps this much before optional columns are left out
_TEXT_FLOOR = 8     # and this much at the least


@dataclass(frozen=True)
class _Step:
    time_shift: int      # how many forms shorter than each column's first
    wrap_headers: bool   # a header may wrap onto two lines (its column as narrow as its data)
    drop: int            # columns whose `optional` is this or less (and above 0) are left out
    gap: int             # spaces between columns
    text_floor: int | None  # free text may be cut down to this (None: kept whole)


# Tried in order until the table fits; the last one is printed even when it does not (wider
# than the terminal, but with no value split).
_STEPS = (
    _Step(0, False, 0, 2, None),
    _Step(0, True, 0, 2, None),
    _Step(1, True, 0, 2, None),
    _Step(1, True, 0, 2, _TEXT_COMFORT),
    _Step(1, True, 1, 2, _TEXT_COMFORT),
    _Step(1, True, 1, 1, _TEXT_COMFORT),
    _Step(2, True, 1, 1, _TEXT_COMFORT),
    _Step(2, True, 1, 1, _TEXT_FLOOR),
    _Step(2, True, 2, 1, _TEXT_FLOOR),
)


def _text(value) -> str:
    return "" if value is None else str(value).replace("\n", "\\n")


def _cells(col: Col, values: list, time_shift: int) -> list[str]:
    if col.kind == TIME:
        form = min(2, col.time_form + time_shift)
        return [time_form(v, form) if v not in (None, "-") else _text(v) for v in values]
    return [_text(v) for v in values]


def _header_width(header: str, wrap: bool) -> int:
    if not wrap:
        return cell_len(header)
    return max((cell_len(word) for word in header.split()), default=0)


def _layout(view: Table, width: int):
    """(step, shown column indexes, widths, cells by column) of the first step that fits."""
    columns = view.columns
    # What a column shows, and its widest cell, change between steps only with the time form:
    # worked out once per column and time shift (a big table has thousands of rows).
    cells_by_shift: dict[tuple[int, int], list[str]] = {}
    widest: dict[tuple[int, int], int] = {}
    for number, step in enumerate(_STEPS):
        last = number == len(_STEPS) - 1
        shown = [i for i, c in enumerate(columns) if not 0 < c.optional <= step.drop]
        keys = {i: (i, step.time_shift if columns[i].kind == TIME else 0) for i in shown}
        for i, key in keys.items():
            if key not in cells_by_shift:
                cells_by_shift[key] = _cells(columns[i], [row[i] for row in view.rows],
                                             step.time_shift)
                widest[key] = max(map(cell_len, cells_by_shift[key]), default=0)
        cells = {i: cells_by_shift[key] for i, key in keys.items()}
        natural = {i: max(widest[key], _header_width(columns[i].header, step.wrap_headers))
                   for i, key in keys.items()}
        widths = dict(natural)
        room = width - step.gap * (len(shown) - 1)
        free = [i for i in shown if columns[i].kind == TEXT]
        if step.text_floor is not None and free:
            fixed = sum(widths[i] for i in shown if i not in free)
            widths.update(_share(room - fixed, {i: natural[i] for i in free}, {
                i: max(min(natural[i], step.text_floor),
                       _header_width(columns[i].header, True)) for i in free}))
        if sum(widths.values()) <= room or last:
            return step, shown, widths, cells
    raise AssertionError("unreachable")


def _share(room: int, natural: dict[int, int], floor: dict[int, int]) -> dict[int, int]:
    """Widths for the free-text columns: the narrow keep their natural width, the wide share
    what is left evenly, and none goes below its floor."""
    widths = dict(floor)
    pending = sorted(natural, key=lambda i: natural[i])
    left = room
    while pending:
        fair = left // len(pending)
        i = pending[0]
        if natural[i] <= fair:
            widths[i] = natural[i]
        else:
            for j in pending:
                widths[j] = max(floor[j], fair)
            break
        left -= widths[i]
        pending.pop(0)
    return widths


def cut(value, width: int) -> str:
    """A value as one line of at most `width` cells, ending in an ellipsis when cut."""
    text = _text(value)
    if cell_len(text) <= width:
        return text
    out = ""
    for char in text:
        if cell_len(out + char) > width - 1:
            break
        out += char
    return out + ELLIPSIS


def _cell(value, shown: str, width: int, kind: str) -> str | Text:
    """A cell as the table shows it: free text cut to its width; a rich Text (a state in its
    colour, say) keeps its styles unless cut or reformatted; any other value is a string,
    printed as it is (never read as console markup)."""
    text = cut(shown, width) if kind == TEXT else shown
    if isinstance(value, Text):
        return value if text == value.plain else Text(text, style=value.style)
    return text


def _render_table(view: Table, console, options):
    if view.title:
        yield from _flowed(view.title, options.max_width, "bold")
    step, shown, widths, cells = _layout(view, options.max_width)
    total = sum(widths.values()) + step.gap * (len(shown) - 1)
    options = options.update(width=max(total, 1))
    yield from console.render(_header(view, step, shown, widths), options)
    # The rows are written here, a line each: every width is fixed and no cell wraps, so a
    # cell is its value justified in its width. (Rich's table measured, padded and cropped
    # each cell, which cost seconds for tables of thousands of rows.)
    # Between two cells: the padding of the first, then the box's divider (a space, or '|'
    # where rich draws its boxes in ASCII).
    divider = box.SIMPLE_HEAD.substitute(options, console.safe_box).mid_vertical
    gap = " " * (step.gap - 1) + divider
    justified = [_justified(view, i, cells[i], widths[i], console, options) for i in shown]
    for line in zip(*justified, strict=True):
        if all(isinstance(cell, str) for cell in line):
            yield Segment(gap.join(line))
        else:
            for number, cell in enumerate(line):
                if number:
                    yield Segment(gap)
                if isinstance(cell, str):
                    yield Segment(cell)
                else:
                    yield from cell  # rich's segments: a terminal writes styles per segment
        yield Segment.line()


def _header(view: Table, step: _Step, shown: list[int], widths: dict[int, int]) -> RichTable:
    """The header row (a header may fold over several lines) and the rule under it, laid out
    by rich: a table of the shown columns with no rows."""
    table = RichTable(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD,
                      collapse_padding=True, padding=(0, 1) if step.gap == 2 else (0, 0))
    for i in shown:
        col = view.columns[i]
        table.add_column(Text(col.header, overflow="fold", no_wrap=False),
                         justify="right" if col.kind == NUMBER else "left", width=widths[i])
    return table


# Rich's Text expands tabs and drops some control codes: a cell holding one is rendered by
# rich, as a styled cell is, rather than padded by its length here.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _justified(view: Table, i: int, shown: list[str], width: int, console, options) -> list:
    """Column i's cells, each `width` cells wide: a string, or the segments rich renders a
    styled Text (or text with a control code) into."""
    col = view.columns[i]
    justify = "right" if col.kind == NUMBER else "left"
    cell_options = options.update(width=width, justify=justify, no_wrap=True,
                                  overflow="ellipsis", height=None)
    out: list[str | list[Segment]] = []
    for row, text in zip(view.rows, shown, strict=True):
        cell = _cell(row[i], text, width, col.kind)
        if isinstance(cell, Text) or _CONTROL.search(cell):
            # One line at most: the value fits its width (past it, a tab expanded is cut, as
            # before), and nothing at all is rendered 0 cells wide.
            lines = console.render_lines(Text(cell) if isinstance(cell, str) else cell,
                                         cell_options)
            out.append(lines[0] if lines else [])
        elif justify == "right":
            cell = cell.rstrip()  # as rich justifies to the right
            out.append(" " * (width - cell_len(cell)) + cell)
        else:
            out.append(cell + " " * (width - cell_len(cell)))
    return out


# -- key and value lines ---------------------------------------------------------------------

def _render_pairs(view: Pairs, options):
    width = options.max_width
    if view.title:
        yield from _flowed(view.title, options.max_width, "bold")
    rows = []
    for pair in view.pairs:
        key, value = pair[0], pair[1]
        kind = pair[2] if len(pair) > 2 else IDENT
        rows.append((str(key), _text(value), kind))
    key_width = max((cell_len(k) for k, _, _ in rows), default=0)
    room = max(width - key_width - 2, 1)
    for key, value, kind in rows:
        head = Text(key.ljust(key_width), style="bold")
        if kind == TEXT:
            yield Text.assemble(head, "  ", cut(value, room), no_wrap=True, overflow="ignore")
        elif kind == PATH and cell_len(value) > room:
            yield head
            yield Text(value, overflow="fold")
        else:
            yield Text.assemble(head, "  ", value, no_wrap=True, overflow="ignore")

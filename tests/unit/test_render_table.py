"""How render.py prints a table: values as they are, and rows written directly, byte for
byte as rich's table printed them.

The reference below is the renderer that handed every row to a rich table (as of commit
f46fbe8, where cells had just become literal text), kept here only to compare against:
random tables (every column kind, headers with spaces that fold, None, long identifiers,
styled rich Text cells, wide and combining characters, tabs and control codes, brackets)
at widths 20 to 200, printed as `emit` prints them, in plain text, in colour, and on a
console that can only show ASCII."""

import io
import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from ingestctl.cli import render
from ingestctl.cli.render import NUMBER, TEXT, Col

# -- the reference: every cell through rich's table -------------------------------------------


def reference_layout(view, width):
    """render._layout as it was, recomputing every column at every step."""
    columns = view.columns
    for number, step in enumerate(render._STEPS):
        last = number == len(render._STEPS) - 1
        shown = [i for i, c in enumerate(columns) if not 0 < c.optional <= step.drop]
        cells = {i: render._cells(columns[i], [row[i] for row in view.rows], step.time_shift)
                 for i in shown}
        natural = {i: max([cell_len(s) for s in cells[i]] +
                          [render._header_width(columns[i].header, step.wrap_headers)])
                   for i in shown}
        widths = dict(natural)
        room = width - step.gap * (len(shown) - 1)
        free = [i for i in shown if columns[i].kind == TEXT]
        if step.text_floor is not None and free:
            fixed = sum(widths[i] for i in shown if i not in free)
            widths.update(render._share(room - fixed, {i: natural[i] for i in free}, {
                i: max(min(natural[i], step.text_floor),
                       render._header_width(columns[i].header, True)) for i in free}))
        if sum(widths.values()) <= room or last:
            return step, shown, widths, cells
    raise AssertionError("unreachable")


def reference_cell(value, shown, width, kind):
    text = render.cut(shown, width) if kind == TEXT else shown
    if isinstance(value, Text):
        return value if text == value.plain else Text(text, style=value.style)
    return Text(text)


def reference_render_table(view, console, options):
    if view.title:
        yield from render._flowed(view.title, options.max_width, "bold")
    step, shown, widths, cells = reference_layout(view, options.max_width)
    table = RichTable(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD,
                      collapse_padding=True, padding=(0, 1) if step.gap == 2 else (0, 0))
    for i in shown:
        col = view.columns[i]
        table.add_column(Text(col.header, overflow="fold", no_wrap=False),
                         justify="right" if col.kind == NUMBER else "left",
                         width=widths[i], no_wrap=True, overflow="ellipsis")
    for r, row in enumerate(view.rows):
        table.add_row(*[reference_cell(row[i], cells[i][r], widths[i], view.columns[i].kind)
                        for i in shown])
    total = sum(widths.values()) + step.gap * (len(shown) - 1)
    yield from console.render(table, options.update(width=max(total, 1)))


class Reference:
    def __init__(self, view):
        self.view = view

    def __rich_console__(self, console, options):
        yield from reference_render_table(self.view, console, options)


# -- printing ----------------------------------------------------------------------------------

class AsciiFile(io.StringIO):
    encoding = "ascii"  # rich then draws its boxes in ASCII


CONSOLES = {
    "plain": lambda width: Console(file=io.StringIO(), width=width),
    "colour": lambda width: Console(file=io.StringIO(), force_terminal=True,
                                    color_system="truecolor", width=width),
    "ascii": lambda width: Console(file=AsciiFile(), width=width),
}


def printed(renderable, console_kind: str, width: int) -> str:
    """What `emit` writes: not cropped, a long line runs on."""
    console = CONSOLES[console_kind](width)
    console.print(renderable, crop=False)
    return console.file.getvalue()


# -- random tables -----------------------------------------------------------------------------

KINDS = (render.IDENT, render.NUMBER, render.STATE, render.TIME, render.PATH, render.TEXT)
STYLES = ("green", "bold red", "yellow on blue", "italic", "", "dim underline")

_headers = st.text(alphabet="abcxyz ()-界", max_size=24)
_chars = string.ascii_letters + string.digits + " .-_/:[]" + "界é\u0301…→\t\r\x07"
_texts = st.text(alphabet=_chars, max_size=40)
_identifiers = st.from_regex(r"[a-z0-9][a-z0-9.-]{20,90}", fullmatch=True)
_times = st.datetimes().map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + "123Z")
_styled = st.one_of(
    st.builds(Text, _texts, style=st.sampled_from(STYLES)),
    st.lists(st.tuples(_texts, st.sampled_from(STYLES)), min_size=1, max_size=3)
    .map(lambda parts: Text(", ").join(Text(s, style=style) for s, style in parts)),
    st.builds(lambda a, b, style: Text.assemble((a, style), b, style="bold"),
              _texts, _texts, st.sampled_from(STYLES)))
_spaces = st.sampled_from(["", " ", "  ", "\xa0", "\u3000"])
_padded = st.tuples(_spaces, _texts, _spaces).map("".join)  # rich strips what it right-aligns
_values = st.one_of(
    st.none(), st.just("-"), st.integers(-10**6, 10**15), st.booleans(),
    st.floats(allow_nan=False, width=32), _texts, _padded, _identifiers, _times, _styled)
_columns = st.builds(Col, _headers, st.sampled_from(KINDS), time_form=st.integers(0, 2),
                     optional=st.integers(0, 2))


@st.composite
def tables(draw):
    columns = draw(st.lists(_columns, min_size=1, max_size=7))
    rows = draw(st.lists(st.tuples(*[_values] * len(columns)), max_size=6))
    return render.Table(draw(st.none() | _texts), columns, rows)


def empty_unpadded_column(view, width) -> bool:
    """A column 0 cells wide (no header word, no value) with no padding after it: the one
    place the rows differ, on purpose (see the test after the next)."""
    step, shown, widths, _ = render._layout(view, width)
    return any(widths[i] == 0 and (n == len(shown) - 1 or step.gap == 1)
               for n, i in enumerate(shown))


@settings(max_examples=400, deadline=None)
@given(view=tables(), width=st.integers(20, 200))
def test_rows_written_directly_print_as_rich_table_printed_them(view, width):
    assume(not empty_unpadded_column(view, width))
    for console_kind in CONSOLES:
        assert printed(view, console_kind, width) == printed(Reference(view), console_kind,
                                                             width), console_kind


def test_a_column_with_neither_header_nor_value_takes_no_room_from_the_others():
    """Rich's table gives such a column (when nothing pads it: the last, or any where columns
    are 1 apart) a cell, then takes it back from another column, cutting a value ('123…'
    below) or printing a space the layout never counted. Written directly, the rows keep the
    column 0 cells wide and every other value whole; the header, still laid out by rich, is
    as it was (here a cell narrower than its rows)."""
    view = render.Table(None, [Col("abc"), Col(""), Col(""), Col("de", NUMBER)],
                        [("x", None, None, 12345)])
    assert empty_unpadded_column(view, 9)
    before = printed(Reference(view), "plain", 9).splitlines()
    now = printed(view, "plain", 9).splitlines()
    assert before == ["abc     de", "─" * 10, "x     123…"]
    assert now == before[:2] + ["x     12345"]


def test_a_cell_is_never_read_as_console_markup(capsys):
    """Brackets and colons in a value are text: '[redacted]' once vanished (read as a style
    tag), ':warning:' turned into an emoji and '[b]x[/b]' into a bold x."""
    values = ("sasl.password", "[redacted]", "disk full :warning: [b]x[/b]")
    render.emit("table", None, lambda _: [
        render.make_table(None, ["key", "value", "note"], [values])])
    assert "sasl.password  [redacted]  disk full :warning: [b]x[/b]" in capsys.readouterr().out

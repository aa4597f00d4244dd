"""How render.py prints a table: values as they are."""

from ingestctl.cli import render


def test_a_cell_is_never_read_as_console_markup(capsys):
    """Brackets and colons in a value are text: '[redacted]' once vanished (read as a style
    tag), ':warning:' turned into an emoji and '[b]x[/b]' into a bold x."""
    values = ("sasl.password", "[redacted]", "disk full :warning: [b]x[/b]")
    render.emit("table", None, lambda _: [
        render.make_table(None, ["key", "value", "note"], [values])])
    assert "sasl.password  [redacted]  disk full :warning: [b]x[/b]" in capsys.readouterr().out

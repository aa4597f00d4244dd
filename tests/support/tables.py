"""Checking tables as an 80-column terminal shows them."""

from rich.cells import cell_len

WIDTH = 80

def time_forms(iso: str) -> tuple[str, ...]:
    """The forms a table may show a time in: whole, `11-30 03:42:17`, `11-30 03:42`."""
    return iso, f"{iso[5:10]} {iso[11:19]}", f"{iso[5:10]} {iso[11:16]}"


def check(lines: list[str], whole=(), times=(), cut=()):
    """No line wider than the terminal; each whole value on one line; each time in one of its
    forms on one line; each cut value shown only in part, with an ellipsis."""
    text = "\n".join(lines)
    assert [line for line in lines if cell_len(line) > WIDTH] == [], text
    for value in whole:
        assert any(str(value) in line for line in lines), f"{value!r} split or missing:\n{text}"
    for iso in times:
        assert any(form in line for line in lines for form in time_forms(iso)), \
            f"{iso} split or missing:\n{text}"
    for value in cut:
        assert value not in text, f"{value!r} should have been cut:\n{text}"
        assert any(value[:6] in line and "…" in line for line in lines), text

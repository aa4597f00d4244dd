"""The README's command reference is generated from --help and must not drift; every
command explains itself."""

from pathlib import Path

import typer

from ingestctl.cli.main import app
from ingestctl.cli.reference import END, START, _walk, generate

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def test_readme_reference_matches_help():
    text = README.read_text()
    block = text[text.index(START): text.index(END) + len(END)] + "\n"
    assert block == generate(), (
        "README's command reference is stale; run "
        "`.venv/bin/python -m ingestctl.cli.reference --write README.md`"
    )


def test_every_command_has_help():
    root = typer.main.get_command(app)
    missing = [" ".join(path) for path, command in _walk(root, ["ingestctl"])
               if not (command.help or "").strip()]
    assert missing == []

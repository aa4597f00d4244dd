"""The command line: Typer apps that parse, call the library and render. Nothing more."""

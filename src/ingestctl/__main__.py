from ingestctl.cli.main import run

run()

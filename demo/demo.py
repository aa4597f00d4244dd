"""The demo: a sink outage on a payments pipeline, told with real ingestctl commands.

Run with `make demo`. It starts a fresh sandbox (Kafka and a schema registry) in demo-state/,
writes three hours of Avro payment events, stops a warehouse sink at an "outage", then walks
through what an on-call engineer does: lag, replay window, checkpoint, replay plan, replay
under a quota, status, a decoded look at the copies, a reset of the sink and a rollback plan.
Every `$ ingestctl ...` line is run as shown; only the setup talks to Kafka directly.
`--state-dir DIR` puts the sandbox and the demo's files elsewhere (the test uses it).
"""

import argparse
import functools
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import events

from ingestctl import sandbox

ROOT = Path(__file__).resolve().parent.parent

TOPIC = "payments.authorized"
REPAIR = "payments.repair"
GROUP = "warehouse-sink"
EVENTS = 3000
QUOTA = "64KiB/s"  # the outage window (about 450 KiB) then takes about 7 s
REPLAY_ID = "outage-repair"
WIDTH = 80

BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def say(text: str) -> None:
    """One line of the story (wrapped to the terminal, which is at most 80 columns here)."""
    import textwrap

    print()
    print("\n".join(textwrap.wrap(text, WIDTH)))
    sys.stdout.flush()


def command_line(args: list[str], head: str = "$ ingestctl") -> str:
    """`$ ingestctl ...`, broken before an option with a backslash where a line would not fit."""
    chunks: list[str] = []  # each option with its value, or one positional argument
    for arg in args:
        word = shlex.quote(arg)
        if chunks and not arg.startswith("-") and chunks[-1].startswith("--") \
                and " " not in chunks[-1]:
            chunks[-1] += " " + word
        else:
            chunks.append(word)
    lines, line = [], head
    for chunk in chunks:
        if len(line) + 1 + len(chunk) > WIDTH - 2 and chunk.startswith("-"):
            lines.append(line + " \\")
            line = "    " + chunk
        else:
            line += " " + chunk
    return "\n".join([*lines, line])


def ingestctl(state: Path, *args: str) -> None:
    """Show the command, then run it in the state dir, where its ingestctl.yaml is found."""
    print(f"{BOLD}{command_line(list(args))}{RESET}")
    sys.stdout.flush()
    result = subprocess.run([sys.executable, "-m", "ingestctl", *args], cwd=state)
    if result.returncode != 0:
        sys.exit(f"demo: `ingestctl {shlex.join(args)}` exited {result.returncode}")


def setup(text: str) -> None:
    """What the demo did behind the scenes, as the producing service and the sink would."""
    import textwrap

    lines = textwrap.wrap(text, WIDTH, initial_indent="  (setup) ", subsequent_indent="    ")
    print(f"{DIM}{chr(10).join(lines)}{RESET}")
    sys.stdout.flush()


def fresh_state(state: Path) -> None:
    """A previous run's sandbox is stopped and its state removed: every run starts empty."""
    if state.exists() and any(state.iterdir()) and not (state / "ingestctl.yaml").exists() \
            and not (state / "sandbox").exists():
        sys.exit(f"demo: {state} holds files of something else; give an empty or new dir.")
    if (state / "sandbox").exists():
        sandbox.stop(state / "sandbox")
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(mode=0o700, parents=True)


def shown(path: Path) -> str:
    """A path as the reader would type it from where they ran the demo: the shorter of the
    relative and the absolute form."""
    return min(os.path.relpath(path), str(path), key=len)


def minute(ms: int) -> int:
    return ms - ms % 60_000


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def hhmm(ms: int) -> str:
    return time.strftime("%H:%M", time.gmtime(ms / 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, default=ROOT / "demo-state")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the Kafka clients' own log lines on stderr")
    args = parser.parse_args()
    state = args.state_dir.resolve()
    events.CLIENT_LOG.propagate = False
    events.CLIENT_LOG.addHandler(logging.StreamHandler() if args.verbose
                                 else logging.NullHandler())
    run = functools.partial(ingestctl, state)
    os.environ["COLUMNS"] = str(min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))
    for name in [n for n in os.environ if n.startswith("INGESTCTL_")]:
        del os.environ[name]  # only the state dir's ingestctl.yaml decides where they go
    began = time.monotonic()
    fresh_state(state)

    say("Paged: the warehouse is missing payments. First, a Kafka to play the "
        "incident on: a local Apache Kafka with a schema registry, started from scratch.")
    run("sandbox", "start", "--data-dir", "sandbox", "--with-registry")
    started = sandbox.status(state / "sandbox")
    bootstrap, registry = started.bootstrap, started.registry_url
    (state / "ingestctl.yaml").write_text(
        "default_profile: demo\nprofiles:\n  demo:\n"
        f"    bootstrap_servers: {bootstrap}\n"
        f"    schema_registry: {{url: {registry}}}\n"
        "    checkpoint_dir: checkpoints\n")
    setup(f"{shown(state / 'ingestctl.yaml')}: profile 'demo' with this broker, its "
          f"registry and a checkpoint dir; every command below runs in {shown(state)}/")

    now = int(time.time() * 1000)
    outage_start, outage_end = minute(now - 100 * 60_000), minute(now - 10 * 60_000)
    events.create_topics(bootstrap, {TOPIC: 6, REPAIR: 6})
    encode, version = events.avro_encoder(registry, TOPIC)
    events.produce_events(bootstrap, TOPIC, EVENTS, hours=3.0, encode=encode,
                          schema_version=version)
    consumed = events.run_sink_until(bootstrap, TOPIC, GROUP, outage_start)
    setup(f"created {TOPIC} and {REPAIR}, 6 partitions each")
    setup(f"the ingestion API wrote {EVENTS:,} Avro payment events over 3 hours: key = "
          "account, headers tenant, idempotency-key, producer, schema-version")
    setup(f"the sink, group {GROUP}, wrote {consumed:,} of them, then crashed at "
          f"{hhmm(outage_start)} UTC; it was fixed at {hhmm(outage_end)} but is not restarted")

    say("How far behind is the sink? Lag in records, and in seconds: the age of the "
        "first record it has not written.")
    run("groups", "describe", GROUP)

    say("Is the outage still on the broker? The replay window is the oldest time from "
        "which every partition still holds its records.")
    run("topics", "describe", TOPIC)

    say("Before changing anything, record where the sink and the topics stand: a "
        "checkpoint to come back to.")
    run("checkpoint", "create", "sink-outage", "--group", GROUP, "--topic", REPAIR,
              "--note", "before the repair")

    window = ["--start", iso(outage_start), "--end", iso(outage_end)]
    say("How many duplicates did the outage cause? API clients that retried write an "
        "event twice; the audit counts the window's events by their idempotency key, "
        "read-only, and checks each value's schema id against the registry.")
    run("topics", "audit", TOPIC, *window, "--idempotency-header", "idempotency-key")

    replay = ["replay", "--from-topic", TOPIC, "--to-topic", REPAIR, *window,
              "--rate", QUOTA, "--validate", "avro", "--id", REPLAY_ID]
    say(f"The plan: copy exactly the outage window, {hhmm(outage_start)} to "
        f"{hhmm(outage_end)}, into {REPAIR} at {QUOTA}, so the serving consumers are "
        "not starved. Every value must decode with its registered schema. Nothing is "
        "written yet.")
    run(*replay)

    say("Now for real: exactly once (Kafka transactions), under the quota. If this "
        "laptop dies halfway, the same command resumes where it stopped.")
    run(*replay, "--execute")

    say("The progress lives in Kafka, so anyone can check it, from any machine.")
    run("replay", "status", REPLAY_ID)

    say("A copy, decoded through the registry: key, value, headers and time as "
        "written, plus where it came from.")
    run("-o", "yaml", "topics", "peek", REPAIR, "--partition", "0", "--offset", "0",
              "--count", "1", "--decode", "avro")

    say(f"The repair loader reads {REPAIR}; the sink restarts at the outage's end, "
        "{hhmm} UTC, so nothing is written twice. Plan first, then execute."
        .replace("{hhmm}", hhmm(outage_end)))
    reset = ["groups", "reset", GROUP, "--topic", TOPIC, "--to-datetime", iso(outage_end)]
    run(*reset)
    run(*reset, "--execute")

    say("Second thoughts? The checkpoint puts the sink back where it stopped. This is "
        "only the plan: nothing changes without --execute.")
    run("rollback", "--to-checkpoint", "sink-outage", "--group", GROUP)

    say(f"That was the demo ({time.monotonic() - began:.0f} s). The sandbox keeps "
        "running; try the commands yourself (the ingestctl.yaml in the demo's directory "
        "points the tool at this sandbox):")
    ingestctl_bin = Path(sys.executable).parent / "ingestctl"
    print(f"  cd {shown(state)}")
    print(f"  {os.path.relpath(ingestctl_bin, state)} groups list")
    print("Stop the sandbox with:")
    print(command_line(["sandbox", "stop", "--data-dir", shown(state / "sandbox")],
                       head=f"  {shown(ingestctl_bin)}"))


if __name__ == "__main__":
    main()

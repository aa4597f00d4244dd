"""Printing a big table: 20,000 rows x 8 columns (the shape of `cutover check` with 1,000
partitions x 20 groups: topics, partitions, offsets, a flag, a time and a note, some of it
cut), as `emit` prints it, into memory, in an 80- and a 200-column terminal, plain and in
colour. No broker.

A benchmark, not a test: prints the median CPU time of a few renders of each. Goal: well
under the 2.8 s that the whole `-o json` process of the same check costs.

    .venv/bin/python bench/render_table.py [--rows 20000] [--runs 3]
"""

import argparse
import io
import statistics
import time

from rich.console import Console

from ingestctl.cli.render import NUMBER, TEXT, TIME, Col, Table

NOTE = "the target's record differs: translated by timestamp, one record earlier"


def table(rows: int) -> Table:
    columns = [Col("topic", TEXT), Col("partition", NUMBER), Col("source committed", NUMBER),
               Col("translated", NUMBER), Col("target committed", NUMBER), Col("same record"),
               Col("next (utc)", TIME, time_form=1), Col("note", TEXT)]
    return Table("group warehouse-sink-payments (Empty on the target)", columns, [
        (f"payments.authorized.eu-west-1.v{n // 2000}", n % 100, 123_456_000 + n,
         123_455_000 + n, None if n % 7 == 0 else 123_455_000 + n, n % 3 != 0,
         "2026-11-30T03:42:17.123Z", NOTE if n % 5 == 0 else "")
        for n in range(rows)])


def cpu_seconds(view: Table, width: int, colour: bool) -> float:
    console = Console(file=io.StringIO(), width=width, highlight=False, soft_wrap=False,
                      force_terminal=colour, color_system="truecolor" if colour else None)
    began = time.process_time()
    console.print(view, crop=False)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    view = table(args.rows)
    for width in (80, 200):
        for colour in (False, True):
            median = statistics.median(cpu_seconds(view, width, colour)
                                       for _ in range(args.runs))
            print(f"{args.rows:,} rows, {width} columns, {'colour' if colour else 'plain '}: "
                  f"{median:.2f} s CPU (median of {args.runs})")


if __name__ == "__main__":
    main()
